// SPDX-License-Identifier: MIT

package bench

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseFping(t *testing.T) {
	out := `198.18.0.1   : [0], 64 bytes, 0.031 ms (0.031 avg, 0% loss)
198.18.0.2   : [0], 64 bytes, 12.5 ms (12.5 avg, 0% loss)
198.18.0.3   : xmt/rcv/%loss = 1/0/100%
ICMP Host Unreachable from 198.19.255.254 for ICMP Echo sent to 198.18.0.9
garbage : [x
`
	r := ParseFping(strings.NewReader(out))
	if r.Answered != 2 {
		t.Fatalf("answered %d, want 2", r.Answered)
	}
	for a, want := range map[string]int64{"198.18.0.1": 31_000, "198.18.0.2": 12_500_000} {
		if got := r.RTT[netip.MustParseAddr(a)]; got != want {
			t.Errorf("%s: %d ns, want %d", a, got, want)
		}
	}
}

func TestParseOping(t *testing.T) {
	out := `PING 198.18.0.1 (198.18.0.1) 56 bytes of data.
56 bytes from 198.18.0.1 (198.18.0.1): icmp_seq=1 ttl=64 time=0.04 ms
56 bytes from 198.18.0.2 (198.18.0.2): icmp_seq=1 ttl=64 time=1.25 ms

--- 198.18.0.1 ping statistics ---
1 packets transmitted, 1 received, 0.00% packet loss, time 0.0ms
`
	r := ParseOping(strings.NewReader(out))
	if r.Answered != 2 || r.RTT[netip.MustParseAddr("198.18.0.2")] != 1_250_000 || r.RTT[netip.MustParseAddr("198.18.0.1")] != 40_000 {
		t.Fatalf("ParseOping = %+v", r)
	}
}

func TestParseFpingSummary(t *testing.T) {
	out := "198.18.0.1   : xmt/rcv/%loss = 1/1/0%, min/avg/max = 0.019/0.019/0.019\n198.18.0.2   : xmt/rcv/%loss = 1/0/100%\nnoise\n"
	if n := ParseFpingSummary(strings.NewReader(out)); n != 1 {
		t.Fatalf("answered %d, want 1", n)
	}
}

func TestParseHBJSON(t *testing.T) {
	out := `{"addr":"198.18.0.1","rtt_ns":12345,"ok":true}
{"addr":"198.18.0.2","rtt":"15.5µs"}
{"address":"198.18.0.3","ok":false}
{"target":"198.18.0.4","up":true}
{"name":"x"}
{"target":"198.18.0.5","addr":"198.18.0.5","state":"up","sent":1,"received":1,"loss":0,"rtt_min_ms":0.001251,"rtt_avg_ms":0.001251,"rtt_max_ms":0.001251,"rtt_method":"kernel-tx-rx"}
{"target":"198.18.0.6","addr":"198.18.0.6","state":"down","sent":1,"received":0,"loss":1}
`
	r := ParseHBJSON(strings.NewReader(out))
	if r.Answered != 4 || r.RTT[netip.MustParseAddr("198.18.0.1")] != 12345 || r.RTT[netip.MustParseAddr("198.18.0.2")] != 15500 ||
		r.RTT[netip.MustParseAddr("198.18.0.5")] != 1251 || len(r.RTT) != 3 {
		t.Fatalf("ParseHBJSON = %+v", r)
	}
}

func TestParseWrk(t *testing.T) {
	out := "Running 5s test @ http://127.0.0.1:8787/x\n  2 threads and 16 connections\nRequests/sec:  51234.56\nTransfer/sec:      9.01MB\n"
	if v, ok := ParseWrk(strings.NewReader(out)); !ok || v != 51234.56 {
		t.Fatalf("ParseWrk = %v, %v", v, ok)
	}
	if _, ok := ParseWrk(strings.NewReader("unable to connect\n")); ok {
		t.Fatal("ParseWrk accepted a failed run")
	}
}

func TestParseAddrLines(t *testing.T) {
	zmap := "saddr\n198.18.0.1\n198.18.0.2\n198.18.0.1\n"
	masscan := "#masscan\nopen icmp 0 198.18.0.3 1796177023\nopen icmp 0 198.18.0.4 1796177023\n# end\n"
	if n := ParseAddrLines(strings.NewReader(zmap)).Answered; n != 2 {
		t.Fatalf("zmap: %d", n)
	}
	if n := ParseAddrLines(strings.NewReader(masscan)).Answered; n != 2 {
		t.Fatalf("masscan: %d", n)
	}
}

func TestParseHealthMetrics(t *testing.T) {
	in := `# HELP hb_health_blobs_total Health blobs received, by decode result.
# TYPE hb_health_blobs_total counter
hb_health_blobs_total{result="ok"} 123456
hb_health_blobs_total{result="bad"} 2
hb_health_blob_errors_total{kind="crc"} 1
hb_health_blob_errors_total{kind="short"} 3
hb_probe_sent_total 99
`
	got := ParseHealthMetrics(strings.NewReader(in))
	want := HealthMetrics{OK: 123456, Bad: 2, Errors: 4, Found: true}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if h := ParseHealthMetrics(strings.NewReader("hb_probe_sent_total 1\n")); h.Found {
		t.Fatalf("found health counters in %+v", h)
	}
}
