// SPDX-License-Identifier: MIT

package checks

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
)

func TestParseExpect(t *testing.T) {
	for _, tc := range []struct {
		kind obs.Kind
		in   string
		want Expect
		err  string
	}{
		{obs.KindHTTP, "", Expect{}, ""},
		{obs.KindHTTP, "status:200,204", Expect{Kind: ExpectStatus, Statuses: []int{200, 204}}, ""},
		{obs.KindHTTP, "status:200, 200 ,301", Expect{Kind: ExpectStatus, Statuses: []int{200, 301}}, ""},
		{obs.KindHTTP, "body_contains:OK", Expect{Kind: ExpectBodyContains, Text: "OK"}, ""},
		{obs.KindHTTP, "body_contains:a:b", Expect{Kind: ExpectBodyContains, Text: "a:b"}, ""},
		{obs.KindTCP, "banner_contains:SSH-", Expect{Kind: ExpectBannerContains, Text: "SSH-"}, ""},
		{obs.KindHTTP, "status:99", Expect{}, "bad status code"},
		{obs.KindHTTP, "status:600", Expect{}, "bad status code"},
		{obs.KindHTTP, "status:", Expect{}, "bad status code"},
		{obs.KindHTTP, "status:2xx", Expect{}, "bad status code"},
		{obs.KindTCP, "status:200", Expect{}, "http checks only"},
		{obs.KindTCP, "body_contains:x", Expect{}, "http checks only"},
		{obs.KindHTTP, "banner_contains:x", Expect{}, "tcp checks only"},
		{obs.KindHTTP, "body_contains:", Expect{}, "empty text"},
		{obs.KindHTTP, "status", Expect{}, "want status:CODES"},
		{obs.KindHTTP, "regex:x", Expect{}, "unknown check"},
	} {
		t.Run(tc.kind.String()+"/"+tc.in, func(t *testing.T) {
			got, err := ParseExpect(tc.kind, tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.in != "" && !strings.Contains(tc.in, " ") && !strings.Contains(tc.in, "200,200") {
				if rt, err := ParseExpect(tc.kind, got.String()); err != nil || !reflect.DeepEqual(rt, got) {
					t.Fatalf("round trip %q = %+v, %v", got.String(), rt, err)
				}
			}
		})
	}
}

func TestParseProbe(t *testing.T) {
	a4 := netip.MustParseAddr("198.18.0.1")
	for _, tc := range []struct {
		name string
		spec obs.CheckSpec
		want Probe // URL compared via String
		url  string
		err  string
	}{
		{name: "tcp", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db.example:5432"},
			want: Probe{Kind: obs.KindTCP, Host: "db.example", Port: 5432, Timeout: 5 * time.Second, Method: "GET"}},
		{name: "tcp literal v6", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://[2001:2::1]:22", Params: map[string]string{"check": "banner_contains:SSH-", "timeout": "2s"}},
			want: Probe{Kind: obs.KindTCP, Host: "2001:2::1", Port: 22, Addr: netip.MustParseAddr("2001:2::1"), Timeout: 2 * time.Second, Method: "GET",
				Expects: []Expect{{Kind: ExpectBannerContains, Text: "SSH-"}}}},
		{name: "tcp resolved", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:22", Addr: a4, Timeout: time.Second, Params: map[string]string{"ip": "4"}},
			want: Probe{Kind: obs.KindTCP, Host: "db", Port: 22, Addr: a4, Timeout: time.Second, Method: "GET", Family: Family4}},
		{name: "http defaults", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://web"},
			want: Probe{Kind: obs.KindHTTP, Host: "web", Port: 80, Timeout: 5 * time.Second, Method: "GET"}, url: "http://web/"},
		{name: "https all options", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "https://web:8443/health?x=1#frag", Params: map[string]string{
			"check": "status:200,204", "timeout": "1.5", "method": "head", "host_header": "api.example", "no_verify_tls": "", "ip": "6"}},
			want: Probe{Kind: obs.KindHTTP, Host: "web", Port: 8443, Timeout: 1500 * time.Millisecond, Method: "HEAD", HostHeader: "api.example", NoVerify: true, Family: Family6,
				Expects: []Expect{{Kind: ExpectStatus, Statuses: []int{200, 204}}}}, url: "https://web:8443/health?x=1"},
		{name: "repeated check", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://web/", Params: map[string]string{"check": "status:503\nbody_contains:maint", "interval": "5s"}},
			want: Probe{Kind: obs.KindHTTP, Host: "web", Port: 80, Timeout: 5 * time.Second, Method: "GET",
				Expects: []Expect{{Kind: ExpectStatus, Statuses: []int{503}}, {Kind: ExpectBodyContains, Text: "maint"}}}},
		{name: "name in other family", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:22", Addr: a4, Params: map[string]string{"ip": "6"}},
			want: Probe{Kind: obs.KindTCP, Host: "db", Port: 22, Timeout: 5 * time.Second, Method: "GET", Family: Family6}},
		{name: "https default port", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "https://web/x", Params: map[string]string{"no_verify_tls": "false"}},
			want: Probe{Kind: obs.KindHTTP, Host: "web", Port: 443, Timeout: 5 * time.Second, Method: "GET"}, url: "https://web/x"},
		{name: "icmp", spec: obs.CheckSpec{Kind: obs.KindICMP, Target: "198.18.0.1"}, err: "not served"},
		{name: "tcp no port", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db"}, err: "tcp needs a port"},
		{name: "tcp port 0", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:0"}, err: "bad port"},
		{name: "tcp port big", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:65536"}, err: "bad port"},
		{name: "tcp path", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:22/x"}, err: "want tcp://HOST:PORT"},
		{name: "http as tcp", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "http://db:22"}, err: "want tcp://"},
		{name: "ftp", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "ftp://db/"}, err: "want tcp://"},
		{name: "no host", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http:///x"}, err: "no host"},
		{name: "userinfo", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://u:p@web/"}, err: "credentials"},
		{name: "method on tcp", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:22", Params: map[string]string{"method": "GET"}}, err: `option "method" does not apply to tcp`},
		{name: "unknown key", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://w/", Params: map[string]string{"follow": "1"}}, err: "does not apply"},
		{name: "bad timeout", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://w/", Params: map[string]string{"timeout": "-1s"}}, err: "timeout"},
		{name: "huge timeout", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://w/", Params: map[string]string{"timeout": "1h"}}, err: "timeout"},
		{name: "bad method", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "http://w/", Params: map[string]string{"method": "BREW"}}, err: "method"},
		{name: "bad bool", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "https://w/", Params: map[string]string{"no_verify_tls": "maybe"}}, err: "no_verify_tls"},
		{name: "bad host header", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "https://w/", Params: map[string]string{"host_header": "a b"}}, err: "host_header"},
		{name: "bad ip", spec: obs.CheckSpec{Kind: obs.KindHTTP, Target: "https://w/", Params: map[string]string{"ip": "5"}}, err: "want 4, 6 or any"},
		{name: "ip mismatch", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://198.18.0.1:22", Params: map[string]string{"ip": "6"}}, err: "does not match"},
		{name: "addr mismatch", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://198.18.0.2:22", Addr: a4}, err: "differs"},
		{name: "bad check", spec: obs.CheckSpec{Kind: obs.KindTCP, Target: "tcp://db:22", Params: map[string]string{"check": "status:200"}}, err: "http checks only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProbe(tc.spec, 5*time.Second)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := *p
			if tc.url != "" {
				if got.URL == nil || got.URL.String() != tc.url {
					t.Fatalf("URL = %v, want %s", got.URL, tc.url)
				}
			}
			got.URL = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestOptionKeysAndName(t *testing.T) {
	if k := OptionKeys(obs.KindTCP); !reflect.DeepEqual(k, []string{"check", "timeout", "interval", "ip"}) {
		t.Errorf("tcp keys %v", k)
	}
	if k := OptionKeys(obs.KindHTTP); len(k) != 7 {
		t.Errorf("http keys %v", k)
	}
	if OptionKeys(obs.KindICMP) != nil {
		t.Error("icmp has keys")
	}
	for target, want := range map[string]string{"tcp://h:22": "tcp:22", "http://h": "http:/", "https://h:8443/a?b=c": "http:/a?b=c"} {
		k := obs.KindHTTP
		if strings.HasPrefix(target, "tcp") {
			k = obs.KindTCP
		}
		p, err := ParseProbe(obs.CheckSpec{Kind: k, Target: target}, time.Second)
		if err != nil || p.Name() != want {
			t.Errorf("%s: name %v %v, want %s", target, p, err, want)
		}
	}
}

func TestPhaseSpread(t *testing.T) {
	iv := 30 * time.Second
	seen := map[time.Duration]bool{}
	for i := range 100 {
		p := phase("host"+string(rune('a'+i%26))+string(rune('0'+i/26)), iv)
		if p < 0 || p >= iv {
			t.Fatalf("phase %v outside [0,%v)", p, iv)
		}
		seen[p/(time.Second)] = true
	}
	if len(seen) < 15 { // 100 keys over 30 one-second slots
		t.Fatalf("phases bunch up: %d distinct seconds", len(seen))
	}
}
