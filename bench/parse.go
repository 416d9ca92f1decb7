package bench

import (
	"bufio"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
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
