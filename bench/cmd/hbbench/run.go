// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hbmon/hb/bench"
	"github.com/hbmon/hb/internal/testutil"
)

// env is one benchmark run's shared state.
type env struct {
	fleet       *bench.Fleet
	self        string // this executable, run inside namespaces
	hbProbe     string
	hbResponder string
	runs        int
	quick       bool
	tmp         string

	probeOnce   string // "" when hb-probe --once works, else why not
	probeDaemon string // "" when daemon mode works, else why not

	hbFullRTTErr float64 // µs, hb-probe's full-rate median RTT error

	apiResult *monitorResult // the largest monitor run, with its API figures

	pprofDir string        // -pprof: CPU and heap profiles of each monitor run go here
	sizes    []int         // -sizes: monitor sizes instead of the defaults
	interval time.Duration // -interval: the monitor's probe interval (default 10s)
	rate     int           // -rate: the monitor's --rate (0: hb-probe's default)
	extraCfg string        // -daemon-config: TOML appended to the monitor daemon's config (alert rules)
	// echoFleet (-fleet echo): the monitor rows' simulated hosts answer by
	// the kernel's echo path, not by hb's XDP responder program.
	echoFleet bool
}

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atCleanup(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

func runCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	out := fs.String("out", "docs/benchmarks.md", "write the report here ('-' for stdout)")
	prefix := fs.String("prefix", fmt.Sprintf("hbb%d", os.Getpid()), "namespace name prefix")
	runs := fs.Int("runs", 5, "repetitions per measurement")
	quick := fs.Bool("quick", false, "small sizes, for developing the harness")
	only := fs.String("only", "", "comma-separated sections: sweep,rtt,responder,monitor,api,push,gobench")
	hbProbe := fs.String("hb-probe", "bin/hb-probe", "hb-probe binary")
	hbResponder := fs.String("hb-responder", "bin/hb-responder", "hb-responder binary")
	pprofDir := fs.String("pprof", "", "monitor: enable the daemon's /debug/pprof/ and save a CPU profile of each window and a heap profile after it in `DIR` (profiling costs the daemon a little CPU)")
	sizesFlag := fs.String("sizes", "", "monitor: comma-separated target counts (default 10000,100000; -quick 1000,5000); beyond 131,070 the targets continue in 2001:2::/64")
	interval := fs.Duration("interval", 10*time.Second, "monitor: probe interval")
	rate := fs.Int("rate", 0, "monitor: hb-probe --rate (0: its default)")
	update := fs.Bool("update", false, "with -only: replace only those sections in the -out file (matched by their headings), keeping the rest")
	fleetMode := fs.String("fleet", "xdp", "monitor: how the simulated hosts answer the daemon: `xdp` (hb's XDP responder program on their veth, as on monitored hosts) or echo (the kernel's echo path, which on a veth runs in the daemon's sendmmsg)")
	extraCfg := fs.String("daemon-config", "", "monitor: append this TOML `FILE` to the daemon's (otherwise empty) config, e.g. alert rules")
	fs.Parse(args)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hbbench-")
	if err != nil {
		return err
	}
	atCleanup(func() { os.RemoveAll(tmp) })
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "hbbench: %v: cleaning up\n", s)
		runCleanups()
		os.Exit(130)
	}()
	defer runCleanups()

	if err := bench.DeleteStale(*prefix); err != nil {
		return err
	}
	f, err := bench.NewFleet(bench.FleetConfig{Prefix: *prefix, Block: testutil.SimPrefix, Block6: netip.MustParsePrefix("2001:2::/64")})
	if err != nil {
		return err
	}
	atCleanup(func() {
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "hbbench: fleet cleanup:", err)
		}
	})
	if *fleetMode != "xdp" && *fleetMode != "echo" {
		return fmt.Errorf("-fleet: want xdp or echo, not %q", *fleetMode)
	}
	e := &env{fleet: f, self: self, runs: *runs, quick: *quick, tmp: tmp, pprofDir: *pprofDir, interval: *interval, rate: *rate, extraCfg: *extraCfg, echoFleet: *fleetMode == "echo"}
	for _, v := range strings.Split(*sizesFlag, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("-sizes: bad count %q", v)
		}
		e.sizes = append(e.sizes, n)
	}
	e.hbProbe, _ = filepath.Abs(*hbProbe)
	e.hbResponder, _ = filepath.Abs(*hbResponder)
	e.detect()

	want := func(s string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), s)
	}
	var doc strings.Builder
	if !*update {
		doc.WriteString(header(e, os.Args))
	}
	start := time.Now()
	for _, s := range []struct {
		name string
		fn   func() string
	}{
		{"sweep", e.sweep},
		{"rtt", e.rtt},
		{"responder", e.responder},
		{"monitor", e.monitor},
		{"api", e.api}, // right after monitor: it reports on monitor's largest daemon
		{"monitor1m", e.monitor1M},
		{"push", e.push},
		{"gobench", e.gobench},
	} {
		if !want(s.name) {
			continue
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "hbbench: %s…\n", s.name)
		doc.WriteString(s.fn())
		fmt.Fprintf(os.Stderr, "hbbench: %s done in %.0fs\n", s.name, time.Since(t0).Seconds())
	}
	if *update {
		if *out == "-" || *only == "" {
			return fmt.Errorf("-update needs -only and an -out file")
		}
		old, err := os.ReadFile(*out)
		if err != nil {
			return err
		}
		load, _ := os.ReadFile("/proc/loadavg")
		note := fmt.Sprintf("_This section: `hbbench %s` on %s, %.0f s, load average %s (a shared machine: other work shows up as spread)._\n\n",
			strings.Join(os.Args[1:], " "), time.Now().UTC().Format(time.RFC3339), time.Since(start).Seconds(), strings.Join(strings.Fields(string(load))[:3], " "))
		return os.WriteFile(*out, []byte(bench.ReplaceSections(string(old), doc.String()+note)), 0o644)
	}
	fmt.Fprintf(&doc, "\n_Whole run: %.0f s._\n", time.Since(start).Seconds())
	if *out == "-" {
		_, err = os.Stdout.WriteString(doc.String())
		return err
	}
	return os.WriteFile(*out, []byte(doc.String()), 0o644)
}

// measured is one finished child: wall time, rusage, output.
type measured struct {
	Wall           time.Duration
	CPU            time.Duration // user+sys, wait4 rusage
	MaxRSS         int64         // bytes
	Stdout, Stderr []byte
	Exit           int
	Err            error
}

// measure runs cmd to completion (killing it after limit) and returns its
// resource use.
func measure(cmd *exec.Cmd, limit time.Duration) measured {
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{Err: err}
	}
	timer := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	m := measured{Wall: time.Since(t0), Stdout: so.Bytes(), Stderr: se.Bytes()}
	if ps := cmd.ProcessState; ps != nil {
		m.CPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSS = ru.Maxrss * 1024
		}
		m.Exit = ps.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		m.Err = err
	}
	return m
}

func version(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		low := strings.ToLower(l)
		if strings.Contains(low, "version") || strings.Contains(low, " 1.") || strings.HasPrefix(low, name) {
			return l
		}
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// detect finds out what this build of hb can do.
func (e *env) detect() {
	out, err := exec.Command(e.hbProbe, "--help").CombinedOutput()
	switch {
	case err != nil && len(out) == 0:
		e.probeOnce = "hb-probe: not available in this build (" + err.Error() + ")"
	case strings.Contains(string(out), "not built yet"):
		e.probeOnce = "hb-probe: not available in this build"
	case !strings.Contains(string(out), "-once") || !strings.Contains(string(out), "-json"):
		e.probeOnce = "hb-probe: not available in this build (no --once/--json)"
	}
	if e.probeOnce == "" {
		// One real probe proves the once mode is wired up.
		m := measure(e.fleet.Command(e.fleet.Prober, e.hbProbe, "--once", "--json", "--quiet", "--timeout", "500ms", testutil.SimAddr(0).String()), 10*time.Second)
		if m.Err != nil || strings.Contains(string(m.Stderr), "not built yet") || bench.ParseHBJSON(bytes.NewReader(m.Stdout)).Answered != 1 {
			e.probeOnce = "hb-probe: not available in this build (--once failed: " + firstLine(m.Stderr) + ")"
		}
	}
	e.probeDaemon = "hb-probe: daemon mode not available in this build"
	if e.probeOnce == "" {
		tf := filepath.Join(e.tmp, "one.txt")
		os.WriteFile(tf, []byte(testutil.SimAddr(0).String()+"\n"), 0o644)
		cmd := e.fleet.Command(e.fleet.Prober, e.hbProbe, "--targets", tf, "--quiet")
		m := measure(cmd, 3*time.Second)
		if m.Exit == -1 { // still running after 3 s: killed by us, so it runs
			e.probeDaemon = ""
		} else if !strings.Contains(string(m.Stderr), "not built yet") {
			e.probeDaemon += " (" + firstLine(m.Stderr) + ")"
		}
	}
	fmt.Fprintf(os.Stderr, "hbbench: hb-probe once: %s; daemon: %s\n", orOK(e.probeOnce), orOK(e.probeDaemon))
}

func orOK(s string) string {
	if s == "" {
		return "ok"
	}
	return s
}

// lastLine is s's last non-empty line.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// targets writes (once) a list of n targets (bench.FleetAddr: the
// 131,070 hosts of 198.18.0.0/15, then the fleet's 2001:2::/64), generated,
// never committed.
func (e *env) targets(n int) string {
	p := filepath.Join(e.tmp, fmt.Sprintf("targets-%d.txt", n))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	var b strings.Builder
	for i := range n {
		b.WriteString(bench.FleetAddr(i).String())
		b.WriteByte('\n')
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		panic(err)
	}
	return p
}

func shell(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		switch {
		case i == 0 && filepath.IsAbs(a):
			a = filepath.Base(a) // bin/hb-probe, the harness: print the name
		case strings.HasPrefix(a, os.TempDir()+"/hbbench-"):
			a = "TMP/" + filepath.Base(a)
		}
		if strings.ContainsAny(a, " \t'\"$|&;<>()*") || a == "" {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// header is the start of docs/benchmarks.md: what, where, how.
func header(e *env, argv []string) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Generated by `make bench` (`bench/run.sh` → `go run ./bench/cmd/hbbench run`); do not edit by hand.\n")
	b.WriteString("Every figure below comes from one run on the machine described here, against a simulated fleet:\n")
	b.WriteString("two network namespaces joined by a veth pair; the *hosts* namespace answers for all of 198.18.0.0/15\n")
	b.WriteString("(`ip route add local 198.18.0.0/15 dev lo`), the *prober* namespace routes it over the veth.\n")
	b.WriteString("Nothing leaves the machine. Tables give the **median of N runs (min–max, n=N)**.\n\n")
	mem := ""
	if f, err := os.Open("/proc/meminfo"); err == nil {
		if v, err := bench.ParseStatusKB(f, "MemTotal"); err == nil {
			mem = fmt.Sprintf("%.1f GiB", float64(v)/(1<<30))
		}
		f.Close()
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	nproc, _ := exec.Command("nproc").Output()
	kernel, _ := exec.Command("uname", "-r").Output()
	goVer, _ := exec.Command("go", "version").Output()
	hbv, _ := exec.Command(e.hbProbe, "--version").CombinedOutput()
	hrv, _ := exec.Command(e.hbResponder, "--version").CombinedOutput()
	b.WriteString("## Machine\n\n")
	t := bench.Table{Header: []string{"what", "value"}}
	t.Add("date (UTC)", time.Now().UTC().Format(time.RFC3339))
	t.Add("CPU", fmt.Sprintf("%s, `nproc` = %s", cpu, strings.TrimSpace(string(nproc))))
	t.Add("memory", mem)
	t.Add("kernel", strings.TrimSpace(string(kernel)))
	t.Add("Go", strings.TrimSpace(string(goVer)))
	t.Add("hb-probe", firstLine(hbv))
	t.Add("hb-responder", firstLine(hrv))
	t.Add("fping", version("fping", "-v"))
	t.Add("oping", version("oping", "-h"))
	t.Add("tcpdump", version("tcpdump", "--version"))
	t.Add("wrk", version("wrk", "-v"))
	b.WriteString(t.Markdown())
	b.WriteString("\nThe machine is a shared 2-core VM: other work running at the same time shows up as spread.\n\n")
	fmt.Fprintf(&b, "Harness command: `%s`\n\n", shell(append([]string{"hbbench"}, argv[1:]...)))
	return b.String()
}

// procCPU returns a process's user+sys CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	st, err := bench.ParseProcStat(b)
	if err != nil {
		return 0
	}
	return time.Duration(st.UTime+st.STime) * time.Second / 100 // USER_HZ
}

func procRSS(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	v, _ := bench.ParseStatusKB(f, key)
	return v
}

// ksoftirqdCPU sums the CPU time of every ksoftirqd thread: packet work
// the kernel defers out of the context that raised it.
func ksoftirqdCPU() time.Duration {
	ents, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.HasPrefix(string(comm), "ksoftirqd/") {
			sum += procCPU(pid)
		}
	}
	return sum
}

// background starts a long-running child and returns a stop function that
// ends it with SIGTERM (SIGKILL after 5 s) and returns its output; with
// ready not "", it first waits up to wait for ready in the child's output.
func background(cmd *exec.Cmd, ready string, wait time.Duration) (stop func() (stdout, stderr string), err error) {
	p, err := startBackground(cmd)
	if err != nil {
		return nil, err
	}
	if ready != "" {
		if _, err := p.waitFor(ready, wait); err != nil {
			return nil, err
		}
	}
	return p.stop, nil
}

// bgProc is a child started by startBackground.
type bgProc struct {
	cmd    *exec.Cmd
	so, se syncBuf
	done   chan struct{}
	stop   func() (stdout, stderr string) // SIGTERM, SIGKILL after 5 s; the output
}

func startBackground(cmd *exec.Cmd) (*bgProc, error) {
	p := &bgProc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.so, &p.se
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(p.done) }()
	var once sync.Once
	p.stop = func() (string, string) {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-p.done
			}
		})
		return p.so.String(), p.se.String()
	}
	atCleanup(func() { p.stop() })
	return p, nil
}

// waitFor waits up to wait for s in the child's stdout or stderr and
// returns when it saw it (polling every 20 ms). It stops the child when
// that fails: the child exited, or s did not come.
func (p *bgProc) waitFor(s string, wait time.Duration) (time.Time, error) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if strings.Contains(p.so.String(), s) || strings.Contains(p.se.String(), s) {
			return time.Now(), nil
		}
		select {
		case <-p.done:
			_, e := p.stop()
			return time.Time{}, fmt.Errorf("%s exited: %s", p.cmd.Args, firstLine([]byte(e)))
		case <-time.After(20 * time.Millisecond):
		}
	}
	_, e := p.stop()
	return time.Time{}, fmt.Errorf("%s: no %q after %v: %s", p.cmd.Args, s, wait, firstLine([]byte(e)))
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// capture runs tcpdump on the prober's veth with nanosecond timestamps
// around fn and returns the frames it saw and how many the kernel dropped.
func (e *env) capture(fn func()) ([]bench.Frame, string, error) {
	p := filepath.Join(e.tmp, "cap.pcap")
	os.Remove(p)
	cmd := e.fleet.Command(e.fleet.Prober, "tcpdump", "-i", bench.ProberIf, "-n", "-p", "-s", "96", "-B", "65536", "-U", "--immediate-mode",
		"--time-stamp-precision=nano", "-w", p, "icmp")
	stop, err := background(cmd, "listening on", 10*time.Second)
	if err != nil {
		return nil, "", err
	}
	fn()
	time.Sleep(300 * time.Millisecond)
	_, se := stop()
	drops := ""
	for _, l := range strings.Split(se, "\n") {
		if strings.Contains(l, "dropped by kernel") {
			drops = strings.TrimSpace(l)
		}
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, drops, err
	}
	defer fh.Close()
	fr, err := bench.ReadPcap(bufio.NewReaderSize(fh, 1<<20))
	return fr, drops, err
}

func nan() float64 { return math.NaN() }

func fmtBytes(v float64) string { return fmt.Sprintf("%.1f", v/(1<<20)) }

var _ = context.Background
var _ = io.Discard
var _ netip.Addr

// procStatCPU reads the cpu lines of /proc/stat (nil on error).
func procStatCPU() []bench.CPUTimes {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil
	}
	defer f.Close()
	c, _ := bench.ParseProcStatCPU(f)
	return c
}

// cpuDelta is b-a line by line (nil if the lists differ).
func cpuDelta(a, b []bench.CPUTimes) []bench.CPUTimes {
	if len(a) == 0 || len(a) != len(b) {
		return nil
	}
	out := make([]bench.CPUTimes, len(a))
	for i := range a {
		x, y := a[i], b[i]
		out[i] = bench.CPUTimes{CPU: x.CPU, User: y.User - x.User, Nice: y.Nice - x.Nice, System: y.System - x.System,
			Idle: y.Idle - x.Idle, IOWait: y.IOWait - x.IOWait, IRQ: y.IRQ - x.IRQ, SoftIRQ: y.SoftIRQ - x.SoftIRQ, Steal: y.Steal - x.Steal}
	}
	return out
}
