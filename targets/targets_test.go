// SPDX-License-Identifier: MIT

package targets

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/hbmon/hb/obs"
)

func parse(t *testing.T, in string) []Line {
	t.Helper()
	ls, err := Parse(strings.NewReader(in), "f", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func lookup(_ context.Context, h string) ([]netip.Addr, error) {
	switch h {
	case "db.test":
		return []netip.Addr{netip.MustParseAddr("2001:2::9"), netip.MustParseAddr("198.18.0.77")}, nil
	case "web.test":
		return []netip.Addr{netip.MustParseAddr("198.18.0.80")}, nil
	}
	return nil, errors.New("nxdomain")
}

func resolve(t *testing.T, in string) ([]Host, []string) {
	t.Helper()
	hs, warns, err := Resolve(context.Background(), parse(t, in), lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	return hs, warns
}

func TestParseLines(t *testing.T) {
	ls := parse(t, `# fleet
198.18.0.1 name=db1 role=db   # primary
2001:2::1
web.example.net name=web dc=par
198.18.1.0/30 role=edge
::ffff:198.18.0.9
tcp://db.test:5432 name=db1 check=banner:SSH check=send:x timeout=2s
https://web.test/health?x=1 name=web no_verify_tls method=HEAD
heartbeat://backup-job grace=30s parent=db1
`)
	if len(ls) != 8 {
		t.Fatalf("got %d lines, want 8", len(ls))
	}
	if l := ls[0]; l.Addr != netip.MustParseAddr("198.18.0.1") || l.Name != "db1" || l.Labels["role"] != "db" || l.Pos != "f:2" || l.Kind != obs.KindICMP || l.Check != "icmp" {
		t.Errorf("line 0 = %+v", l)
	}
	if l := ls[2]; l.Hostname != "web.example.net" || l.Name != "web" || l.Labels["dc"] != "par" {
		t.Errorf("line 2 = %+v", l)
	}
	if l := ls[3]; l.Prefix != netip.MustParsePrefix("198.18.1.0/30") {
		t.Errorf("line 3 = %+v", l)
	}
	if l := ls[4]; !l.Addr.Is4() {
		t.Errorf("mapped address not unmapped: %v", l.Addr)
	}
	if l := ls[5]; l.Kind != obs.KindTCP || l.Check != "tcp:5432" || l.Hostname != "db.test" || l.Timeout.Seconds() != 2 ||
		strings.Join(obs.ParamList(l.Params, "check"), "|") != "banner:SSH|send:x" || l.Labels != nil {
		t.Errorf("tcp line = %+v", l)
	}
	if l := ls[6]; l.Kind != obs.KindHTTP || l.Check != "http:/health" || l.Target != "https://web.test/health?x=1" || l.Params["no_verify_tls"] != "true" || l.Params["method"] != "HEAD" {
		t.Errorf("http line = %+v", l)
	}
	if l := ls[7]; l.Kind != obs.KindHeartbeat || l.Push != "backup-job" || l.Params["grace"] != "30s" || l.Parent != "db1" {
		t.Errorf("heartbeat line = %+v", l)
	}
	udp, err := Parse(strings.NewReader("198.18.0.1\n"), "f", Options{AddrKind: obs.KindUDP})
	if err != nil || udp[0].Kind != obs.KindUDP || udp[0].Check != "udp" {
		t.Errorf("udp: %+v %v", udp, err)
	}
}

func TestParseLineErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"name=x", "must start with an address"},
		{"198.18.0.1/33", "bad CIDR"},
		{"198.18.0.1/24", "host bits set"},
		{"198.18.0.300", "bad address"},
		{"2001:2::zz", "bad address"},
		{"-bad-.example", "bad hostname"},
		{"exa mple$", "expected key=value"},
		{"host_$", "bad hostname"},
		{"198.18.0.1 label", "expected key=value"},
		{"198.18.0.1 =v", "empty label key"},
		{"198.18.0.1 k=", "empty value"},
		{"198.18.0.1 k!=v", "label key"},
		{"198.18.0.1 name=a name=b", "name given twice"},
		{"198.18.0.1 k=a k=b", "given twice"},
		{"198.18.0.0/24 name=x", "name= on CIDR"},
		{"198.18.0.1 check=x", "check= does not apply to icmp checks"},
		{"198.18.0.1 legacy=hbm1", "legacy=hbm1: the one legacy protocol of icmp checks is hbm2"},
		{"198.18.0.1 no_verify_tls", "expected key=value"},
		{"tcp://db:0", "bad port"},
		{"tcp://db", "want tcp://HOST:PORT"},
		{"ftp://x", "unknown scheme"},
		{"https://", "want https://HOST"},
		{"tcp://db:22 timeout=soon", "positive duration"},
		{"tcp://db:22 method=GET", "does not apply to tcp"},
		{"heartbeat://", "want heartbeat://NAME"},
		{"198.18.0.1 name=a\x01b", "control character"},
		{"198.18.0.1 name=a parent=a", "its own parent"},
	} {
		_, err := Parse(strings.NewReader("198.18.0.7\n"+tc.line+"\n"), "f.txt", Options{})
		var le *LineError
		if !errors.As(err, &le) || le.Line != 2 || le.File != "f.txt" || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.txt:2: ") {
			t.Errorf("%q: err = %v, want f.txt:2: …%s…", tc.line, err, tc.want)
		}
	}
}

func TestParseCap(t *testing.T) {
	for _, tc := range []struct {
		in  string
		max int
		ok  bool
	}{
		{"198.18.0.0/16\n", 0, true},                 // 65,534 hosts
		{"198.18.0.0/16\n198.18.0.0/24\n", 0, false}, // past 65,536
		{"198.18.0.0/15\n", 0, false},
		{"2001:2::/64\n", 0, false},
		{"2001:2::/112\n", 0, true},
		{"198.18.0.0/24\n", 100, false},
		{"198.18.0.1\n198.18.0.2\n198.18.0.3\n", 2, false},
	} {
		_, err := Parse(strings.NewReader(tc.in), "f", Options{Max: tc.max})
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "past the cap")) {
			t.Errorf("%q max %d: err = %v, want ok=%v", tc.in, tc.max, err, tc.ok)
		}
	}
}

func TestResolve(t *testing.T) {
	hs, warns := resolve(t, `198.18.0.1 name=a
198.18.0.0/30 role=edge
db.test
198.18.0.1 extra=1
2001:2::/127
`)
	var got []string
	for _, h := range hs {
		got = append(got, h.Addr.String()+"="+h.Name)
	}
	want := "198.18.0.1=a 198.18.0.2=198.18.0.2 198.18.0.77=db.test 2001:2::=2001:2:: 2001:2::1=2001:2::1"
	if strings.Join(got, " ") != want {
		t.Errorf("hosts = %v\nwant    %v", got, want)
	}
	// 198.18.0.1 came three times: from the /30 and from line 4.
	if len(warns) != 2 || !strings.Contains(warns[0], "f:2") || !strings.Contains(warns[1], "f:4: 198.18.0.1 duplicates f:1") {
		t.Errorf("warnings = %q", warns)
	}
	if hs[0].Labels["extra"] != "1" || hs[0].Labels["role"] != "edge" || len(hs[0].Checks) != 1 {
		t.Errorf("labels not merged: %+v", hs[0])
	}
	if hs[2].Hostname != "db.test" || HostAddrs(hs)["db.test"] != hs[2].Addr {
		t.Errorf("hostname not recorded: %+v", hs[2])
	}
	c := hs[1].Checks[0]
	if c.Host != "198.18.0.2" || c.Name != "icmp" || c.Kind != obs.KindICMP || c.Addr != hs[1].Addr || c.Target != "198.18.0.2" {
		t.Errorf("check %+v", c)
	}

	// A failed lookup is an error naming the line, unless a previous
	// address is known.
	bad := parse(t, "198.18.0.1\ngone.test\n")
	if _, _, err := Resolve(context.Background(), bad, lookup, nil); err == nil || !strings.Contains(err.Error(), "f:2: resolving gone.test") {
		t.Errorf("err = %v", err)
	}
	prev := map[string]netip.Addr{"gone.test": netip.MustParseAddr("198.18.0.5")}
	hs, warns, err := Resolve(context.Background(), bad, lookup, prev)
	if err != nil || len(hs) != 2 || hs[1].Addr != prev["gone.test"] || len(warns) != 1 {
		t.Errorf("with prev: %v %v %v", hs, warns, err)
	}
	if _, _, err := Resolve(context.Background(), bad, nil, nil); err == nil {
		t.Error("no resolver: no error")
	}
}

// TestResolveChecks: lines with the same name= make one host with several
// checks; push lines have no address.
func TestResolveChecks(t *testing.T) {
	hs, _ := resolve(t, `db.test name=db role=db
tcp://db.test:5432 name=db
https://web.test:8443/health name=db
heartbeat://db
pulse://nightly-backup parent=db team=ops
`)
	if len(hs) != 2 {
		t.Fatalf("%d hosts: %+v", len(hs), hs)
	}
	db := hs[0]
	var names []string
	for _, c := range db.Checks {
		names = append(names, c.Name+"/"+c.Kind.String()+"/"+c.Addr.String())
	}
	if strings.Join(names, " ") != "icmp/icmp/198.18.0.77 tcp:5432/tcp/198.18.0.77 http:/health/http/198.18.0.80 heartbeat/heartbeat/invalid IP" {
		t.Errorf("checks: %v", names)
	}
	if db.Addr != netip.MustParseAddr("198.18.0.77") || db.Labels["role"] != "db" || db.Checks[2].Target != "https://web.test:8443/health" {
		t.Errorf("db: %+v", db)
	}
	if p := hs[1]; p.Name != "nightly-backup" || p.Parent != "db" || p.Addr.IsValid() || p.Checks[0].Kind != obs.KindPulse || p.Labels["team"] != "ops" {
		t.Errorf("pulse: %+v", p)
	}
	// A host named by a URL line without name= takes the URL's host.
	hs, _ = resolve(t, "tcp://198.18.0.3:22\n")
	if hs[0].Name != "198.18.0.3" || hs[0].Checks[0].Name != "tcp:22" {
		t.Errorf("unnamed tcp: %+v", hs[0])
	}
}

// TestDuplicateName is the bug: a name= given to two lines of the
// same kind was reported without FILE:LINE (by the state table). Both
// lines are named now.
func TestDuplicateName(t *testing.T) {
	ls := parse(t, "198.18.0.1 name=web\n\n198.18.0.2 name=web\n")
	_, _, err := Resolve(context.Background(), ls, lookup, nil)
	var le *LineError
	if !errors.As(err, &le) || le.File != "f" || le.Line != 3 || !strings.Contains(err.Error(), "declared at f:1") {
		t.Fatalf("err = %v", err)
	}
	ls = parse(t, "198.18.0.1 name=web role=a\ntcp://198.18.0.1:80 name=web role=b\n")
	if _, _, err := Resolve(context.Background(), ls, lookup, nil); err == nil || !strings.HasPrefix(err.Error(), "f:2: ") || !strings.Contains(err.Error(), "f:1") {
		t.Errorf("label clash: %v", err)
	}
}

// TestSlashName: name=a/b is accepted (the API serves it percent-encoded).
func TestSlashName(t *testing.T) {
	hs, _ := resolve(t, "198.18.0.1 name=rack1/web\n")
	if hs[0].Name != "rack1/web" {
		t.Errorf("name %q", hs[0].Name)
	}
}

// TestParseSharesMaps: lines with the same labels (or options) share one
// map, lines without have none, and merging labels into one host never
// changes another host's (shared) map.
func TestParseSharesMaps(t *testing.T) {
	text := "198.18.0.1 site=dc1\n198.18.0.2 site=dc1\nheartbeat://h1 grace=20s\nheartbeat://h2 grace=20s\n198.18.0.3\n" +
		"198.18.0.4 name=x site=dc1\ntcp://198.18.0.4:22 name=x rack=r1\n"
	ls, err := Parse(strings.NewReader(text), "t", Options{})
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	if !same(ls[0].Labels, ls[1].Labels) || !same(ls[0].Labels, ls[5].Labels) || !same(ls[2].Params, ls[3].Params) {
		t.Error("equal label or option sets are not shared")
	}
	if ls[4].Labels != nil || ls[4].Params != nil || ls[0].Params != nil {
		t.Error("a line without labels or options has a map")
	}
	hosts, _, err := Resolve(context.Background(), ls, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Host{}
	for _, h := range hosts {
		byName[h.Name] = h
	}
	if x := byName["x"].Labels; len(x) != 2 || x["site"] != "dc1" || x["rack"] != "r1" {
		t.Errorf("x labels %v", x)
	}
	if l := byName["198.18.0.1"].Labels; len(l) != 1 || l["site"] != "dc1" || len(ls[0].Labels) != 1 {
		t.Errorf("merging into x changed a shared map: %v", l)
	}
	if !same(byName["198.18.0.1"].Labels, byName["198.18.0.2"].Labels) {
		t.Error("hosts with equal labels do not share them")
	}
}

// A duplicate of a host's second or later check names that check's line
// (the first check's line is the host's Pos).
func TestDuplicateLaterCheck(t *testing.T) {
	ls := parse(t, "198.18.0.1 name=web\ntcp://198.18.0.1:22 name=web\n# c\ntcp://198.18.0.1:80 name=web\ntcp://198.18.0.2:80 name=web\n")
	_, _, err := Resolve(context.Background(), ls, lookup, nil)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 5 || !strings.Contains(err.Error(), "declared at f:4") {
		t.Fatalf("err = %v", err)
	}
}

// ParseFunc with a Resolver (the daemon's start-up: no list of lines)
// gives what Parse then Resolve give; an error from fn ends the parse.
func TestParseFuncResolver(t *testing.T) {
	text := "198.18.0.1 site=a\n198.18.0.0/30 site=b\ntcp://198.18.0.1:22\nheartbeat://h1 interval=10s\n198.18.0.1\n"
	want, wantWarns := resolve(t, text)
	r := NewResolver(lookup, nil, 0)
	n := 0
	err := ParseFunc(strings.NewReader(text), "f", Options{}, func(l *Line) error {
		n += l.Size()
		return r.Add(context.Background(), l)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, warns := r.Hosts()
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(warns, wantWarns) || n != 6 {
		t.Errorf("streamed:\n%+v %q (size %d)\nwant:\n%+v %q", got, warns, n, want, wantWarns)
	}
	stop := errors.New("stop")
	lines := 0
	err = ParseFunc(strings.NewReader(text), "f", Options{}, func(l *Line) error { lines++; return stop })
	if err != stop || lines != 1 {
		t.Errorf("fn's error: %v after %d lines", err, lines)
	}
}
