// SPDX-License-Identifier: MIT

package oneshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/prober"
	"github.com/hbmon/hb/wire"
)

// fping's exit codes (fping(8)).
const (
	FPingAllAlive    = 0
	FPingUnreachable = 1
	FPingNoAddress   = 2
	FPingBadOption   = 3
	FPingError       = 4
)

// FPingOptions are fping's flags that hb understands. Times are fping's:
// milliseconds.
type FPingOptions struct {
	Alive, Unreach, Quiet, Stats, Elapsed, Generate bool
	Count                                           int  // -c N (0: not count mode)
	Verbose                                         bool // -C N: Count is N, per-probe values in the summary
	Timeout, Interval, Period                       float64
	Retry                                           int
	File                                            string
	IPv4, IPv6                                      bool
	Targets                                         []string
	Help, Version                                   bool
}

// fpingUsage is hb-fping's --help.
const fpingUsage = `Usage: hb-probe fping [options] [targets...]   (or: hb-fping [options] [targets...])

fping's command line on hb's batched prober (no 65,535-target limit; kernel
timestamps). Targets: addresses or hostnames, or with -g a CIDR prefix or a
start and end address.

Probing options:
   -4, --ipv4         only ping IPv4 addresses
   -6, --ipv6         only ping IPv6 addresses
   -c, --count=N      count mode: send N pings to each target
   -f, --file=FILE    read list of targets from a file ( - means stdin)
   -g, --generate     generate target list (give start and end IP, or a CIDR address)
   -i, --interval=MSEC  interval between sending ping packets (default: 10 ms; 0: no pacing)
   -p, --period=MSEC  interval between ping packets to one target (count modes, default: 1000 ms)
   -r, --retry=N      number of retries (default: 3)
   -t, --timeout=MSEC individual target initial timeout (default: 500 ms,
                      except with -c/-C, where it's the -p period up to 2000 ms)

Output options:
   -a, --alive        show targets that are alive
   -C, --vcount=N     same as -c, report results in verbose format
   -e, --elapsed      show elapsed time on return packets
   -q, --quiet        quiet (don't show per-target/per-ping results)
   -s, --stats        print final stats
   -u, --unreach      show targets that are unreachable
   -h, --help         show this help
   -v, --version      show version

Exit status: 0 all alive, 1 some unreachable, 2 an address or name not
found, 3 bad option, 4 other error.
`

// ParseFPing parses fping's command line (getopt style: -c2, -c 2, -qs,
// --count=2, --count 2).
func ParseFPing(args []string) (*FPingOptions, error) {
	o := &FPingOptions{Timeout: -1, Interval: 10, Period: 1000, Retry: 3}
	withArg := map[byte]string{'c': "count", 'C': "vcount", 't': "timeout", 'i': "interval", 'p': "period", 'r': "retry", 'f': "file"}
	long := map[string]byte{"alive": 'a', "unreach": 'u', "quiet": 'q', "stats": 's', "elapsed": 'e', "generate": 'g',
		"ipv4": '4', "ipv6": '6', "help": 'h', "version": 'v', "addr": 'A',
		"count": 'c', "vcount": 'C', "timeout": 't', "interval": 'i', "period": 'p', "retry": 'r', "file": 'f'}
	set := func(c byte, v string) error {
		num := func() (float64, error) {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				return 0, fmt.Errorf("-%c: bad value %q", c, v)
			}
			return f, nil
		}
		count := func() (int, error) {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("-%c: bad count %q", c, v)
			}
			return n, nil
		}
		var err error
		switch c {
		case 'a':
			o.Alive = true
		case 'u':
			o.Unreach = true
		case 'q':
			o.Quiet = true
		case 's':
			o.Stats = true
		case 'e':
			o.Elapsed = true
		case 'g':
			o.Generate = true
		case '4':
			o.IPv4 = true
		case '6':
			o.IPv6 = true
		case 'h':
			o.Help = true
		case 'v':
			o.Version = true
		case 'A': // targets are always shown by address or given name
		case 'c':
			o.Count, err = count()
		case 'C':
			o.Count, err = count()
			o.Verbose = true
		case 't':
			o.Timeout, err = num()
		case 'i':
			o.Interval, err = num()
		case 'p':
			o.Period, err = num()
		case 'r':
			var f float64
			f, err = num()
			o.Retry = int(f)
		case 'f':
			o.File = v
		default:
			return fmt.Errorf("invalid option -- '%c'", c)
		}
		return err
	}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			c, ok := long[name]
			if !ok {
				return nil, fmt.Errorf("invalid option -- '%s'", name)
			}
			if _, needs := withArg[c]; needs && !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("option '--%s' requires an argument", name)
				}
				i++
				val = args[i]
			}
			if err := set(c, val); err != nil {
				return nil, err
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			if _, needs := withArg[c]; needs {
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("option requires an argument -- '%c'", c)
					}
					i++
					v = args[i]
				}
				if err := set(c, v); err != nil {
					return nil, err
				}
				break
			}
			if err := set(c, ""); err != nil {
				return nil, err
			}
		}
	}
	o.Targets = args[i:]
	if o.Help || o.Version {
		return o, nil
	}
	if o.Timeout < 0 {
		o.Timeout = 500
		if o.Count > 0 {
			o.Timeout = min(o.Period, 2000)
		}
	}
	switch {
	case o.IPv4 && o.IPv6:
		return nil, errors.New("can't specify both -4 and -6")
	case o.Generate && o.File != "":
		return nil, errors.New("can't specify both -g and -f")
	case o.Generate && (len(o.Targets) < 1 || len(o.Targets) > 2):
		return nil, errors.New("-g needs a CIDR prefix, or a start and an end address")
	case !o.Generate && o.File == "" && len(o.Targets) == 0:
		return nil, errors.New("no targets")
	case o.Timeout == 0:
		return nil, errors.New("-t must be positive")
	case o.Count > 0 && o.Period <= 0:
		return nil, errors.New("-p must be positive")
	}
	return o, nil
}

// fpingTargets reads the target names: -g's generated list, -f's file,
// or the arguments.
func fpingTargets(o *FPingOptions, stdin io.Reader) ([]string, error) {
	if o.Generate {
		if len(o.Targets) == 1 {
			p, err := netip.ParsePrefix(o.Targets[0])
			if err != nil {
				return nil, fmt.Errorf("can't parse address %s", o.Targets[0])
			}
			first, last := p.Masked().Addr(), lastAddr(p.Masked())
			if first.Is4() && p.Bits() <= 30 { // no network and broadcast addresses
				first, last = first.Next(), last.Prev()
			}
			return addrRange(first, last)
		}
		first, err1 := netip.ParseAddr(o.Targets[0])
		last, err2 := netip.ParseAddr(o.Targets[1])
		if err1 != nil || err2 != nil || first.Is4() != last.Is4() {
			return nil, fmt.Errorf("can't parse address range %s %s", o.Targets[0], o.Targets[1])
		}
		if last.Less(first) {
			return nil, errors.New("the end of the -g range comes before its start")
		}
		return addrRange(first, last)
	}
	if o.File == "" {
		return o.Targets, nil
	}
	r := stdin
	if o.File != "-" {
		f, err := os.Open(o.File)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if name := firstField(sc.Bytes()); len(name) > 0 {
			names = append(names, string(name))
		}
	}
	return names, sc.Err()
}

// firstField returns a target file line's first word, before any
// comment (what strings.Fields(line before '#')[0] gives, without
// allocating).
func firstField(line []byte) []byte {
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	start := 0
	for start < len(line) && asciiSpace(line[start]) {
		start++
	}
	end := start
	for end < len(line) && !asciiSpace(line[end]) {
		end++
	}
	return line[start:end]
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// maxGenerate bounds -g: 16M addresses is past any fleet, and short of
// exhausting memory on a typo like 10.0.0.0/4.
const maxGenerate = 1 << 24

func addrRange(first, last netip.Addr) ([]string, error) {
	var out []string
	for a := first; ; a = a.Next() {
		if len(out) == maxGenerate {
			return nil, fmt.Errorf("-g: more than %d addresses", maxGenerate)
		}
		out = append(out, a.String())
		if a == last || !a.IsValid() {
			break
		}
	}
	return out, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// fpingHost is one target's running tally.
type fpingHost struct {
	name     string
	addr     netip.Addr
	sent     int
	recv     int
	sum      time.Duration
	min, max time.Duration
	rtts     []time.Duration // -C: per probe, -1 when lost
	alive    bool
}

// icmpText is fping's wording of an ICMP error.
func icmpText(v6 bool, typ, code uint8) string {
	if !v6 {
		switch typ {
		case 3:
			names := []string{"Network Unreachable", "Host Unreachable", "Protocol Unreachable", "Port Unreachable",
				"Unreachable (Fragmentation Needed)", "Unreachable (Source Route Failed)", "Unreachable (Destination Network Unknown)",
				"Unreachable (Destination Host Unknown)", "Unreachable (Source Host Isolated)", "Unreachable (Communication with Network Prohibited)",
				"Unreachable (Communication with Host Prohibited)", "Unreachable (Bad TOS for Network)", "Unreachable (Bad TOS for Host)",
				"Unreachable (Communication Administratively Prohibited)", "Unreachable (Host Precedence Violation)", "Unreachable (Precedence cutoff in effect)"}
			if int(code) < len(names) {
				return "ICMP " + names[code]
			}
			return "ICMP Unreachable (Invalid Code)"
		case 4:
			return "ICMP Source Quench"
		case 11:
			return "ICMP Time Exceeded"
		case 12:
			return "ICMP Parameter Problem"
		}
	}
	return "ICMP " + obs.ICMPText(v6, typ, code)
}

// FPing runs fping's command line on hb's engine and returns fping's
// exit code. lookup resolves hostnames (nil: the system resolver).
func FPing(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup prober.LookupFunc) int {
	o, err := ParseFPing(args)
	if err != nil {
		fmt.Fprintf(stderr, "hb-fping: %v\nsee 'hb-fping -h' for usage information\n", err)
		return FPingBadOption
	}
	if o.Help {
		io.WriteString(stdout, fpingUsage)
		return FPingAllAlive
	}
	if o.Version {
		fmt.Fprintln(stdout, "hb-fping: fping's command line on hb-probe's engine")
		return FPingAllAlive
	}
	// No collection while the list loads and resolves either (as --once):
	// the names and hosts live through the sweep.
	defer PauseGC(0)()
	names, err := fpingTargets(o, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "hb-fping: %v\n", err)
		if o.Generate {
			return FPingBadOption
		}
		return FPingError
	}
	if lookup == nil {
		lookup = func(ctx context.Context, h string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		}
	}
	hosts, unknown := fpingResolve(ctx, o, names, lookup, stderr)
	start := time.Now()
	code := FPingAllAlive
	if len(hosts) > 0 {
		defer PauseGC(len(hosts))()
		var err error
		code, err = fpingRun(ctx, o, hosts, unknown, start, stdout, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "hb-fping: %v\n", err)
			return FPingError
		}
	}
	if unknown > 0 {
		code = FPingNoAddress
	}
	return code
}

// fpingResolve turns names into hosts, reporting each that has no usable
// address as fping does ("NAME: reason").
func fpingResolve(ctx context.Context, o *FPingOptions, names []string, lookup prober.LookupFunc, stderr io.Writer) (hosts []*fpingHost, unknown int) {
	fam := func(a netip.Addr) bool { return (!o.IPv4 || a.Is4()) && (!o.IPv6 || a.Is6()) }
	type ans struct {
		addrs []netip.Addr
		err   error
	}
	answers := map[string]*ans{}
	var specs []prober.Spec
	// Each name parsed once: its address, or invalid for a hostname.
	lits := make([]netip.Addr, len(names))
	for i, n := range names {
		if a, err := netip.ParseAddr(n); err == nil {
			lits[i] = a.Unmap()
		} else if _, dup := answers[n]; !dup {
			answers[n] = nil
			specs = append(specs, prober.Spec{Host: n, Pos: n})
		}
	}
	if len(specs) > 0 {
		fl := func(ctx context.Context, h string) ([]netip.Addr, error) {
			as, err := lookup(ctx, h)
			var keep []netip.Addr
			for _, a := range as {
				if fam(a.Unmap()) {
					keep = append(keep, a.Unmap())
				}
			}
			if err == nil && len(as) > 0 && len(keep) == 0 {
				err = errors.New("Address family for hostname not supported")
			}
			return keep, err
		}
		ts, _, bad, _ := Resolve(ctx, specs, fl)
		for _, t := range ts {
			answers[t.Host] = &ans{addrs: []netip.Addr{t.Addr}}
		}
		for _, b := range bad {
			answers[b.Spec.Host] = &ans{err: b.Err}
		}
	}
	// Duplicates: while addresses ascend (a generated or sorted list)
	// none can repeat, so the set of seen addresses is built only at the
	// first address out of order.
	var seen map[netip.Addr]bool
	var last netip.Addr
	block := make([]fpingHost, 0, len(names))
	for i, n := range names {
		a := lits[i]
		if a.IsValid() {
			if !fam(a) {
				fmt.Fprintf(stderr, "%s: Address family for hostname not supported\n", n)
				unknown++
				continue
			}
		} else {
			r := answers[n]
			if r == nil || r.err != nil || len(r.addrs) == 0 {
				var msg error = errors.New("Name or service not known")
				if r != nil && r.err != nil {
					msg = r.err
					var de *net.DNSError
					if errors.As(msg, &de) {
						msg = errors.New(de.Err)
					}
				}
				fmt.Fprintf(stderr, "%s: %v\n", n, msg)
				unknown++
				continue
			}
			a = r.addrs[0]
		}
		if seen == nil && (len(block) == 0 || last.Less(a)) {
			last = a
		} else {
			if seen == nil {
				seen = make(map[netip.Addr]bool, len(names))
				for j := range block {
					seen[block[j].addr] = true
				}
			}
			if seen[a] {
				continue // one probe stream per address
			}
			seen[a] = true
		}
		block = append(block, fpingHost{name: n, addr: a})
	}
	hosts = make([]*fpingHost, len(block))
	for i := range block {
		hosts[i] = &block[i]
	}
	return hosts, unknown
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// fpingRun probes hosts and prints fping's output.
func fpingRun(ctx context.Context, o *FPingOptions, hosts []*fpingHost, unknown int, start time.Time, stdout, stderr io.Writer) (int, error) {
	cfg := prober.Config{Proto: prober.ProtoICMP, Timeout: ms(o.Timeout), Rate: -1, Shards: runtime.GOMAXPROCS(0)}
	if o.Interval > 0 {
		cfg.Rate = max(1, int(math.Round(1000/o.Interval)))
		cfg.Batch = min(64, max(1, cfg.Rate/100)) // pace per packet at low rates
	}
	for _, h := range hosts {
		cfg.IPv4 = cfg.IPv4 || h.addr.Is4()
		cfg.IPv6 = cfg.IPv6 || h.addr.Is6()
	}
	e, err := prober.New(cfg)
	if err != nil {
		return 0, err
	}
	// The sockets close (each AF_PACKET one waits for an RCU grace
	// period) while the summaries are written: closeEngine starts it once
	// the sweep is over; the return waits for it.
	var closing chan struct{}
	closeEngine := func() {
		if closing == nil {
			closing = make(chan struct{})
			go func() {
				e.Close()
				close(closing)
			}()
		}
	}
	defer func() {
		closeEngine()
		<-closing
	}()

	out := bufio.NewWriterSize(stdout, 64<<10)
	lastFlush := time.Now()
	flush := func() {
		if now := time.Now(); now.Sub(lastFlush) >= 100*time.Millisecond {
			out.Flush()
			lastFlush = now
		}
	}
	width := 0
	for _, h := range hosts {
		width = max(width, len(h.name))
	}
	line := make([]byte, 0, 128) // one output line, reused
	var all struct {
		min, max, sum time.Duration
		n             int
	}
	addRTT := func(d time.Duration) {
		if all.n == 0 || d < all.min {
			all.min = d
		}
		all.max = max(all.max, d)
		all.sum += d
		all.n++
	}
	probeSize := 8 + wire.RequestLen
	var sent, replies, icmpErrs, timeouts uint64

	if o.Count > 0 {
		if o.Verbose {
			for _, h := range hosts {
				h.rtts = make([]time.Duration, 0, o.Count)
			}
		}
		targets := make([]prober.Target, len(hosts))
		for i, h := range hosts {
			targets[i] = prober.Target{Name: h.name, Addr: h.addr}
		}
		opts := prober.OnceOptions{Count: o.Count, Period: ms(o.Period), OnResult: func(r *prober.Result) {
			h := hosts[r.Target]
			k := h.sent
			h.sent++
			ok := r.Outcome == prober.OutcomeOK
			if r.Outcome == prober.OutcomeICMPError && !o.Quiet {
				out.Flush()
				fmt.Fprintf(stderr, "%s from %s for ICMP Echo sent to %s\n", icmpText(r.Addr.Is6(), r.ICMPType, r.ICMPCode), r.From, r.Addr)
			}
			if ok {
				h.recv++
				h.sum += r.RTT
				if h.recv == 1 || r.RTT < h.min {
					h.min = r.RTT
				}
				h.max = max(h.max, r.RTT)
				h.alive = true
				addRTT(r.RTT)
			}
			if h.rtts != nil {
				v := time.Duration(-1)
				if ok {
					v = r.RTT
				}
				h.rtts = append(h.rtts, v)
			}
			if o.Quiet {
				return
			}
			avg := time.Duration(-1)
			if h.recv > 0 {
				avg = h.sum / time.Duration(h.recv)
			}
			line = appendReply(line[:0], h.name, width, k, probeSize, ok, r.RTT, avg, (h.sent-h.recv)*100/h.sent)
			out.Write(line)
			flush()
		}}
		if _, err := e.Once(ctx, targets, opts); err != nil {
			return 0, err
		}
		out.Flush()
		st := e.Stats()
		closeEngine()
		sent, replies, icmpErrs, timeouts = st.Sent, st.Matched, st.ICMPErrors, st.Timeouts
		eb := bufio.NewWriterSize(stderr, 64<<10)
		if !o.Quiet {
			eb.WriteString("\n")
		}
		for _, h := range hosts {
			if o.Verbose {
				line = append(appendPadded(line[:0], h.name, width), " :"...)
				for _, v := range h.rtts {
					if v < 0 {
						line = append(line, " -"...)
					} else {
						line = appendTm(append(line, ' '), v)
					}
				}
				for range o.Count - len(h.rtts) {
					line = append(line, " -"...)
				}
				line = append(line, '\n')
			} else {
				line = appendSummary(line[:0], h, width)
			}
			eb.Write(line)
		}
		eb.Flush()
	} else {
		// Default mode: a round to every target, then retries to the
		// silent ones with the timeout growing 1.5× per round (fping's
		// back-off), then the verdicts.
		pending := hosts
		timeout := ms(o.Timeout)
		for round := 0; round <= o.Retry && len(pending) > 0 && ctx.Err() == nil; round++ {
			targets := make([]prober.Target, len(pending))
			for i, h := range pending {
				targets[i] = prober.Target{Name: h.name, Addr: h.addr}
			}
			opts := prober.OnceOptions{Timeout: timeout, OnResult: func(r *prober.Result) {
				h := pending[r.Target]
				h.sent++
				switch r.Outcome {
				case prober.OutcomeOK:
					h.recv++
					h.alive = true
					addRTT(r.RTT)
					if o.Quiet || o.Unreach {
						return
					}
					line = append(line[:0], h.name...)
					if !o.Alive {
						line = append(line, " is alive"...)
					}
					if o.Elapsed {
						line = append(appendTm(append(line, " ("...), r.RTT), " ms)"...)
					}
					out.Write(append(line, '\n'))
					flush()
				case prober.OutcomeICMPError:
					if !o.Quiet {
						out.Flush()
						fmt.Fprintf(stderr, "%s from %s for ICMP Echo sent to %s\n", icmpText(r.Addr.Is6(), r.ICMPType, r.ICMPCode), r.From, r.Addr)
					}
				}
			}}
			if _, err := e.Once(ctx, targets, opts); err != nil {
				return 0, err
			}
			next := pending[:0:0]
			for _, h := range pending {
				if !h.alive {
					next = append(next, h)
				}
			}
			pending = next
			timeout = time.Duration(float64(timeout) * 1.5)
		}
		st := e.Stats()
		closeEngine()
		sent, replies, icmpErrs, timeouts = st.Sent, st.Matched, st.ICMPErrors, st.Timeouts
		if !o.Quiet && !o.Alive {
			for _, h := range hosts {
				if h.alive {
					continue
				}
				out.WriteString(h.name)
				if !o.Unreach {
					out.WriteString(" is unreachable")
				}
				out.WriteByte('\n')
			}
		}
		out.Flush()
	}
	alive := 0
	for _, h := range hosts {
		if h.alive {
			alive++
		}
	}
	if o.Stats {
		// fping counts every probe without an echo reply as a timeout,
		// ICMP errors included (it waits the timeout out).
		timeouts = sent - replies
		eb := bufio.NewWriter(stderr)
		fmt.Fprintf(eb, "\n %7d targets\n %7d alive\n %7d unreachable\n %7d unknown addresses\n\n", len(hosts)+unknown, alive, len(hosts)-alive, unknown)
		fmt.Fprintf(eb, " %7d timeouts (waiting for response)\n %7d ICMP Echos sent\n %7d ICMP Echo Replies received\n %7d other ICMP received\n\n", timeouts, sent, replies, icmpErrs)
		if all.n > 0 {
			fmt.Fprintf(eb, " %s ms (min round trip time)\n %s ms (avg round trip time)\n %s ms (max round trip time)\n", sprintTm(all.min), sprintTm(all.sum/time.Duration(all.n)), sprintTm(all.max))
		} else {
			fmt.Fprintf(eb, " %s ms (min round trip time)\n %s ms (avg round trip time)\n %s ms (max round trip time)\n", "0.000", "NaN", "0.000")
		}
		fmt.Fprintf(eb, " %12.3f sec (elapsed real time)\n\n", time.Since(start).Seconds())
		eb.Flush()
	}
	if alive < len(hosts) {
		return FPingUnreachable, nil
	}
	return FPingAllAlive, nil
}
