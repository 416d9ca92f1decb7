// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hbmon/hb/bench"
	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/internal/testutil"
)

const notAvail = "not available in this build"

// sweepTool is one peer in the sweep and RTT comparisons.
type sweepTool struct {
	name, version string
	args          func(file string, fullRate bool) []string
	runs          int
	parse         func(m measured) bench.ToolResult
	unavailable   string
	rttOnly       bool // a row of the RTT table only
}

func (e *env) tools(n int) []sweepTool {
	hbv, _ := exec.Command(e.hbProbe, "--version").CombinedOutput()
	return []sweepTool{
		{
			// The main row: the same input zmap gets, its allow-list
			// of CIDR lines (TARGETS.cidr).
			name: "hb-probe", version: firstLine(hbv), runs: e.runs, unavailable: e.probeOnce,
			args: func(file string, full bool) []string {
				rate := "0"
				if !full {
					rate = "1000"
				}
				return []string{e.hbProbe, "--once", "--json", "--quiet", "--rate", rate, "--timeout", "500ms", "--max-targets", "1000000", "--targets", e.cidrs(file)}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseHBJSON(bytes.NewReader(m.Stdout)) },
		},
		{
			// The same with the list of address lines the other tools read.
			name: "hb-probe (address list)", version: firstLine(hbv), runs: e.runs, unavailable: e.probeOnce,
			args: func(file string, full bool) []string {
				rate := "0"
				if !full {
					rate = "1000"
				}
				return []string{e.hbProbe, "--once", "--json", "--quiet", "--rate", rate, "--timeout", "500ms", "--max-targets", "1000000", "--targets", file}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseHBJSON(bytes.NewReader(m.Stdout)) },
		},
		{
			// The same sweep on the raw socket's IP output path (tx =
			// raw), against the default AF_PACKET frames above.
			name: "hb-probe --tx raw", version: firstLine(hbv), runs: e.runs, unavailable: e.probeOnce,
			args: func(file string, full bool) []string {
				rate := "0"
				if !full {
					rate = "1000"
				}
				return []string{e.hbProbe, "--once", "--json", "--quiet", "--tx", "raw", "--rate", rate, "--timeout", "500ms", "--max-targets", "1000000", "--targets", file}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseHBJSON(bytes.NewReader(m.Stdout)) },
		},
		{
			// The default transmit path with replies read by recvmmsg on
			// the raw socket (rx = raw), against the TPACKET_V3 ring.
			name: "hb-probe --rx raw", version: firstLine(hbv), runs: e.runs, unavailable: e.probeOnce,
			args: func(file string, full bool) []string {
				rate := "0"
				if !full {
					rate = "1000"
				}
				return []string{e.hbProbe, "--once", "--json", "--quiet", "--rx", "raw", "--rate", rate, "--timeout", "500ms", "--max-targets", "1000000", "--targets", file}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseHBJSON(bytes.NewReader(m.Stdout)) },
		},
		{
			// Both raw paths: the raw socket's IP output path and its
			// recvmmsg (the RTT table's reference for the receive ring).
			name: "hb-probe --tx raw --rx raw", version: firstLine(hbv), runs: e.runs, unavailable: e.probeOnce,
			args: func(file string, full bool) []string {
				rate := "0"
				if !full {
					rate = "1000"
				}
				return []string{e.hbProbe, "--once", "--json", "--quiet", "--tx", "raw", "--rx", "raw", "--rate", rate, "--timeout", "500ms", "--max-targets", "1000000", "--targets", file}
			},
			parse:   func(m measured) bench.ToolResult { return bench.ParseHBJSON(bytes.NewReader(m.Stdout)) },
			rttOnly: true,
		},
		{
			name: "fping", version: version("fping", "-v"), runs: e.runs,
			args: func(file string, full bool) []string {
				iv := "0"
				if !full {
					iv = "1"
				}
				return []string{"fping", "-c1", "-i", iv, "-r", "0", "-t", "500", "-f", file}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseFping(bytes.NewReader(m.Stdout)) },
		},
		{
			// hb-probe's fping personality with fping's own arguments:
			// same output format, parsed the same way.
			name: "hb-probe fping", version: firstLine(hbv), runs: e.runs, unavailable: e.probeOnce,
			args: func(file string, full bool) []string {
				iv := "0"
				if !full {
					iv = "1"
				}
				return []string{e.hbProbe, "fping", "-c1", "-i", iv, "-r", "0", "-t", "500", "-f", file}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseFping(bytes.NewReader(m.Stdout)) },
		},
		{
			// oping looks each reply's host up in a list: its time grows
			// with the square of the target count, so it runs once.
			name: "oping", version: version("oping", "-h"), runs: 1,
			args: func(file string, full bool) []string {
				return []string{"oping", "-c", "1", "-w", "1", "-f", file}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseOping(bytes.NewReader(m.Stdout)) },
		},
		{
			// zmap sends from an AF_PACKET socket (its own Ethernet
			// frames to the gateway's MAC) and reads replies through
			// libpcap; -c 0 stops listening when sending ends, as in the
			// issue's baseline, so late replies count as lost.
			name: "zmap", version: version("zmap", "--version"), runs: e.runs, unavailable: e.missing("zmap"),
			args: func(file string, full bool) []string {
				return []string{"zmap", "-q", "-M", "icmp_echoscan", "-i", bench.ProberIf, "-G", e.gatewayMAC(),
					"-b", "/dev/null", "-c", "0", "-B", "10G", "-o", "-", "-w", e.cidrs(file)}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseAddrLines(bytes.NewReader(m.Stdout)) },
		},
		{
			// masscan also sends raw frames; --wait 1 is its shortest
			// listening time after the last probe.
			name: "masscan", version: version("masscan", "--version"), runs: e.runs, unavailable: e.missing("masscan"),
			args: func(file string, full bool) []string {
				return []string{"masscan", "--ping", "-iL", file, "--rate", "100000000", "-e", bench.ProberIf,
					"--router-mac", e.gatewayMAC(), "--adapter-ip", bench.ProberAddr.String(), "--wait", "1", "-oL", "-"}
			},
			parse: func(m measured) bench.ToolResult { return bench.ParseAddrLines(bytes.NewReader(m.Stdout)) },
		},
	}
}

// missing says why a peer tool cannot run ("" when it can).
func (e *env) missing(name string) string {
	if _, err := exec.LookPath(name); err != nil {
		return name + " not installed (apt-get install " + name + ")"
	}
	return ""
}

// gatewayMAC is the hosts side's MAC: raw-frame scanners need the next hop.
func (e *env) gatewayMAC() string {
	out, err := e.fleet.Command(e.fleet.Hosts, "cat", "/sys/class/net/"+bench.HostsIf+"/address").Output()
	if err != nil {
		return "00:00:00:00:00:00"
	}
	return strings.TrimSpace(string(out))
}

// cidrs writes a target list as /32 prefixes (zmap's allow-list format)
// next to it and returns its path; "TARGETS" stays a placeholder.
func (e *env) cidrs(file string) string {
	if file == "TARGETS" {
		return "TARGETS.cidr"
	}
	p := file + ".cidr"
	if _, err := os.Stat(p); err == nil {
		return p
	}
	b, err := os.ReadFile(file)
	if err != nil {
		panic(err)
	}
	var out strings.Builder
	for _, l := range strings.Fields(string(b)) {
		out.WriteString(l + "/32\n")
	}
	if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
		panic(err)
	}
	return p
}

func (e *env) sweep() string {
	sizes := []int{65536, 1<<17 - 2} // 131,070: all of 198.18.0.0/15 but its network and broadcast
	if e.quick {
		sizes = []int{2048}
	}
	var b strings.Builder
	for _, n := range sizes {
		b.WriteString(e.sweepN(n))
	}
	b.WriteString(sweepProfile)
	return b.String()
}

// sweepProfile is the profile behind the sweep's hb-probe line. It is not
// re-measured by this run (perf needs the host's kernel symbols and a quiet
// machine); the commands reproduce it.
const sweepProfile = `## Where a sweep's CPU goes (profile)

Measured on 2026-12-02 on this 2-vCPU VM, 65,536 targets, one engine loop (before Config.Shards), on the raw
socket's IP output path (now ` + "`--tx raw`" + `; before the AF_PACKET transmit path), with
` + "`perf record -g -- ip netns exec PROBER hb-probe --once --json --quiet --rate 0 --timeout 500ms 198.18.0.0/16`" + `
(kernel and user stacks) and Go's pprof of the same sweep (` + "`runtime/pprof`" + ` around Engine.Once):

| where | share of the process's CPU |
| --- | --- |
| sendmmsg, of which: | 59 % |
| &nbsp;&nbsp;the fleet's echo path (veth → net_rx_action → icmp_rcv → icmp_reply, run in our softirq) | 35 % |
| &nbsp;&nbsp;our IP output path (raw_sendmsg → ip_append_data, __ip_select_ident, route lookup, veth_xmit) | 20 % |
| recvmmsg (replies: copy, control messages) | 12.5 % |
| error queue (TX timestamps; each carried a copy of the packet before OPT_TSONLY) | 6.5 % |
| page faults on fresh memory (the 65,536-slot in-flight tables, the summaries) | 9 % |
| Go GC (background mark, assists, write barriers on the pointer-holding slots) | 8 % |
| the engine's own code (cookies, parsing, matching, summaries) | 3 % |

So the sweep is kernel-bound, and one loop kept one CPU busy while the other idled: the whole round trip,
the fleet's side included, ran on the sending CPU. What changed after it: TX timestamps come back without the
packet (OPT_TSONLY); an unpaced sweep runs one loop per CPU (Config.Shards: in 7 alternating runs of each
on the shared machine at load 16, the engine's sweep took a median 3.23 s with one loop and 1.52 s with two, for
the same median 1.02 CPU-s; each extra raw socket also clones every reply once for its filter to drop); the
--once table is written from one buffer (it cost 2.1 CPU-s of printing alone). What it pointed at next:
sending from an AF_PACKET socket with PACKET_QDISC_BYPASS (zmap's path) to drop most of the 20 % IP output
share; the 35 % echo share is the fleet's and every tool pays it.

**After the AF_PACKET transmit path** (now the default, tx = auto → packet). Two sweeps of 198.18.0.0/16 (65,534
targets), one with each path, two loops (Config.Shards), on a two-namespace fleet like the bench's, at load ~15:
` + "`perf record -g -- ip netns exec PROBER hb-probe --once --json --quiet --tx packet|raw --rate 0 --timeout 500ms 198.18.0.0/16`" + `
(one run each, 4 kHz sampling; samples are CPU time):

| | --tx raw | --tx packet |
| --- | --- | --- |
| hb-probe samples (all CPU) | 3,704 | 3,032 (−18 %) |
| our transmit path (raw_sendmsg resp. packet_sendmsg, minus the softirq inside it) | 885 (24 %) | 385 (13 %) |
| the fleet's echo path in our softirq (net_rx_action) | 1,349 (36 %) | 1,273 (42 %) |
| page faults | 6.6 % | 6.6 % |
| error queue (ip_recv_error resp. packet_recvmsg → sock_recv_errqueue) | 3.1 % | 3.9 % |

The own transmit cost more than halves (no route lookup, IP id or qdisc per probe on our side: the
ip_route_output and __ip_select_ident left in the packet profile are the fleet's echo replies); what remains is
dominated by the fleet's echo path, which every tool in the table pays on this machine.

**After the receive ring** (now the default, rx = auto → ring: replies from a TPACKET_V3 ring, no system call per
reply) and three --once trims the profile pointed at (bare-address lines skip the target grammar; plain --json lines
are written directly, byte-identical to encoding/json; the Go collector is off during the sweep and its output, as
its cycles only rescanned the live set, idle mark workers burning the second CPU: GOGC=off took a median 0.66 CPU-s
against 0.78 with the default in alternating runs at load 8). 65,536 targets, two loops, load ~3, one run each:
` + "`perf record -F 4000 -g -- ip netns exec PROBER hb-probe --once --json --quiet --rate 0 --timeout 500ms --max-targets 1000000 --targets LIST`" + `
and ` + "`perf record -F 4000 -g -- ip netns exec PROBER zmap -q -M icmp_echoscan -i IF -G MAC -b /dev/null -c 0 -B 10G -o - -w LIST.cidr`" + `
(samples are CPU time; zmap read 47,291 of the 65,536 replies before -c 0 stopped it):

| | hb-probe | zmap |
| --- | --- | --- |
| samples (all CPU) | 2,861 | 2,683 |
| the fleet's echo path and the receive softirq (net_rx_action), of which the ring copy (tpacket_rcv) | 1,348 (47 %), 133 | 1,167 (43 %), 119 |
| own transmit path (packet_sendmsg resp. sendto, minus the softirq), of which TX timestamp skbs | 407 (14 %), 77 | 374 (14 %), — |
| TX timestamps read back from the error queue | 167 (5.8 %) | — |
| reading the ring, matching, cookies | 99 (3.5 %) | (libpcap, in its rest) |
| target list (parse, resolve, dedupe) | 217 (7.6 %) | — |
| output | 64 (2.2 %) | 174 (6.5 %, write) |
| page faults (in-flight tables, summaries) | 232 (8.1 %) | 5 |
| Go GC (while the list loads, before the pause) | 81 (2.8 %) | — |
| zmap's fstatat calls | — | 307 (11.4 %) |

What still separates the two: the kernel TX timestamps, which zmap does not take (an skb made in veth_xmit and queued
per probe, then read back: about 244 samples, 8.5 %). In 5 alternating runs of each at load ~3, hb-probe took a
median 0.70 CPU-s, ` + "`hb-probe --no-kernel-tx`" + ` 0.63 and zmap 0.67 (` + "`ip netns exec PROBER hb-probe --once --json --quiet [--no-kernel-tx] --rate 0 --timeout 500ms --max-targets 1000000 --targets LIST`" + `):
without TX stamps hb is below zmap's CPU per probe, with them (the issue asks to keep them) about 5 % above.

**The same input as zmap.** The sweep's hb-probe row now reads zmap's allow-list (TARGETS.cidr, every target as a
/32 line); the address-list row stays below it. Such lines used to take the full grammar (1.50 µs a target), now
the bare-line fast path (0.39 µs; 0.08 µs for one ` + "`198.18.0.0/16`" + ` line), and Resolve keeps no duplicate map
while the addresses ascend (the map cost ~5 MB and one insert per target): ` + "`go test ./prober -run X -bench Load65536 -benchtime 20x`" + `
(65,536 targets, load ~4, before → after: /32 lines 98 → 26 ms, one /16 8.8 → 4.9 ms, address lines within noise,
31 → 26 MB allocated). At ~0.67 CPU-s for the whole sweep, loading is now ~4 % of it.

**Compact --once summaries** (page faults). ` + "`perf record -e page-faults -g`" + ` on a 65,536-target sweep (address lines)
counted 24.6k faults, a third of them in Engine.Once: its ` + "`[]Summary`" + `, 504 bytes a target (a copy of the Target and
a full Result as Last). A Summary now points at its target and keeps only what the outputs print (~104 bytes; the
health payload allocated only for a reply that carried one; ` + "`Last()`" + ` rebuilds a Result); also sized up front: the
packet socket's per-destination hop map (a dozen rehashes before), the list parser's spec slice (from the file's
size), and --once's resolver no longer copies the spec list when every name resolved. 5 alternating runs of each,
load ~0.3, ` + "`/usr/bin/time -f '%U %S %R' ip netns exec PROBER hb-probe --once --json --quiet --rate 0 --timeout 500ms --targets LIST`" + `,
before (fcfe11b) → after: median 0.83 → 0.73 CPU-s (user+sys), 22.7k → 14.8k minor page faults; max RSS in the sweep
table 88.9 → 63.1 MiB. The faults left are the data itself (the spec, target, summary and in-flight arrays) and the
collector's marking while the list loads. The table's hb row (0.70 CPU-s, the same median as the run before it at
higher load) is 0.83× zmap's CPU per probe, but zmap's own median moved 0.69 → 0.84 between those two runs: the
margin is within this machine's run-to-run spread.

`

func (e *env) sweepN(n int) string {
	file := e.targets(n)
	var b strings.Builder
	fmt.Fprintf(&b, "## Sweep: %d targets probed once\n\n", n)
	b.WriteString("Each tool probes every target once from the prober namespace, all answered by the kernel's echo path in the hosts\n")
	b.WriteString("namespace. *probes/s* = targets ÷ wall time of the whole command (start to exit, including reading the list and\n")
	b.WriteString("waiting for the last reply); *CPU s* = user+sys of the child from wait4 rusage; *max RSS* from the same rusage.\n")
	b.WriteString("Settings chosen to be fair: one probe per target, no retries (`fping -r 0`), 500 ms timeout where the tool has one,\n")
	b.WriteString("no inter-probe delay (`fping -i 0`, `hb-probe --rate 0`); oping has no rate setting (it sends each round at once).\n\n")
	t := bench.Table{Header: []string{"tool", "version", "command", "probes/s", "CPU s", "CPU µs/probe", "answered %", "max RSS MiB"}}
	var fpingRate, hbRate, zmapRate, hbCPU, zmapCPU, zmapAns float64
	for _, tool := range e.tools(n) {
		if tool.rttOnly {
			continue
		}
		args := tool.args("TARGETS", true)
		cmdline := shell(args)
		if tool.unavailable != "" {
			t.Add(tool.name, tool.version, "`"+cmdline+"`", tool.unavailable)
			continue
		}
		if tool.name == "oping" && n > 32768 {
			t.Add(tool.name, tool.version, "`"+cmdline+"`", "skipped: its reply lookup grows with the square of the targets (27 s of CPU at 32,768)")
			continue
		}
		var rate, cpu, ans, rss []float64
		failed := ""
		runs := tool.runs
		for range runs {
			run := tool.args(file, true) // the real paths (zmap's allow-list is derived from the list)
			m := measure(e.fleet.Command(e.fleet.Prober, run[0], run[1:]...), 3*time.Minute)
			if m.Err != nil {
				fmt.Fprintf(os.Stderr, "hbbench: %s: %v\n", tool.name, m.Err)
				continue
			}
			r := tool.parse(m)
			if r.Answered == 0 && m.Exit != 0 {
				failed = fmt.Sprintf("failed: exit %d: %s", m.Exit, firstLine(m.Stderr))
				fmt.Fprintf(os.Stderr, "hbbench: %s %s\n", tool.name, failed)
				continue
			}
			rate = append(rate, float64(n)/m.Wall.Seconds())
			cpu = append(cpu, m.CPU.Seconds())
			ans = append(ans, 100*float64(r.Answered)/float64(n))
			rss = append(rss, float64(m.MaxRSS))
		}
		if len(rate) == 0 && failed != "" {
			t.Add(tool.name, tool.version, "`"+cmdline+"`", failed)
			continue
		}
		rs := bench.Summarize(rate)
		switch tool.name {
		case "fping":
			fpingRate = rs.Median
		case "hb-probe":
			hbRate, hbCPU = rs.Median, bench.Summarize(cpu).Median
		case "zmap":
			zmapRate, zmapCPU, zmapAns = rs.Median, bench.Summarize(cpu).Median, bench.Summarize(ans).Median
		}
		rssS := bench.Summarize(rss)
		cpuS := bench.Summarize(cpu)
		t.Add(tool.name, tool.version, "`"+cmdline+"`", rs.Format("%.0f"), cpuS.Format("%.2f"), fmt.Sprintf("%.1f", cpuS.Median/float64(n)*1e6),
			bench.Summarize(ans).Format("%.2f"), bench.Summary{N: rssS.N, Median: rssS.Median / (1 << 20), Min: rssS.Min / (1 << 20), Max: rssS.Max / (1 << 20)}.Format("%.1f"))
	}
	b.WriteString(t.Markdown())
	b.WriteString("\n")
	if hbRate > 0 && zmapRate > 0 {
		fmt.Fprintf(&b, "**Target** hb-probe ≥ 1.0× zmap's probes/s and ≤ 1.0× its CPU per probe: measured **%.2f×** the rate (%s) and **%.2f×** the CPU per probe (%s).\n\n",
			hbRate/zmapRate, reached(hbRate >= zmapRate), hbCPU/zmapCPU, reached(hbCPU <= zmapCPU))
		if zmapAns < 99 {
			fmt.Fprintf(&b, "zmap answered only %.1f %% here: with -c 0 it stops listening when it has sent its last probe, so its\n"+
				"probes/s and CPU count probes whose replies it never read.\n\n", zmapAns)
		}
	}
	if hbRate > 0 && fpingRate > 0 {
		fmt.Fprintf(&b, "hb-probe against fping: **%.1f×** the probes/s.\n\n", hbRate/fpingRate)
	}
	b.WriteString(sweepBounds)
	return b.String()
}

// sweepBounds says what limits each tool in the sweep; the profile behind
// hb-probe's line is in the "Where a sweep's CPU goes" section.
const sweepBounds = `What bounds each tool here (every reply is made by the hosts namespace's kernel, in the softirq of the CPU that
sent the request, so the fleet's echo path is billed to the sender's system time):

- **hb-probe**: IPv4 probes leave as prebuilt Ethernet frames on an AF_PACKET socket with PACKET_QDISC_BYPASS
  (tx = auto → packet; the next hop's MAC from the kernel's route and neighbour tables), replies are read from a
  TPACKET_V3 receive ring (rx = auto → ring: the kernel runs the BPF reply filter and stamps each frame; no system call
  per reply); sendmmsg batches of 64, kernel TX timestamps from the packet socket's error queue (OPT_ID, OPT_TSONLY),
  cookies checked per reply; with --rate 0 the sweep is split over one loop per CPU (Config.Shards), and the Go
  collector is off during it. Kernel-bound: the fleet's echo path runs in the sender's softirq inside its sendmmsg;
  of what is hb's own, the TX timestamps (one error-queue skb per probe, made in veth_xmit and read back) are the one
  cost zmap does not have. It reads the same file zmap does (TARGETS.cidr: every target as a /32 line), which takes
  the parser's bare-line fast path (no grammar, no duplicate map while addresses ascend).
- **hb-probe (address list)**: the same reading TARGETS, one address per line, as fping and masscan do.
- **hb-probe --rx raw**: the same with replies read by recvmmsg on the raw ICMP socket (a clone of each reply queued
  to it, control messages per reply).
- **hb-probe --tx raw**: the same on the raw socket's IP output path (route lookup, IP ID, qdisc per packet); its
  profile (before the packet path): about a third of its CPU the fleet's echo path inside its sendmmsg, a fifth its
  own IP output path, an eighth receive and the error queue; user space under 10 %.
- **zmap**: writes its own Ethernet frames on an AF_PACKET socket (no IP output path, no route lookup) and reads
  replies through libpcap's ring, with separate send and receive threads; no kernel TX timestamps; -c 0 stops
  listening when the last probe is sent, so replies still in flight count as lost.
- **fping**: one sendto and one recvmsg per probe on one thread; it has 65,535 sequence numbers, so past 65,535
  targets it stops with "not enough sequence numbers".
- **masscan**: raw frames through libpcap one packet per call, its own pacing, and at least one second of --wait.
- **oping**: a linear search of its host list per reply.

`

func reached(ok bool) string {
	if ok {
		return "reached"
	}
	return "not reached"
}

func replaceArg(args []string, from, to string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == from {
			a = to
		}
		out[i] = a
	}
	return out
}

func (e *env) rtt() string {
	low, full := 1000, 8192
	if e.quick {
		low, full = 200, 1024
	}
	var b strings.Builder
	b.WriteString("## RTT accuracy against a packet capture\n\n")
	b.WriteString("tcpdump captures on the prober's veth with nanosecond timestamps (`tcpdump -i hbp0 -n -p -s 96 -B 65536 -U --immediate-mode\n")
	b.WriteString("--time-stamp-precision=nano -w FILE icmp`) while the tool runs; the capture is read by `bench/pcap.go`, and each\n")
	b.WriteString("target's *wire RTT* is the time from its echo request to the matching reply (same address, id, seq). The table gives\n")
	b.WriteString("the absolute difference between the RTT the tool reported and the wire RTT, over all targets of a run (median and\n")
	b.WriteString("p99 per run, then the median of runs). *Low rate*: " + fmt.Sprint(low) + " targets, `hb-probe --rate 1000`, `fping -i 1`; *full rate*: " + fmt.Sprint(full) + " targets with no pacing.\n")
	b.WriteString("*probes/s on the wire* is the rate of echo requests in the capture (first to last).\n")
	b.WriteString("fping prints RTTs in ms with 3 decimals: its resolution is 1 µs, so errors below ~0.5 µs cannot show.\n\n")
	t := bench.Table{Header: []string{"tool", "rate", "command", "median |error| µs", "p99 |error| µs", "targets matched", "probes/s on the wire", "capture drops"}}
	// hb-probe on the raw socket's output path and fping: the default
	// AF_PACKET frames (PACKET_QDISC_BYPASS) go straight to the driver,
	// past the taps a capture on the sender's interface reads, so the
	// capture never sees those requests (see the note under the table).
	var rttTools []sweepTool
	for _, tool := range e.tools(0) {
		if tool.name == "hb-probe --tx raw" || tool.name == "hb-probe --tx raw --rx raw" || tool.name == "fping" {
			rttTools = append(rttTools, tool)
		}
	}
	for _, tool := range rttTools {
		for _, fullRate := range []bool{false, true} {
			n, rateName := low, "low"
			if fullRate {
				n, rateName = full, "full"
			}
			file := e.targets(n)
			args := tool.args("TARGETS", fullRate)
			if tool.unavailable != "" {
				t.Add(tool.name, rateName, "`"+shell(args)+"`", tool.unavailable)
				continue
			}
			var med, p99, matched, wireRate []float64
			drops := ""
			for range e.runs {
				var m measured
				frames, d, err := e.capture(func() {
					m = measure(e.fleet.Command(e.fleet.Prober, args[0], replaceArg(args[1:], "TARGETS", file)...), time.Minute)
				})
				if err != nil || m.Err != nil {
					fmt.Fprintf(os.Stderr, "hbbench: rtt %s: %v %v\n", tool.name, err, m.Err)
					continue
				}
				if d != "" {
					drops = d
				}
				errs := bench.RTTErrors(tool.parse(m).RTT, bench.WireRTTs(frames))
				if len(errs) == 0 {
					continue
				}
				med = append(med, bench.Quantile(errs, 0.5)/1e3)
				p99 = append(p99, bench.Quantile(errs, 0.99)/1e3)
				matched = append(matched, float64(len(errs)))
				wireRate = append(wireRate, bench.RequestRate(frames))
			}
			if tool.name == "hb-probe --tx raw" && fullRate {
				e.hbFullRTTErr = bench.Summarize(med).Median
			}
			t.Add(tool.name, rateName, "`"+shell(args)+"`", bench.Summarize(med).Format("%.1f"), bench.Summarize(p99).Format("%.1f"),
				bench.Summarize(matched).Format("%.0f"), bench.Summarize(wireRate).Format("%.0f"), strings.TrimSuffix(drops, " packets dropped by kernel"))
		}
	}
	b.WriteString(t.Markdown())
	if e.probeOnce != "" || e.hbFullRTTErr == 0 {
		b.WriteString("\n**Target** RTT median error ≤ 5 µs at full rate: pending (hb-probe " + notAvail + ").\n\n")
	} else {
		fmt.Fprintf(&b, "\n**Target** RTT median error at full rate ≤ 5 µs, and ≤ 1 µs with the receive ring (issue 16): hb-probe --tx raw (replies from the ring) %.1f µs — %s.\n\n",
			e.hbFullRTTErr, reached(e.hbFullRTTErr <= 1))
	}
	b.WriteString(rttPacketNote)
	return b.String()
}

// rttPacketNote says why the default transmit path has no row here.
const rttPacketNote = `hb-probe's default IPv4 transmit path (` + "`tx = auto`" + ` → AF_PACKET frames with PACKET_QDISC_BYPASS) has no row:
bypassing the qdisc, its frames go from packet_direct_xmit straight to the driver and skip dev_queue_xmit_nit, the tap a
capture on the sender's interface reads, so tcpdump on hbp0 sees the replies but none of the requests (the same holds
for an operator running tcpdump on a prober host; ` + "`tx = raw`" + ` makes the requests visible again). Its kernel TX
timestamp is taken at the same point as the raw path's (skb_tx_timestamp in the driver's xmit, veth_xmit here) and its
replies and RX stamps come through the same receive ring (rx = auto → ring) as the --tx raw row's, so that row is the
reference for both; a capture of the packet path's own requests would need a tap on the far side of the link. The
--tx raw --rx raw row reads the replies with recvmmsg on the raw socket instead of the TPACKET_V3 ring: the two rows
compare the ring's receive stamps (tp_sec/tp_nsec of each frame) with the raw socket's SCM_TIMESTAMPING ones against
the same capture.

`

// responderMode is one row of the responder comparison.
type responderMode struct {
	name   string
	ignore string // net.ipv4.icmp_echo_ignore_all in the hosts namespace
	start  func() (cmdline string, pid int, stop func() (string, string), err error)
}

func (e *env) responder() string {
	dur := 2 * time.Second
	if e.quick {
		dur = time.Second
	}
	f := e.fleet
	startChild := func(ready string, args ...string) (string, int, func() (string, string), error) {
		cmd := f.Command(f.Hosts, args[0], args[1:]...)
		stop, err := background(cmd, ready, 10*time.Second)
		if err != nil {
			return shell(args), 0, nil, err
		}
		return shell(args), cmd.Process.Pid, stop, nil
	}
	help, _ := exec.Command(e.hbResponder, "--help").CombinedOutput()
	useHB := strings.Contains(string(help), "-attach") && strings.Contains(string(help), "-interfaces")
	who := "hb-responder"
	if !useHB {
		who = "hb program, bench loader"
	}
	bpfMode := func(mode, hbMode string) func() (string, int, func() (string, string), error) {
		return func() (string, int, func() (string, string), error) {
			if useHB {
				return startChild("msg=running", e.hbResponder, "-attach", hbMode, "-interfaces", bench.HostsIf,
					"-rate-limit", "0", "-udp-port", "0", "-status-file", filepath.Join(e.tmp, "responder.json"))
			}
			// This hb-responder cannot choose its attach mode: the bench
			// attaches hb's program (package bpf) itself.
			return startChild("ready", e.self, "bpf-responder", "-mode", mode, "-if", bench.HostsIf)
		}
	}
	modes := []responderMode{
		{"XDP native (" + who + ")", "0", bpfMode("xdp", "native")},
		{"XDP generic (" + who + ")", "0", bpfMode("xdpgeneric", "generic")},
		{"TCX ingress (" + who + ")", "0", bpfMode("tc", "tcx")},
		{"kernel echo (icmp_echo_ignore_all=0)", "0", func() (string, int, func() (string, string), error) {
			return "(none: the kernel answers)", 0, func() (string, string) { return "", "" }, nil
		}},
		{"userspace raw socket (bench/echo, like the legacy Python monitor)", "1", func() (string, int, func() (string, string), error) {
			return startChild("", e.self, "echo-responder")
		}},
	}
	loadArgs := []string{e.self, "loadgen", "-dst", bench.HostsAddr.String(), "-if", bench.ProberIf, "-dur", dur.String(), "-max", "20000000", "-batch", "64", "-xdp-pass"}
	var b strings.Builder
	b.WriteString("## Responder: replies/s at saturation\n\n")
	b.WriteString("One load generator (`hbbench loadgen`, raw ICMP socket, `sendmmsg` batches of 64 HBQ1 echo requests with room for a\n")
	fmt.Fprintf(&b, "health blob, as fast as it can, for %v or 20 M requests) sends from the prober namespace to %s; replies are\n", dur, bench.HostsAddr)
	b.WriteString("counted on the prober's veth (`rx_packets`), so a slow reader cannot hide them. The same load for every row, and\n")
	b.WriteString("an XDP_PASS program on the generator's veth in every row (native XDP_TX on a veth delivers only then).\n")
	b.WriteString("*CPU µs/reply* is the whole round trip's CPU — generator (user+sys, which on this kernel includes the softirq work\n")
	b.WriteString("done in its context), responder process, and every ksoftirqd thread — divided by the replies.\n")
	fmt.Fprintf(&b, "Load command: `ip netns exec PROBER %s`.\n\n", shell(append([]string{"hbbench"}, loadArgs[1:]...)))
	t := bench.Table{Header: []string{"responder", "command", "replies/s", "requests sent/s", "CPU µs/reply", "replies per CPU-second", "responder process CPU s"}}
	rates, capacity := map[string]float64{}, map[string]float64{}
	for _, md := range modes {
		if err := f.Sysctl(f.Hosts, "net.ipv4.icmp_echo_ignore_all", md.ignore); err != nil {
			t.Add(md.name, "", "error: "+err.Error())
			continue
		}
		cmdline, pid, stop, err := md.start()
		if err != nil {
			t.Add(md.name, "`"+cmdline+"`", "error: "+firstLine([]byte(err.Error())))
			continue
		}
		time.Sleep(200 * time.Millisecond)
		var rps, sps, cpr, rcpu []float64
		for range e.runs {
			var r0 time.Duration
			if pid > 0 {
				r0 = procCPU(pid)
			}
			k0 := ksoftirqdCPU()
			m := measure(f.Command(f.Prober, loadArgs[0], loadArgs[1:]...), dur+30*time.Second)
			k1 := ksoftirqdCPU()
			var r1 time.Duration
			if pid > 0 {
				r1 = procCPU(pid)
			}
			var lr bench.LoadResult
			if m.Err != nil || m.Exit != 0 || json.Unmarshal(m.Stdout, &lr) != nil {
				fmt.Fprintf(os.Stderr, "hbbench: loadgen: %v %s\n", m.Err, firstLine(m.Stderr))
				continue
			}
			rps = append(rps, float64(lr.Replies)/lr.Seconds)
			sps = append(sps, float64(lr.Sent)/lr.Seconds)
			total := m.CPU + (r1 - r0) + (k1 - k0)
			if lr.Replies > 0 {
				cpr = append(cpr, total.Seconds()*1e6/float64(lr.Replies))
			} else {
				cpr = append(cpr, math.NaN())
			}
			rcpu = append(rcpu, (r1 - r0).Seconds())
		}
		so, _ := stop()
		if c := strings.TrimSpace(so); strings.HasPrefix(c, "ready") {
			fmt.Fprintf(os.Stderr, "hbbench: %s counters: %s\n", md.name, lastLine(c))
		}
		s := bench.Summarize(rps)
		rates[md.name] = s.Median
		cs := bench.Summarize(cpr)
		var perCPU []float64
		for _, c := range cpr {
			perCPU = append(perCPU, 1e6/c)
		}
		ps := bench.Summarize(perCPU)
		capacity[md.name] = ps.Median
		proc := bench.Summarize(rcpu).Format("%.2f")
		if pid == 0 {
			proc = "— (no process)"
		}
		t.Add(md.name, "`"+cmdline+"`", s.Format("%.0f"), bench.Summarize(sps).Format("%.0f"), cs.Format("%.2f"), ps.Format("%.0f"), proc)
	}
	f.Sysctl(f.Hosts, "net.ipv4.icmp_echo_ignore_all", "0")
	b.WriteString(t.Markdown())
	b.WriteString("\nOn a veth pair the kernel paths (XDP, TC, kernel echo) run synchronously inside the generator's sendmmsg call on\n")
	b.WriteString("the same CPU, so their *replies/s* equals the generator's send rate: it measures how fast one thread can drive\n")
	b.WriteString("the whole round trip, not the responder alone. *Replies per CPU-second* (1 ÷ CPU per reply) is the figure that\n")
	b.WriteString("compares the responders' cost; the userspace responder is the only one decoupled from the sender (its own process).\n")
	b.WriteString("\"Native\" XDP on a veth is not a NIC driver's fast path either: the sender has already built an skb, which veth\n")
	b.WriteString("converts to an XDP buffer, so it costs about what generic XDP does here; on a real NIC the order differs.\n")
	for _, fig := range []struct {
		what string
		m    map[string]float64
	}{{"replies/s", rates}, {"replies per CPU-second", capacity}} {
		xdp, user, kern := fig.m[modes[0].name], fig.m[modes[4].name], fig.m[modes[3].name]
		if xdp > 0 && user > 0 && kern > 0 {
			fmt.Fprintf(&b, "\n**Target** XDP responder ≥ 5× the userspace raw-socket responder and above the kernel echo path, by %s: "+
				"%.2f× userspace, %.2f× kernel echo — %s.\n", fig.what, xdp/user, xdp/kern, reached(xdp >= 5*user && xdp > kern))
		}
	}
	b.WriteString("\n")
	if useHB {
		b.WriteString("The XDP/TC rows run `hb-responder` itself with its reply rate limit off (`-rate-limit 0`; the default 20,000/s\n")
		b.WriteString("would cap every row) and UDP off; its 1 s health sampling is included in *responder process CPU*.\n\n")
	} else {
		b.WriteString("The XDP/TC rows use hb's eBPF program from `bpf/`, loaded and attached by the harness (`hbbench bpf-responder`),\n")
		b.WriteString("with a fixed published blob; `hb-responder`'s own attach path is not exercised here.\n\n")
	}
	return b.String()
}

// The daemon's API address inside the prober namespace (its default).
const apiBase = "http://127.0.0.1:8787"

// daemonProc is an hb-probe daemon running in the prober namespace.
type daemonProc struct {
	n       int
	cmdline string // for the report, with FILE and TMP placeholders
	pid     int
	stop    func() (string, string)
	proc    *bgProc
	started time.Time // just before the process started
}

// startupDone waits for the end of the daemon's start-up: the line it logs
// once every check has had its first result and the start-up's heap is
// handed back (monitor.releaseNow: interval + timeout + 2 s after
// `monitoring`, the GC kept at a quarter of its percentage until then).
// It returns the wall time from the process's start to that line and the
// CPU time the daemon used meanwhile.
func (e *env) startupDone(d *daemonProc) (wall, cpu time.Duration, err error) {
	at, err := d.proc.waitFor(`msg="hosts by state"`, 3*e.interval+2*time.Minute)
	if err != nil {
		return 0, 0, err
	}
	return at.Sub(d.started), procCPU(d.pid), nil
}

// startDaemon starts `hb-probe --targets FILE` (daemon mode) for n
// simulated hosts with an empty config file (so no config on this machine
// changes the figures) and a fresh history database, and waits until it
// probes and its API answers.
func (e *env) startDaemon(n int, environ []string, steer bool) (*daemonProc, error) {
	file := e.targets(n)
	cfg := filepath.Join(e.tmp, "empty.toml")
	var cfgText []byte
	if e.pprofDir != "" {
		cfg = filepath.Join(e.tmp, "pprof.toml")
		cfgText = []byte("[api]\npprof = true\n")
	}
	if e.extraCfg != "" {
		extra, err := os.ReadFile(e.extraCfg)
		if err != nil {
			return nil, err
		}
		cfg = filepath.Join(e.tmp, "extra.toml")
		cfgText = append(append(extra, '\n'), cfgText...)
	}
	if err := os.WriteFile(cfg, cfgText, 0o644); err != nil {
		return nil, err
	}
	db := filepath.Join(e.tmp, fmt.Sprintf("monitor-%d.db", n))
	for _, sfx := range []string{"", "-wal", "-shm"} {
		os.Remove(db + sfx)
	}
	args := []string{e.hbProbe, "--config", cfg, "--db", db, "--targets", file, "--interval", e.interval.String(), "--max-targets", strconv.Itoa(max(200000, n))}
	if e.rate != 0 {
		args = append(args, "--rate", strconv.Itoa(e.rate))
	}
	if steer { // taskset execs hb-probe in place: the pid stays the daemon's
		args = append([]string{"taskset", "-c", "0"}, args...)
	}
	d := &daemonProc{n: n, cmdline: strings.TrimSpace(strings.Join(environ, " ") + " " + shell(replaceArg(args, file, "FILE")))}
	cmd := e.fleet.Command(e.fleet.Prober, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), environ...) // ip netns exec passes it on
	d.started = time.Now()
	p, err := startBackground(cmd)
	if err != nil {
		return d, err
	}
	if _, err := p.waitFor("msg=monitoring", 5*time.Minute); err != nil { // 1M targets take a while to parse
		return d, err
	}
	d.proc, d.stop, d.pid = p, p.stop, cmd.Process.Pid
	// ip netns exec execs the command in place, so the child's pid is
	// hb-probe's; check, since CPU and RSS are read from /proc/PID.
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", d.pid)); strings.TrimSpace(string(comm)) != "hb-probe" {
		p.stop()
		return d, fmt.Errorf("pid %d is %q, not hb-probe", d.pid, strings.TrimSpace(string(comm)))
	}
	m := measure(e.fleet.Command(e.fleet.Prober, e.self, "http-get", "-wait", "30s", apiBase+"/healthz"), time.Minute)
	if m.Err != nil || m.Exit != 0 {
		_, se := p.stop()
		return d, fmt.Errorf("API not answering: %s %s", firstLine(m.Stderr), firstLine([]byte(se)))
	}
	return d, nil
}

// daemonSample is the daemon's CPU time and API summary at one moment.
type daemonSample struct {
	at  time.Time
	cpu time.Duration
	sum bench.DaemonSummary
}

func (e *env) sample(d *daemonProc) (daemonSample, error) {
	m := measure(e.fleet.Command(e.fleet.Prober, e.self, "http-get", apiBase+"/api/v1/summary"), 30*time.Second)
	s := daemonSample{at: time.Now(), cpu: procCPU(d.pid)}
	if m.Err != nil || m.Exit != 0 {
		return s, fmt.Errorf("GET /api/v1/summary: %v %s", m.Err, firstLine(m.Stderr))
	}
	var err error
	s.sum, err = bench.ParseDaemonSummary(bytes.NewReader(m.Stdout))
	return s, err
}

// monitorResult is one daemon size's figures over its measuring window.
type monitorResult struct {
	n                   int
	cmdline             string
	err                 string
	window              time.Duration
	cpuPct              float64
	rss, hwm            int64 // VmRSS at the window's end, VmHWM (peak)
	w                   bench.Window
	up, hosts           int
	mode                string
	apiErr              string
	wrkRPS, metricsMS   []float64
	metricsBytes        float64
	apiCPUPct           float64
	apiW                bench.Window
	apiWindow           time.Duration
	wrkArgs, metricsCmd string
	steered             bool // pinned to CPU 0, fleet's receive on CPU 1 (runMonitor; the kernel-echo fleet)
	xdp                 bool // the fleet answered by hb's XDP responder
	billed              bool // XDP fleet, veths' NAPI in softirq: the fleet's work billed to the daemon
	// Threaded accounting (XDP fleet, not billed): each veth runs its
	// NAPI in a kernel thread. rxPct is the prober veth's thread's CPU
	// over the window (the replies' receive: the monitoring host's own
	// work, added to the daemon's), fleetPct the hosts' (not added),
	// startRx that of the prober's thread over the start-up.
	threaded            bool
	rxPct, fleetPct     float64
	startRx             time.Duration
	xdpCounters         *bpf.Counters // its counters over the daemon's life (nil: none)
	startWall, startCPU time.Duration // process start to `hosts by state`: wall time, CPU time
	health              bench.HealthMetrics
	cpus                []bench.CPUTimes // /proc/stat ticks over the window: the total, then per CPU
	drops               kernelDrops      // over the window
}

// totalPct is the row's CPU figure: the daemon's, plus its receive NAPI
// thread's with threaded accounting.
func (r monitorResult) totalPct() float64 { return r.cpuPct + r.rxPct }

// cpuText is the row's CPU column: with threaded accounting the sum and
// its two parts.
func (r monitorResult) cpuText() string {
	if !r.threaded {
		return fmt.Sprintf("%.1f", r.cpuPct)
	}
	return fmt.Sprintf("%.1f = %.1f daemon + %.1f its receive NAPI thread", r.totalPct(), r.cpuPct, r.rxPct)
}

// cpuPctText is the CPU figure in prose: "T % (D % daemon + R % its
// receive NAPI thread)" with threaded accounting, else "D %".
func (r monitorResult) cpuPctText() string {
	if !r.threaded {
		return fmt.Sprintf("%.1f %%", r.cpuPct)
	}
	return fmt.Sprintf("%.1f %% (%.1f %% daemon + %.1f %% its receive NAPI thread)", r.totalPct(), r.cpuPct, r.rxPct)
}

// kernelDrops is where the kernel lost packets outside the daemon: the
// simulated hosts' echo replies their ICMP output failed to send, and the
// input backlogs' drops.
type kernelDrops struct {
	// echo: Icmp OutErrors + Icmp6OutErrors in the hosts' namespace. The
	// kernel answers every echo request through one ICMP socket per CPU
	// whose send buffer (2 × SKB_TRUESIZE(64 KiB), not tunable) a reply
	// holds until the prober's side has received it: ~100 of hb's 248-byte
	// replies. When the replies wait in another CPU's backlog (the
	// steered row: CPU 0's, busy sending the burst they answer) a burst
	// of more than that fails with EAGAIN, counted here, and times out in
	// the daemon. A real network has no such shared buffer.
	echo uint64
	// backlog: /proc/net/softnet_stat drops, every CPU (not per namespace).
	backlog uint64
	ok      bool
}

func (e *env) kernelDrops() kernelDrops {
	var d kernelDrops
	m := measure(e.fleet.Command(e.fleet.Hosts, "sh", "-c", "cat /proc/net/snmp; cat /proc/net/snmp6 2>/dev/null; true"), 10*time.Second)
	c, err := bench.ParseSNMP(bytes.NewReader(m.Stdout))
	if m.Err != nil || err != nil {
		return d
	}
	d.echo = c["Icmp.OutErrors"] + c["Icmp6OutErrors"]
	f, err := os.Open("/proc/net/softnet_stat")
	if err != nil {
		return d
	}
	defer f.Close()
	if d.backlog, err = bench.ParseSoftnetDrops(f); err != nil {
		return d
	}
	d.ok = true
	return d
}

// note is the loss column's addition: the drops that were not the
// daemon's, when there were any.
func (d kernelDrops) note() string {
	var s string
	if d.echo > 0 {
		s += fmt.Sprintf("; the fleet's echo failed %d", d.echo)
	}
	if d.backlog > 0 {
		s += fmt.Sprintf("; backlog drops %d", d.backlog)
	}
	return s
}

func (d kernelDrops) sub(a kernelDrops) kernelDrops {
	if !d.ok || !a.ok {
		return kernelDrops{}
	}
	return kernelDrops{echo: d.echo - a.echo, backlog: d.backlog - a.backlog, ok: true}
}

// monitorTiming: warm-up after the daemon's start-up has ended
// (startupDone), then the measured window.
func (e *env) monitorTiming() (warm, window time.Duration) {
	// Warm-up: 2 s after the start-up's end, so that nothing of it (the
	// first round's state changes, the GC at a quarter of its percentage,
	// the heap handed back) is in the window; the start-up's cost is
	// reported on its own. The window at least one interval, and whole
	// minutes: the store writes each minute's rollups once, just after
	// the minute (~0.6 s of CPU at 100k checks: 14 → 19, 26, 61 % of a
	// core over three seconds), so a 30 s window held one or none
	// depending on its phase, 2 points of CPU apart from that alone. A
	// whole minute holds exactly one.
	warm = 2 * time.Second
	if e.quick {
		return warm, max(10*time.Second, e.interval)
	}
	return warm, max(time.Minute, (e.interval+time.Minute-1)/time.Minute*time.Minute)
}

// monitorOpts is one monitor row's set-up.
type monitorOpts struct {
	api     bool     // then measure the API (measureAPI)
	steer   bool     // kernel-echo fleet: daemon on CPU 0, the fleet's receive steered to CPU 1
	xdp     bool     // the fleet answers by hb's XDP responder (startXDPFleet), else by the kernel's echo
	billed  bool     // XDP fleet without threaded NAPI: the fleet's work runs in (and is billed to) the daemon's sendmmsg
	environ []string // added to the daemon's environment
}

// startXDPFleet makes the simulated fleet answer hb's probes to its first
// n hosts as hb-responder would on each of them: hb's XDP program
// (package bpf, native XDP on the hosts' veth, no rate limit, a clear
// health blob), with an XDP_PASS program on the prober's veth (a veth
// delivers its peer's XDP_TX only when it runs NAPI). Anything else (ARP,
// ND, an echo that is not hb's) still reaches the hosts' kernel. stop
// detaches both and returns the responder's counters over its life.
func (e *env) startXDPFleet(n int) (stop func() (bpf.Counters, error), err error) {
	f := e.fleet
	stopPass, err := background(f.Command(f.Prober, e.self, "xdp-pass", "-if", bench.ProberIf), "ready", 30*time.Second)
	if err != nil {
		return nil, err
	}
	p, err := startBackground(f.Command(f.Hosts, e.self, "bpf-responder", "-mode", "xdp", "-if", bench.HostsIf, "-fleet", strconv.Itoa(n)))
	if err == nil {
		_, err = p.waitFor("ready", 5*time.Minute)
	}
	if err != nil {
		stopPass()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "hbbench: XDP fleet of %d: %s\n", n, firstLine([]byte(p.so.String())))
	return func() (bpf.Counters, error) {
		so, se := p.stop()
		stopPass()
		var c bpf.Counters
		if err := json.Unmarshal([]byte(lastLine(so)), &c); err != nil {
			return c, fmt.Errorf("XDP fleet's counters: %v (%s)", err, firstLine([]byte(se)))
		}
		return c, nil
	}, nil
}

// runMonitor runs the daemon for n targets, measures it over a window and,
// with o.api, then measures the API while it keeps probing.
//
// On a veth the receiver's work runs in the sender's softirq, so the
// simulated hosts' work would be billed to the daemon, which a real
// network never does. With the XDP fleet (unless o.billed) both veths run
// their NAPI poll in kernel threads (threaded NAPI): the hosts' (their XDP
// program) is left out, the prober's (the replies' receive, the
// monitoring host's own work) is measured and added to the daemon's.
//
// With o.steer (the kernel-echo fleet; two CPUs or more), the daemon is
// pinned to CPU 0, the simulated hosts' receive processing (the echo
// path) is moved to CPU 1 by RPS on the hosts' veth, and the replies'
// receive on the prober's veth is steered to CPU 0, the daemon's.
func (e *env) runMonitor(n int, o monitorOpts) (r monitorResult) {
	r = monitorResult{n: n, steered: o.steer, xdp: o.xdp, billed: o.xdp && o.billed, threaded: o.xdp && !o.billed}
	f := e.fleet
	if o.steer && o.xdp {
		r.err = "error: the steered row is the kernel-echo fleet's (the XDP fleet's runs threaded)"
		return r
	}
	if o.steer && runtime.NumCPU() < 2 {
		r.err = "skipped: one CPU, nowhere to steer the fleet's receive path to"
		return r
	}
	if o.steer {
		defer func() {
			for _, x := range [][2]string{{f.Hosts, bench.HostsIf}, {f.Prober, bench.ProberIf}} {
				if err := f.SteerRx(x[0], x[1], "0"); err != nil {
					fmt.Fprintln(os.Stderr, "hbbench:", err)
				}
			}
		}()
		if err := f.SteerRx(f.Hosts, bench.HostsIf, "2"); err != nil { // the hosts' echo on CPU 1
			r.err = "error: " + err.Error()
			return r
		}
		if err := f.SteerRx(f.Prober, bench.ProberIf, "1"); err != nil {
			r.err = "error: " + err.Error()
			return r
		}
	}
	if o.xdp {
		stop, err := e.startXDPFleet(n)
		if err != nil {
			r.err = "error: XDP fleet: " + firstLine([]byte(err.Error()))
			return r
		}
		defer func() { // after the daemon's stop: the counters cover its whole life
			c, err := stop()
			if err != nil {
				fmt.Fprintln(os.Stderr, "hbbench:", err)
				return
			}
			r.xdpCounters = &c
			fmt.Fprintf(os.Stderr, "hbbench: monitor %d: XDP fleet answered %d, passed %d to the kernel (%+v)\n", n, c.Answered, c.Passed, c)
		}()
	}
	var rxPids, fleetPids []int // the veths' NAPI threads (threaded accounting)
	if r.threaded {
		// After the XDP attach (a veth has NAPI only with XDP); turned
		// off before the detach, so that the next row's veths are as
		// they were.
		defer func() {
			for _, x := range [][2]string{{f.Prober, bench.ProberIf}, {f.Hosts, bench.HostsIf}} {
				if _, err := f.ThreadedNAPI(x[0], x[1], false); err != nil {
					fmt.Fprintln(os.Stderr, "hbbench:", err)
				}
			}
		}()
		var err error
		if fleetPids, err = f.ThreadedNAPI(f.Hosts, bench.HostsIf, true); err == nil {
			rxPids, err = f.ThreadedNAPI(f.Prober, bench.ProberIf, true)
		}
		if err == nil { // both prompt, or the veths' rings overflow
			err = bench.PromptNAPI(append(append([]int(nil), rxPids...), fleetPids...))
		}
		if err != nil {
			r.err = "error: " + err.Error()
			return r
		}
		fmt.Fprintf(os.Stderr, "hbbench: monitor %d: threaded NAPI: %s pids %v (the replies' receive, counted), %s pids %v (the fleet's, not counted)\n",
			n, bench.ProberIf, rxPids, bench.HostsIf, fleetPids)
	}
	// napiCPU reads the NAPI threads' CPU time; ok is false (and r.err
	// set) if a thread is gone or was re-created (its time would be lost).
	napiCPU := func() (rx, fleet time.Duration, ok bool) {
		if !r.threaded {
			return 0, 0, true
		}
		rx, err := bench.NAPIThreadsCPU("/proc", bench.ProberIf, rxPids)
		if err == nil {
			fleet, err = bench.NAPIThreadsCPU("/proc", bench.HostsIf, fleetPids)
		}
		if err != nil {
			r.err = "error: " + err.Error()
			return 0, 0, false
		}
		return rx, fleet, true
	}
	rxStart, _, ok := napiCPU()
	if !ok {
		return r
	}
	d, err := e.startDaemon(n, o.environ, o.steer)
	r.cmdline = d.cmdline
	if err != nil {
		r.err = "error: " + firstLine([]byte(err.Error()))
		return r
	}
	defer d.stop()
	r.startWall, r.startCPU, err = e.startupDone(d)
	if err != nil {
		r.err = "error: " + firstLine([]byte(err.Error()))
		return r
	}
	rx, _, ok := napiCPU()
	if !ok {
		return r
	}
	r.startRx = rx - rxStart
	warm, window := e.monitorTiming()
	time.Sleep(warm)
	s0, err := e.sample(d)
	if err != nil {
		r.err = "error: " + err.Error()
		return r
	}
	rx0, fleet0, ok := napiCPU()
	if !ok {
		return r
	}
	c0, k0 := procStatCPU(), e.kernelDrops()
	if e.pprofDir != "" {
		// The CPU profile covers the window (less a second of slack).
		e.saveProfile(fmt.Sprintf("cpu-%d.pprof", n), fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(window.Seconds())-1), window+30*time.Second)
	} else {
		time.Sleep(window)
	}
	s1, err := e.sample(d)
	if err != nil {
		r.err = "error: " + err.Error()
		return r
	}
	rx1, fleet1, ok := napiCPU()
	if !ok {
		return r
	}
	r.cpus = cpuDelta(c0, procStatCPU())
	r.drops = e.kernelDrops().sub(k0)
	if e.pprofDir != "" {
		e.saveProfile(fmt.Sprintf("heap-%d.pprof", n), "/debug/pprof/heap", 30*time.Second)
	}
	r.window = s1.at.Sub(s0.at)
	r.cpuPct = 100 * (s1.cpu - s0.cpu).Seconds() / r.window.Seconds()
	r.rxPct = 100 * (rx1 - rx0).Seconds() / r.window.Seconds()
	r.fleetPct = 100 * (fleet1 - fleet0).Seconds() / r.window.Seconds()
	r.rss, r.hwm = procRSS(d.pid, "VmRSS"), procRSS(d.pid, "VmHWM")
	r.w = bench.DaemonWindow(s0.sum, s1.sum, r.window)
	r.up, r.hosts, r.mode = s1.sum.States["up"], s1.sum.Hosts, s1.sum.Mode
	// After the window (a /metrics scrape costs the daemon CPU): did the
	// health blobs decode?
	// (At 1M checks the exposition takes longer than http-get's default
	// 30 s.)
	if m := measure(e.fleet.Command(e.fleet.Prober, e.self, "http-get", "-timeout", "3m", apiBase+"/metrics"), 3*time.Minute+10*time.Second); m.Err == nil && m.Exit == 0 {
		r.health = bench.ParseHealthMetrics(bytes.NewReader(m.Stdout))
	} else {
		fmt.Fprintf(os.Stderr, "hbbench: monitor %d: GET /metrics: %v %s\n", n, m.Err, firstLine(m.Stderr))
	}
	if r.threaded {
		fmt.Fprintf(os.Stderr, "hbbench: monitor %d: %s (fleet's NAPI thread %.1f %%, not counted); start-up receive NAPI thread %.1f CPU-s\n",
			n, r.cpuText(), r.fleetPct, r.startRx.Seconds())
	}
	fmt.Fprintf(os.Stderr, "hbbench: monitor %d: start-up %.1f s, %.1f CPU-s; %.1f%% CPU, RSS %s MiB (peak %s), %.0f probes/s, loss %.3f%% (%d; fleet's echo failed %d, backlog drops %d), %d/%d up; health blobs ok %d, bad %d, decode errors %d\n",
		n, r.startWall.Seconds(), r.startCPU.Seconds(), r.cpuPct, fmtBytes(float64(r.rss)), fmtBytes(float64(r.hwm)), r.w.SentPerSec, r.w.LossPct, r.w.Failed, r.drops.echo, r.drops.backlog, r.up, r.hosts,
		r.health.OK, r.health.Bad, r.health.Errors)
	if o.api {
		e.measureAPI(d, s1, &r)
	}
	return r
}

// saveProfile GETs one of the daemon's pprof endpoints into -pprof DIR.
func (e *env) saveProfile(name, path string, limit time.Duration) {
	m := measure(e.fleet.Command(e.fleet.Prober, e.self, "http-get", "-timeout", limit.String(), apiBase+path), limit)
	if m.Err != nil || m.Exit != 0 {
		fmt.Fprintf(os.Stderr, "hbbench: pprof %s: %v %s\n", path, m.Err, firstLine(m.Stderr))
		return
	}
	out := filepath.Join(e.pprofDir, name)
	if err := os.WriteFile(out, m.Stdout, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "hbbench: %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "hbbench: saved %s (go tool pprof -top %s %s)\n", out, e.hbProbe, out)
}

// measureAPI runs wrk against one host's object and times /metrics while
// the daemon keeps probing; both run in the prober namespace (the API
// listens on its loopback).
func (e *env) measureAPI(d *daemonProc, s0 daemonSample, r *monitorResult) {
	host := testutil.SimAddr(d.n / 2).String() // no name= label: the name is the address
	dur := "5s"
	if e.quick {
		dur = "2s"
	}
	wrkArgs := []string{"wrk", "-t2", "-c16", "-d" + dur, apiBase + "/api/v1/hosts/" + host}
	r.wrkArgs = shell(wrkArgs)
	check := measure(e.fleet.Command(e.fleet.Prober, e.self, "http-get", wrkArgs[len(wrkArgs)-1]), 30*time.Second)
	if check.Exit != 0 || !bytes.Contains(check.Stdout, []byte(`"name":"`+host+`"`)) {
		r.apiErr = "error: GET /api/v1/hosts/" + host + ": " + firstLine(check.Stderr) + firstLine(check.Stdout)
		return
	}
	for range min(e.runs, 3) {
		m := measure(e.fleet.Command(e.fleet.Prober, wrkArgs[0], wrkArgs[1:]...), 30*time.Second)
		if v, ok := bench.ParseWrk(bytes.NewReader(m.Stdout)); ok && !bytes.Contains(m.Stdout, []byte("Non-2xx")) {
			r.wrkRPS = append(r.wrkRPS, v)
		} else {
			fmt.Fprintf(os.Stderr, "hbbench: wrk: %s %s\n", strings.Join(strings.Fields(string(m.Stdout)), " "), firstLine(m.Stderr))
		}
	}
	r.metricsCmd = "hbbench http-time -n 5 " + apiBase + "/metrics"
	tm := measure(e.fleet.Command(e.fleet.Prober, e.self, "http-time", "-n", "5", apiBase+"/metrics"), 2*time.Minute)
	var sizes []float64
	for _, l := range strings.Split(strings.TrimSpace(string(tm.Stdout)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		ms, err1 := strconv.ParseFloat(f[0], 64)
		sz, err2 := strconv.ParseFloat(f[1], 64)
		if err1 == nil && err2 == nil {
			r.metricsMS = append(r.metricsMS, ms)
			sizes = append(sizes, sz)
		}
	}
	if len(r.metricsMS) == 0 {
		r.apiErr = "error: /metrics: " + firstLine(tm.Stderr)
	}
	r.metricsBytes = bench.Summarize(sizes).Median
	s1, err := e.sample(d)
	if err != nil {
		return
	}
	r.apiWindow = s1.at.Sub(s0.at)
	r.apiCPUPct = 100 * (s1.cpu - s0.cpu).Seconds() / r.apiWindow.Seconds()
	r.apiW = bench.DaemonWindow(s0.sum, s1.sum, r.apiWindow)
}

// monitor1M is the one-instance scale row: 1M targets at a 60 s interval
// (16,667 probes/s; --rate 20000). 198.18.0.0/15 holds 131,070 hosts, so
// the rest of the list is in the fleet's 2001:2::/64 (RFC 5180). It needs
// about 5 GiB of memory and 3-4 minutes.
func (e *env) monitor1M() string {
	saved := *e
	defer func() { e.sizes, e.interval, e.rate = saved.sizes, saved.interval, saved.rate }()
	e.sizes, e.interval, e.rate = []int{1000000}, time.Minute, 20000
	if e.quick {
		e.sizes, e.interval = []int{200000}, 20*time.Second
	}
	return e.monitor() + monitor1MWhy
}

// monitor1MWhy explains the 1M row (profiled by hand with hbbench -pprof).
const monitor1MWhy = `Why (profiled by hand: ` + "`hbbench run -only monitor1m -pprof DIR`" + `, 2026-12-02, same loaded machine, load average ~12,
with the fleet answering by the kernel's echo; with the XDP fleet every reply also carries a health blob, which the daemon
decodes and keeps, ~160 bytes a check on the heap: see the 100k section):
- **Probes/s**: the engine sends what the interval needs (table: sent vs expected). It sent 13,016 of the 16,667
  a second before 2026-12-02 (same command, load ~12): its rate bucket held one batch of tokens (3.2 ms at
  ` + "`--rate 20000`" + `), so every late wake-up lost tokens for good; it holds one second now (see the 100k section; with 100 ms it still
  sent 13,594 at load ~12: the loop is not scheduled for longer than that now and then on this machine).
  Every probe sent was answered (loss column), and every host had been probed by the window's end (up column).
- **CPU** is mostly the history store in this window (~48 % of the samples): the first minute's 1M new checks and
  hosts (multi-row inserts, ~25 CPU-s once) and 1M rollup rows a minute (~8 CPU-s a minute at steady state in
  ` + "`go test`" + `, i.e. ~13 % of a core: SQLite's B-tree work through the pure-Go driver), then the GC (~19 %: a 2 GB heap)
  and the engine (~20 %). The store writes a minute's rows in commits of 50,000 interleaved with the next second's
  state changes, so events are still committed within about a second while a minute's rows take several seconds.
- **RSS** is about 5 GiB: a live heap near 2 GB (table and snapshots ~420 MB, the parsed target list still held
  ~600 MB, the store's per-check rollups ~230 MB, RTT histograms, alert state) doubled by GOGC=100.

`

func (e *env) monitorSizes() []int {
	if len(e.sizes) > 0 {
		return e.sizes
	}
	if e.quick {
		return []int{1000, 5000}
	}
	return []int{10000, 100000}
}

func (e *env) monitor() string {
	var b strings.Builder
	sizes := e.monitorSizes()
	warm, window := e.monitorTiming()
	var names []string
	for _, n := range sizes {
		names = append(names, fmt.Sprintf("%dk", n/1000))
	}
	if e.interval == 10*time.Second {
		fmt.Fprintf(&b, "## Continuous monitoring: %s targets at a 10 s interval\n\n", strings.Join(names, " and "))
	} else { // its own heading, so -update keeps both sections
		fmt.Fprintf(&b, "## Continuous monitoring every %v: %s targets\n\n", e.interval, strings.Join(names, " and "))
	}
	fmt.Fprintf(&b, "`hb-probe` in daemon mode (as packaged, but with an empty config file and a fresh history database in a temp\n")
	fmt.Fprintf(&b, "directory) probes every target every %v from the prober namespace; its state table, SQLite history and API run\n", e.interval)
	b.WriteString("as in production. ")
	if e.echoFleet {
		b.WriteString("The simulated hosts answer by the kernel's echo path (`-fleet echo`).\n")
	} else {
		b.WriteString("The simulated hosts answer as our monitored hosts do, with hb-responder's XDP program: hb's eBPF\n")
		b.WriteString("program (`bpf/`, loaded by the harness: `hbbench bpf-responder -fleet N`) attached in native XDP mode to the hosts' veth,\n")
		b.WriteString("answering hb's probes to every fleet address in the kernel with a clear health blob and no rate limit (an XDP_PASS\n")
		b.WriteString("program on the prober's veth makes it deliver XDP_TX: `hbbench xdp-pass`). Both veths run their NAPI in kernel threads,\n")
		b.WriteString("so that the hosts' work is not billed to the daemon and its own replies' receive is measured on its own (see *Whose\n")
		b.WriteString("CPU is counted* below the table).\n")
	}
	fmt.Fprintf(&b, "After it logs `monitoring`, the harness waits for the end of its start-up (it logs `hosts by state` once every check\n")
	fmt.Fprintf(&b, "has had its first result, interval + timeout + 2 s later, and hands the start-up's heap back), then %.0f s, then\n", warm.Seconds())
	fmt.Fprintf(&b, "measures a %.0f s window (n=1 per row):\n", window.Seconds())
	b.WriteString("*start-up* = wall time from the process's start to `hosts by state`, and the daemon's CPU time meanwhile (not in the window);\n")
	b.WriteString("*CPU %* = the daemon's utime+stime from `/proc/PID/stat` over the window ÷ its length (100 % = one core; with the XDP fleet\n")
	b.WriteString("plus its replies' receive NAPI thread's, see below);\n")
	b.WriteString("*RSS* = `VmRSS` at the window's end, *peak* = `VmHWM` (start-up included); *probes/s* and *loss* from the\n")
	b.WriteString("daemon's own counters (`GET /api/v1/summary`: `sent_total`, and timeouts + ICMP errors ÷ all results, over the window);\n")
	b.WriteString("where the kernel lost packets outside the daemon over the window, the loss column says so: *the fleet's echo failed*\n")
	b.WriteString("= the simulated hosts' ICMP output errors (`Icmp OutErrors` + `Icmp6OutErrors` of their namespace's `/proc/net/snmp*`:\n")
	b.WriteString("the kernel sends every echo reply through one ICMP socket per CPU, whose fixed send buffer holds ~100 of hb's replies\n")
	b.WriteString("until the prober's side has received them; the rest of a burst fails and times out in the daemon), *backlog drops* =\n")
	b.WriteString("`/proc/net/softnet_stat`'s (every CPU's input backlog full, `net.core.netdev_max_backlog`);\n")
	b.WriteString("*health blobs* = the daemon's `hb_health_blobs_total` ok (bad) and `hb_health_blob_errors_total` from `/metrics` after the\n")
	b.WriteString("window (since start); *XDP* = the fleet's program's counters over the daemon's life: replies it sent, frames it passed to the\n")
	b.WriteString("hosts' kernel (ARP, ND, anything not an hb probe);\n")
	b.WriteString("*up* = hosts in state up at the window's end (`states.up` ÷ `hosts`).")
	if len(sizes) == 2 && e.interval == 10*time.Second && e.rate == 0 {
		b.WriteString(" The third row repeats the largest size with\n")
		b.WriteString("the Go runtime's soft memory limit `" + memLimitEnv + "` in the daemon's environment; everything else is hb-probe's defaults\n")
		b.WriteString("(1 s timeout, `--rate 10000`, which is exactly 100k targets ÷ 10 s).")
	} else {
		b.WriteString(" Options as in the command column; the rest are\nhb-probe's defaults (1 s timeout). The expected probes/s is targets ÷ interval.")
	}
	compare := e.interval == 10*time.Second && !e.echoFleet // not the 1M scale row: a second 1M daemon would double its minutes and memory
	if compare {
		b.WriteString(" The row marked *" + echoLabel + "* repeats the largest\n")
		b.WriteString("size with the fleet answering by the kernel's ICMP echo instead (no XDP program on either veth), for comparison with\n")
		b.WriteString("earlier figures: on a veth the receiver's softirq runs inside the sender's `sendmmsg`, so that row bills the simulated\n")
		b.WriteString("hosts' whole echo path (`icmp_rcv`, routing, `icmp_reply`) to hb-probe, which no real network does.")
	}
	b.WriteString("\n\n")
	t := bench.Table{Header: []string{"targets", "command", "CPU % of one core", "RSS MiB (peak)", "probes/s sent (expected)", "loss %", "up at end", "window", "start-up: wall s, CPU-s", "health blobs ok (bad), decode errors; XDP"}}
	var res []monitorResult
	if e.probeDaemon != "" {
		for _, n := range sizes {
			t.Add(fmt.Sprint(n), "`hb-probe --targets FILE --interval 10s`", e.probeDaemon)
		}
		b.WriteString(t.Markdown())
		b.WriteString("\n**Target** 100k targets at 10 s within 10 % of one core and 150 MiB RSS without GOMEMLIMIT: pending (daemon mode " + notAvail + ").\n\n")
		return b.String()
	}
	// The third row repeats the largest size with a Go soft memory limit
	// (the runtime's GOMEMLIMIT): with the default GOGC=100 the heap grows
	// to twice the live data before a collection. With compare, the
	// largest size again with the kernel's echo as the fleet; then the
	// largest size with the XDP fleet billed to the daemon (no threaded
	// NAPI, the accounting before 2026-12-02). With -fleet echo, the
	// largest size steered (runMonitor).
	xdp := !e.echoFleet
	var runs []monitorOpts
	var ns []int
	add := func(n int, o monitorOpts) { runs, ns = append(runs, o), append(ns, n) }
	big := sizes[len(sizes)-1]
	if len(sizes) == 2 {
		add(sizes[0], monitorOpts{xdp: xdp})
		add(big, monitorOpts{api: true, xdp: xdp})
		add(big, monitorOpts{xdp: xdp, environ: []string{memLimitEnv}})
	} else { // -sizes: each once, no API, no limit row
		for _, n := range sizes {
			add(n, monitorOpts{xdp: xdp})
		}
	}
	if compare {
		add(big, monitorOpts{xdp: xdp, billed: true})
		add(big, monitorOpts{})
	}
	steer := e.interval == 10*time.Second && !xdp // the kernel-echo fleet's steered row
	if steer {
		add(big, monitorOpts{steer: true})
	}
	for i, o := range runs {
		n := ns[i]
		r := e.runMonitor(n, o)
		res = append(res, r)
		label := fmt.Sprint(n)
		switch {
		case o.billed:
			label += " (" + billedLabel + ")"
		case o.steer:
			label += " (fleet's echo on CPU 1)"
		case !o.xdp && xdp:
			label += " (" + echoLabel + ")"
		}
		if r.err != "" {
			t.Add(label, "`"+r.cmdline+"`", r.err)
			continue
		}
		hc := fmt.Sprintf("%d (%d), %d", r.health.OK, r.health.Bad, r.health.Errors)
		if !r.health.Found {
			hc = "— (no /metrics)"
		}
		if c := r.xdpCounters; c != nil {
			hc += fmt.Sprintf("; XDP answered %d, passed %d", c.Answered, c.Passed)
		} else if o.xdp {
			hc += "; XDP counters lost"
		}
		t.Add(label, "`"+r.cmdline+"`", r.cpuText(),
			fmt.Sprintf("%s (%s)", fmtBytes(float64(r.rss)), fmtBytes(float64(r.hwm))),
			fmt.Sprintf("%.0f (%.0f)", r.w.SentPerSec, float64(n)/e.interval.Seconds()),
			fmt.Sprintf("%.3f (%d of %d results%s)", r.w.LossPct, r.w.Failed, r.w.Answered+r.w.Failed, r.drops.note()),
			fmt.Sprintf("%d of %d", r.up, r.hosts), fmt.Sprintf("%.0f s", r.window.Seconds()),
			startText(r), hc)
	}
	b.WriteString(t.Markdown())
	b.WriteString("\n")
	var steered, echo, billed monitorResult
	if compare {
		billed, echo = res[len(res)-2], res[len(res)-1]
	}
	head := res[len(sizes)-1] // the largest size's first row
	if len(sizes) == 2 {
		head = res[1]
	}
	if xdp {
		b.WriteString(threadedNote(head, billed))
	}
	if steer {
		steered = res[len(res)-1]
		plain := res[len(sizes)-1] // the largest size's first row
		if len(sizes) == 2 {
			plain = res[1] // not the GOMEMLIMIT row
		}
		b.WriteString(steeredNote(steered, plain))
	}
	if len(sizes) == 2 {
		e.apiResult = &res[1]
		small, big := res[0], res[1]
		if small.err == "" && big.err == "" && small.totalPct() > 0 && small.rss > 0 {
			fmt.Fprintf(&b, "From %d to %d targets (%.0f×): CPU %.1f× (%.1f → %.1f %%), RSS %.1f× (%s → %s MiB), peak RSS %.1f×.\n\n",
				small.n, big.n, float64(big.n)/float64(small.n), big.totalPct()/small.totalPct(), small.totalPct(), big.totalPct(),
				float64(big.rss)/float64(small.rss), fmtBytes(float64(small.rss)), fmtBytes(float64(big.rss)), float64(big.hwm)/float64(small.hwm))
		}
	}
	if head.err != "" || head.n != 100000 || e.interval != 10*time.Second {
		if e.interval == 10*time.Second {
			b.WriteString("**Target** 100k targets at 10 s within 10 % of one core and 150 MiB RSS without GOMEMLIMIT: not measured in this run.\n\n")
		}
		return b.String()
	}
	fleet := "the fleet answering by hb's XDP responder, its work in its own NAPI thread"
	if !xdp {
		fleet = "the fleet answering by the kernel's echo (billed to the daemon on a veth)"
	}
	fmt.Fprintf(&b, "**Target** (issue 11) 100k targets at 10 s within 10 %% of one core and 150 MiB RSS without GOMEMLIMIT, %s, after the start-up: %s, %s MiB at the window's end, %s MiB at the run's peak (VmHWM, start-up included) — CPU %s, RSS %s at the window's end, %s at the peak. The start-up itself (not in that figure): %.1f s from the process's start to `hosts by state`, %s.\n\n",
		fleet, head.cpuPctText(), fmtBytes(float64(head.rss)), fmtBytes(float64(head.hwm)), reached(head.totalPct() <= 10), reached(head.rss <= 150<<20), reached(head.hwm <= 150<<20), head.startWall.Seconds(), startCPUText(head))
	if compare && billed.err == "" {
		fmt.Fprintf(&b, "With the fleet's XDP work billed to the daemon as before 2026-12-02 (both veths' NAPI in softirq inside its `sendmmsg`: the hosts' program and the replies' receive): %.1f %%.\n\n", billed.cpuPct)
	}
	if compare && echo.err == "" {
		fmt.Fprintf(&b, "With the fleet answering by the kernel's echo instead (its echo path billed to the daemon): %.1f %%.\n\n", echo.cpuPct)
	}
	if steer && steered.err == "" && steered.n == 100000 {
		fmt.Fprintf(&b, "With the fleet's echo steered to CPU 1 (the steered row, a lower bound): %.1f %% — CPU %s.\n\n", steered.cpuPct, reached(steered.cpuPct <= 10))
	}
	if len(sizes) == 2 {
		if limited := res[2]; limited.err == "" {
			fmt.Fprintf(&b, "With `%s`: %s, %s MiB (peak %s MiB) — CPU %s, RSS %s.\n\n", memLimitEnv,
				limited.cpuPctText(), fmtBytes(float64(limited.rss)), fmtBytes(float64(limited.hwm)), reached(limited.totalPct() <= 10), reached(limited.hwm <= 150<<20))
		}
	}
	b.WriteString(monitorWhy)
	b.WriteString(enginePaceHistory)
	return b.String()
}

// startCPUText is the start-up's CPU time: the daemon's, plus its receive
// NAPI thread's with threaded accounting.
func startCPUText(r monitorResult) string {
	if !r.threaded {
		return fmt.Sprintf("%.1f CPU-s", r.startCPU.Seconds())
	}
	return fmt.Sprintf("%.1f CPU-s (%.1f daemon + %.1f its receive NAPI thread)", (r.startCPU + r.startRx).Seconds(), r.startCPU.Seconds(), r.startRx.Seconds())
}

// startText is the start-up column: wall time and CPU time.
func startText(r monitorResult) string {
	return fmt.Sprintf("%.1f s, %s", r.startWall.Seconds(), startCPUText(r))
}

// threadedNote says how the XDP fleet's rows account the veths' receive
// work: head (the headline row, threaded) against billed (the same
// without threaded NAPI; err set if not run).
func threadedNote(head, billed monitorResult) string {
	var b strings.Builder
	b.WriteString("**Whose CPU is counted.** On a veth the receiver's work runs in the sender's context: without more, the hosts' veth\n")
	b.WriteString("runs its NAPI poll (veth's copy of each request into a page-pool page, hb's XDP program with its lookups in a\n")
	b.WriteString("100k-entry address map: the simulated hosts' work, which on a real network runs on the hosts) in softirq inside the\n")
	b.WriteString("daemon's own `sendmmsg`, and the prober's veth runs the replies' receive (IP input, the AF_PACKET ring) there too.\n")
	b.WriteString("So the XDP fleet's rows run both veths' NAPI in kernel threads (threaded NAPI: sysfs `threaded` = 1 on `" + bench.HostsIf + "` and `" + bench.ProberIf + "`,\n")
	b.WriteString("set from inside each namespace after the XDP attach; threads `napi/" + bench.HostsIf + "-N` and `napi/" + bench.ProberIf + "-N`, found as the ones the write\n")
	b.WriteString("created), both at `SCHED_FIFO` 50 so that they run as soon as woken, as a softirq would (under the default policy a\n")
	b.WriteString("thread waited for a CPU while its sender filled the veth's 256-frame ring: 0.2 % of the probes lost). *CPU %* is then\n")
	b.WriteString("the daemon's own (`/proc/PID/stat`) **plus** the prober veth's NAPI thread's over the same window\n")
	b.WriteString("(its `/proc/TID/stat`: the replies' receive, the monitoring host's own work, which a NIC's interrupt would bill to whatever\n")
	b.WriteString("it interrupts), shown as the sum and its parts; the hosts' NAPI thread is the fleet's and is not counted. The start-up\n")
	b.WriteString("column adds the receive thread's CPU likewise. The row marked *" + billedLabel + "* is the same fleet without\n")
	b.WriteString("threaded NAPI, the accounting of earlier figures, the fleet's work included. Since the probes leave by a `PACKET_TX_RING`\n")
	b.WriteString("the threaded total is the lower by about the hosts' thread, as it should be. With `sendmmsg` it was not (2026-12-02, three\n")
	b.WriteString("harness runs: 1.2-2.8 points over the billed row): by hand on 2026-12-03, 45 s of steady state on this fleet, the same\n")
	b.WriteString("daemon built with the ring and without it measured 5.7 % (3.9-4.1 daemon + 1.7-1.8 receive thread) against 9.3-9.9 %\n")
	b.WriteString("(5.7-6.0 + 3.6-3.9): the receive thread cost twice as much (inferred: fewer replies a wake-up; not traced), and ~1.5 % of the TX stamps never came,\n")
	b.WriteString("each such reply reading two empty error queues (since then once a receive pass). The billed row overstates the daemon's\n")
	b.WriteString("cost by the hosts' work; the threaded one bills it a receive thread that a NIC's interrupt would share with other work.")
	if head.threaded && head.err == "" && head.window > 0 {
		fmt.Fprintf(&b, " Over the headline row's window the hosts' NAPI thread (the fleet's work, not counted) used %.1f %% of a core", head.fleetPct)
		if len(head.cpus) >= 1 {
			fmt.Fprintf(&b, ", and /proc/stat's softirq time (every CPU, every process on this shared machine) was %.1f %%", 100*float64(head.cpus[0].SoftIRQ)/100/head.window.Seconds())
			if billed.err == "" && len(billed.cpus) >= 1 && billed.window > 0 {
				fmt.Fprintf(&b, " (%.1f %% over the billed row's)", 100*float64(billed.cpus[0].SoftIRQ)/100/billed.window.Seconds())
			}
		}
		b.WriteString(".")
	}
	b.WriteString("\n\n")
	return b.String()
}

// steeredNote says what the steered row (the last) includes, against the
// unsteered row of the same size and fleet (plain), with the window's
// per-CPU softirq time from /proc/stat.
func steeredNote(r, plain monitorResult) string {
	var b strings.Builder
	{
		b.WriteString("The row marked *fleet's echo on CPU 1* is the fleet answering by the kernel's echo, with the daemon pinned to CPU 0\n")
		b.WriteString("(`taskset -c 0`) and receive packet steering on the veth pair, set from inside each namespace: `rps_cpus` = 2 on the hosts' `" + bench.HostsIf + "`\n")
		b.WriteString("(the simulated hosts' receive and kernel echo run on CPU 1) and = 1 on the prober's `" + bench.ProberIf + "` (the replies'\n")
		b.WriteString("receive runs on CPU 0, the daemon's, as a NIC's interrupt on the monitoring host would). Without it, a veth runs the\n")
		b.WriteString("receiver's softirq inside the sender's `sendmmsg`, so the unsteered row bills the simulated hosts' echo work to\n")
		b.WriteString("hb-probe; a real network never runs the monitored hosts' echo on the monitor.")
	}
	b.WriteString(" The steered row still includes the\n")
	b.WriteString("daemon's own send path and, whenever a reply's softirq interrupts it on CPU 0, that receive too (this kernel has no\n")
	b.WriteString("`CONFIG_IRQ_TIME_ACCOUNTING`: softirq time is charged to the task it interrupts); replies received while CPU 0 runs\n")
	b.WriteString("another task, or idle, are not, as on a monitoring host with a NIC. So the daemon with all of its own replies'\n")
	b.WriteString("receive costs between the steered row (a lower bound) and the unsteered row of the same fleet (an upper bound: the fleet's work included).")
	if r.err == "" && len(r.cpus) >= 3 && r.window > 0 {
		pct := func(ticks uint64) float64 { return 100 * float64(ticks) / 100 / r.window.Seconds() } // USER_HZ
		fmt.Fprintf(&b, " Over the steered window, /proc/stat's softirq time: CPU 0 %.1f %%, CPU 1 %.1f %% of a core\n", pct(r.cpus[1].SoftIRQ), pct(r.cpus[2].SoftIRQ))
		fmt.Fprintf(&b, "(the fleet's work and the replies' transmit are CPU 1's share; other processes' softirq work on this shared machine is included)")
		if plain.err == "" && len(plain.cpus) >= 3 && plain.window > 0 {
			pp := func(ticks uint64) float64 { return 100 * float64(ticks) / 100 / plain.window.Seconds() }
			fmt.Fprintf(&b, "; over the unsteered row's window: CPU 0 %.1f %%, CPU 1 %.1f %%", pp(plain.cpus[1].SoftIRQ), pp(plain.cpus[2].SoftIRQ))
		}
		b.WriteString(".")
	}
	b.WriteString("\n\n")
	return b.String()
}

// enginePaceHistory records the daemon's figures before and after the
// engine's pacing and batching changes (measured by hand, one run each, on
// the shared machine: CPU % moves with its load).
const enginePaceHistory = `Before and after the engine's pacing and batching changes (2026-12-02, one run each on the shared 2-vCPU
machine, whose load moves the CPU column by ±10 points; ` + "`bench/run.sh -only monitor -runs 1 -sizes 100000`" + ` and
` + "`bench/run.sh -only monitor1m -runs 1`" + `, the last rows by ` + "`-only monitor,monitor1m -runs 1 -update`" + `, i.e. the tables above):

| targets @ interval (rate) | engine | load average | CPU % of one core | probes/s sent (expected) |
| --- | --- | --- | --- | --- |
| 100k @ 10 s (10,000) | before: rate bucket one batch deep, a sendmmsg per due probe, woken per reply (previous session's row) | ~12 | 17.9 | 6,381 (10,000) |
| 100k @ 10 s (10,000) | the same code | 0.85 | 36.9 | 9,704 (10,000) |
| 100k @ 10 s (10,000) | bucket 100 ms deep; full batches (10 ms linger); naps without watching the sockets | ~8 | 35.8 | 9,999 (10,000) |
| 100k @ 10 s (10,000) | + linger slept through; histograms and store find checks by table index (event.IDCache) | 6-9 | 25.2 | 9,955 (10,000) |
| 100k @ 10 s (10,000) | + bucket one second deep (the table above) | 5-10 | 27.3 | 10,004 (10,000) |
| 1M @ 60 s (20,000) | before (previous session's row) | ~12 | 69.5 | 13,016 (16,667) |
| 1M @ 60 s (20,000) | bucket 100 ms deep; full batches; naps | ~7 | 58.6 | 16,598 (16,667) |
| 1M @ 60 s (20,000) | + event.IDCache, bucket still 100 ms | ~12 | 68.3 | 13,594 (16,667) |
| 1M @ 60 s (20,000) | + bucket one second deep | 7-10 | 72.8 | 16,708 (16,667) |
| 1M @ 60 s (20,000) | the same (the next section's table) | 5-10 | 48.0 | 16,668 (16,667) |

`

// billedLabel marks the monitor row whose XDP fleet runs its veths' NAPI
// in softirq, billed to the daemon.
const billedLabel = "fleet's XDP and the replies' receive in the daemon's sendmmsg: all billed to it, as before 2026-12-02"

// echoLabel marks the monitor row whose fleet answers by the kernel's echo.
const echoLabel = "fleet answers by the kernel's echo: its echo runs in the daemon's sendmmsg on a veth"

// memLimitEnv is the soft memory limit of the monitor table's last row.
const memLimitEnv = "GOMEMLIMIT=150MiB"

// monitorWhy explains the 100k figures. It comes from profiling the
// daemon by hand on the same fleet: hbbench -only monitor -sizes 100000
// -pprof DIR (the daemon's /debug/pprof/ CPU profile over the window and a
// heap profile after it) and perf record -g -p PID for the kernel side.
const monitorWhy = `Where the 100k row's CPU and memory go (2026-12-02, measured by hand on this fleet: ` + "`hbbench fleet -n 100000 [-steer]`" + ` and the
daemon run in its prober namespace with ` + "`[api] pprof = true`" + `; ` + "`perf record -g -p PID`" + `, ` + "`/proc/PID/smaps`" + `, ` + "`/debug/pprof/heap`" + `):
- **The XDP fleet** (` + "`hbbench fleet -n 100000 -xdp`" + `, before threaded NAPI, i.e. as the billed row; ` + "`perf record -F 999 -g -p PID`" + ` over 30 s of steady state, 19.5 % of a core). Every
  reply now carries a health blob, and the daemon keeps the newest per check. Until 2026-12-02 ` + "`monitor.observation`" + ` copied each
  ` + "`wire.Health`" + ` (~160 bytes) to the heap and the table held one per check (~19 MB live at 100k, 10,000 allocations a second,
  doubled by GOGC=100: RSS 167-186 MiB); now the blob goes by value to the table, which keeps it in a slot beside the check's record
  off the heap (` + "`state`" + `'s hslot, ~17 MB at 100k, counted once): by hand, A/B, RSS 146 against 170-184 MiB, peak 151-152 against
  179-187 (the kernel echo returns the request's empty room: no blob). In CPU the blobs cost ~5 % of the samples (measured before
  that change: decoding with its CRC ~1.6 %, the copy and allocation ~2 %, the GC ~1 %). The softirq inside the
  daemon's ` + "`sendmmsg`" + ` is still ~36 % of its samples (with the kernel echo ~39 %): XDP on a veth is not a NIC's fast path. For
  the hosts (~14 %, ~2.8 points of a core: the fleet's work, which the threaded rows leave out) veth copies each request
  into a page-pool page (~4 %), runs hb's program (~9 %, most of it its two lookups in a 100k-entry address map: cache and TLB
  misses in this nested VM; a real host's map holds a few addresses) and passes the reply to the prober's veth as an XDP
  frame; the other ~14 % is the replies' receive on the prober's side (IP input, the AF_PACKET ring, ` + "`icmp_rcv`" + `), the monitoring
  host's own work. The bullets below were measured with the kernel-echo fleet, before the fleet answered by XDP.
- **The minute's rollup write** (XDP fleet, health blobs in every row; 2026-12-02). The RSS stepped up ~20 MiB at the first
  minute's write (and a few more at later ones) and the run's peak came there. It was the Go heap: the write allocated ~11 MB in
  half a second (each statement argument boxed into a ` + "`driver.Value`" + `, ~72 bytes a row with health sums; the batch's health sums
  on the heap, regrown when the early rows joined them), so a collection ran mid-write and counted what the write held as
  live, raising the heap's goal (45 → 51 → 64 MB); and the minute's rows (off the heap) were copied to a place twice their
  size when the early rows joined (~20 MB mapped for an instant). SQLite's own memory did not move. Now the rows and health
  sums stay outside the heap (` + "`store`" + `'s olist), the numbers reach the driver through reused argument cells (` + "`store/cells.go`" + `)
  and the sweep makes room once: the write allocates ~30 kB on the heap (` + "`BenchmarkMinute100kChecks`" + ` heap-kB/minute-write,
  was 11,239), the heap's goal stays ~36 MB, and what remains at the write is the minute's rows themselves, off the heap
  (64 bytes a row and 40 of health sums, ~10 MB for the half second until they are written).
  By hand, A/B alternated (` + "`HB_FLEET=-xdp steady.sh BINDIR 120`" + `): RSS flat at 124-126 MiB against 122-124 → 143-145 (first
  write) → 149-150 (second), peak 137.6 and 138.7 MiB against 154.4 and 156.2; CPU per 15 s slice unchanged within noise.
- **Memory.** At the window's end the RSS is the Go heap's pages (~50 MB for a live heap of ~25 MB: the table's hosts and checks
  10 MB, the writer's event copies, the dashboard's change ring 3 MB, queues), ~60 MB mapped outside the heap (` + "`internal/offheap`" + `:
  the table's 320-byte records 32 MB, the store's per-check records and host list ~9 MB, the RTT histograms' series 3.4 MB, the
  prober's target list, wheel and in-flight table ~11 MB, packet rings 2 MB) and ~19 MB of the binary's pages. The peak is
  the start-up (parsing, resolving, building, the first round's 100k state changes through every sink), handed back to the
  system once every check has had its first result. The kernel-echo fleet's steered row's RSS was higher and still grew at its window's end
  (measured before a2c727d): its fleet drops ~0.3 % of the replies (below), and the event log's subscriber, which lags,
  held the writer's pooled event memory of every drain with a state change in its queue; it now gets copies of those few
  events. Its RTTs vary more (the replies cross CPUs), so more RTT histogram series move to their dense counts (on the heap).
- **CPU.** Over half of the plain row's samples are the kernel's: sending (` + "`sendmmsg`" + ` on the AF_PACKET socket, ~1.4 µs of our own
  work a probe), the TX timestamp (~0.2 µs to make, ~0.45 µs to read back from the error queue, read only while stamps are
  owed), the replies' receive into the ring, and on a veth also the simulated hosts' echo, which runs inside our ` + "`sendmmsg`" + `
  (~2.7 % of a core; the kernel-echo fleet's steered row, ` + "`-fleet echo`" + `, moves it to CPU 1 and pays ~3.3 % instead for receiving the replies cold, by IPI, on the
  daemon's CPU: this kernel bills softirq time to the task it interrupts). User space: the table's ` + "`Apply`" + ` (one record, off
  the heap, on huge pages), the RTT histograms (a 32-byte series a result), the store's sums and its once-a-minute rollup
  write (~0.6 s of CPU at 100k checks, which is why the window is a whole minute), the Go runtime's sysmon and scheduler
  (~2 % of a core: ~500 wake-ups a second). Garbage at the daemon's pace: ~0 (a result through the core allocates nothing, with or without a health blob).
- **The kernel-echo fleet's steered row's loss is the fleet's, not the daemon's** (` + "`-fleet echo`" + `): the simulated hosts send every echo reply through one ICMP
  socket per CPU whose send buffer holds ~100 replies until the prober side has received them; when the replies wait in
  CPU 0's backlog while the daemon is still sending the burst they answer, the rest fail (` + "`Icmp OutErrors`" + ` in the hosts'
  namespace, shown in the loss column, equals the daemon's timeouts).

`

func (e *env) api() string {
	var b strings.Builder
	r := e.apiResult
	if r == nil && e.probeDaemon == "" { // -only api: run the big daemon here
		sizes := e.monitorSizes()
		x := e.runMonitor(sizes[len(sizes)-1], monitorOpts{api: true, xdp: !e.echoFleet})
		r = &x
	}
	n := 100000
	if r != nil {
		n = r.n
	}
	fmt.Fprintf(&b, "## API: /api/v1/hosts/{name} and /metrics while probing %dk targets\n\n", n/1000)
	b.WriteString("Measured against the daemon of the previous section's largest row right after its window, while it keeps probing\n")
	b.WriteString("every target every 10 s. wrk and the client run in the prober namespace and reach the API on its loopback\n")
	b.WriteString("(127.0.0.1:8787, the default); they share the 2 CPUs with the daemon. `/api/v1/hosts/{name}` is one host's full\n")
	b.WriteString("object (state, RTT statistics, the last 20 results); `/metrics` is the Prometheus text for every host, timed\n")
	b.WriteString("from request to the body's last byte by a Go `net/http` client (`hbbench http-time`).\n\n")
	t := bench.Table{Header: []string{"measure", "tool", "command", "result"}}
	wrkV := version("wrk", "-v")
	switch {
	case e.probeDaemon != "":
		t.Add("requests/s, /api/v1/hosts/{name}", wrkV, "`wrk -t2 -c16 -d5s http://127.0.0.1:8787/api/v1/hosts/NAME`", e.probeDaemon)
		t.Add(fmt.Sprintf("time to render /metrics, %dk hosts", n/1000), "Go net/http client", "`GET http://127.0.0.1:8787/metrics`", e.probeDaemon)
	case r.err != "":
		t.Add("requests/s, /api/v1/hosts/{name}", wrkV, "", "daemon did not run: "+r.err)
	case r.apiErr != "" && len(r.wrkRPS) == 0:
		t.Add("requests/s, /api/v1/hosts/{name}", wrkV, "`"+r.wrkArgs+"`", r.apiErr)
	default:
		rps := bench.Summarize(r.wrkRPS).Format("%.0f")
		if len(r.wrkRPS) == 0 {
			rps = "error: wrk reported nothing"
		}
		t.Add("requests/s, /api/v1/hosts/{name}", wrkV, "`"+r.wrkArgs+"`", rps)
		ms := bench.Summarize(r.metricsMS).Format("%.0f") + fmt.Sprintf("; body %s MiB", fmtBytes(r.metricsBytes))
		if len(r.metricsMS) == 0 {
			ms = r.apiErr
		}
		t.Add(fmt.Sprintf("time to render /metrics, %dk hosts, ms", r.n/1000), "Go net/http client", "`"+r.metricsCmd+"`", ms)
		if r.apiWindow > 0 {
			t.Add("daemon CPU % while serving these (probing included)", "/proc/PID/stat", "", fmt.Sprintf("%.1f over %.0f s", r.apiCPUPct, r.apiWindow.Seconds()))
			t.Add("probe loss % while serving these", "`GET /api/v1/summary`", "", fmt.Sprintf("%.3f (%d of %d results); %.0f probes/s sent",
				r.apiW.LossPct, r.apiW.Failed, r.apiW.Answered+r.apiW.Failed, r.apiW.SentPerSec))
		}
	}
	b.WriteString(t.Markdown())
	b.WriteString("\n")
	return b.String()
}
