// SPDX-License-Identifier: MIT

package bench

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ToolResult is what one run of a sweep tool reported: the targets that
// answered and, where the tool prints it, each one's RTT in nanoseconds.
type ToolResult struct {
	Answered int
	RTT      map[netip.Addr]int64
}

// ParseFping reads `fping -c1` per-probe output lines such as
//
//	198.18.0.1   : [0], 64 bytes, 0.031 ms (0.031 avg, 0% loss)
//
// fping prints RTTs in milliseconds with three decimals below 100 ms, so
// the resolution is 1 µs.
func ParseFping(r io.Reader) ToolResult {
	res := ToolResult{RTT: make(map[netip.Addr]int64)}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		host, rest, ok := strings.Cut(line, " : [")
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(strings.TrimSpace(host))
		if err != nil {
			continue
		}
		f := strings.Fields(rest)
		// rest: "0], 64 bytes, 0.031 ms (0.031 avg, 0% loss)"
		for i := 1; i < len(f); i++ {
			if f[i] == "ms" {
				if ns, ok := msToNs(f[i-1]); ok {
					if _, seen := res.RTT[a]; !seen {
						res.Answered++
					}
					res.RTT[a] = ns
				}
				break
			}
		}
	}
	return res
}

// ParseOping reads oping's per-reply lines such as
//
//	56 bytes from 198.18.0.1 (198.18.0.1): icmp_seq=1 ttl=64 time=0.04 ms
//
// oping prints two decimals of a millisecond: a 10 µs resolution.
func ParseOping(r io.Reader) ToolResult {
	res := ToolResult{RTT: make(map[netip.Addr]int64)}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "bytes" || f[2] != "from" {
			continue
		}
		a, err := netip.ParseAddr(f[3])
		if err != nil {
			continue
		}
		for _, w := range f[4:] {
			if v, ok := strings.CutPrefix(w, "time="); ok {
				if ns, ok := msToNs(v); ok {
					if _, seen := res.RTT[a]; !seen {
						res.Answered++
					}
					res.RTT[a] = ns
				}
			}
		}
	}
	return res
}

func msToNs(s string) (int64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) {
		return 0, false
	}
	return int64(math.Round(v * 1e6)), true
}

// ParseFpingSummary counts the targets `fping -q` reports as answered in
// its per-target summary lines ("198.18.0.1 : xmt/rcv/%loss = 1/1/0%…").
func ParseFpingSummary(r io.Reader) int {
	n := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), "xmt/rcv/%loss = ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, "/", 3)
		if len(f) == 3 {
			if rcv, err := strconv.Atoi(f[1]); err == nil && rcv > 0 {
				n++
			}
		}
	}
	return n
}

// ParseHBJSON reads `hb-probe --once --json` output, one JSON object per
// target (docs/prober.md), such as
//
//	{"target":"198.18.0.1","addr":"198.18.0.1","state":"up","sent":1,"received":1,"rtt_avg_ms":0.001251,…}
//
// It looks for the address under "addr", "address", "ip" or "target", and
// for the RTT under "rtt_avg_ms", "rtt_ns", "rtt_us", "rtt_ms" (numbers)
// or "rtt" (a Go duration string, or nanoseconds); a target answered when
// it has a positive RTT, "received" > 0, "state" is "up", or
// "ok"/"up"/"answered" is true.
func ParseHBJSON(r io.Reader) ToolResult {
	res := ToolResult{RTT: make(map[netip.Addr]int64)}
	dec := json.NewDecoder(r)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return res
			}
			// Skip a bad line: resynchronise on the next object.
			if _, ok := err.(*json.SyntaxError); ok {
				return res
			}
			continue
		}
		var a netip.Addr
		for _, k := range []string{"addr", "address", "ip", "target"} {
			if s, ok := m[k].(string); ok {
				if p, err := netip.ParseAddr(s); err == nil {
					a = p
					break
				}
			}
		}
		if !a.IsValid() {
			continue
		}
		rtt := int64(-1)
		for k, scale := range map[string]float64{"rtt_ns": 1, "rtt_us": 1e3, "rtt_ms": 1e6, "rtt_avg_ms": 1e6} {
			if v, ok := m[k].(float64); ok && v > 0 {
				rtt = int64(math.Round(v * scale))
			}
		}
		switch v := m["rtt"].(type) {
		case string:
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				rtt = int64(d)
			}
		case float64:
			if v > 0 {
				rtt = int64(v)
			}
		}
		ok := rtt > 0
		if v, isNum := m["received"].(float64); isNum && v > 0 {
			ok = true
		}
		if st, isStr := m["state"].(string); isStr && st == "up" {
			ok = true
		}
		for _, k := range []string{"ok", "up", "answered"} {
			if b, isBool := m[k].(bool); isBool && b {
				ok = true
			}
		}
		if !ok {
			continue
		}
		if _, seen := res.RTT[a]; !seen {
			res.Answered++
		}
		if rtt > 0 {
			res.RTT[a] = rtt
		}
	}
}

// ParseWrk returns the "Requests/sec:" figure of wrk's report.
func ParseWrk(r io.Reader) (float64, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Requests/sec:"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// ParseAddrLines counts the distinct addresses that answered in a
// scanner's output: zmap's default output (one address per line) and
// masscan's list output ("open icmp 0 ADDR TIME") both qualify; other
// lines are skipped. Scanners report no RTT.
func ParseAddrLines(r io.Reader) ToolResult {
	seen := map[netip.Addr]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 5 && f[0] == "open" {
			f = f[3:4]
		}
		if len(f) != 1 {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil {
			seen[a] = true
		}
	}
	return ToolResult{Answered: len(seen)}
}

// HealthMetrics is the daemon's health-blob decode counters from its
// /metrics exposition.
type HealthMetrics struct {
	OK, Bad uint64 // hb_health_blobs_total{result="ok"}, {result="bad"}
	Errors  uint64 // hb_health_blob_errors_total, summed over kinds
	Found   bool   // the exposition had hb_health_blobs_total
}

// ParseHealthMetrics reads the health-blob counters out of a Prometheus
// text exposition.
func ParseHealthMetrics(r io.Reader) HealthMetrics {
	var h HealthMetrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "hb_health_blob") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		switch {
		case name == `hb_health_blobs_total{result="ok"}`:
			h.OK, h.Found = uint64(v), true
		case name == `hb_health_blobs_total{result="bad"}`:
			h.Bad, h.Found = uint64(v), true
		case strings.HasPrefix(name, "hb_health_blob_errors_total"):
			h.Errors += uint64(v)
		}
	}
	return h
}
