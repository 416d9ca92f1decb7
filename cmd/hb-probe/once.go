package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hbmon/hb/prober"
)

// runOnce probes every target --count times and prints the summaries.
func runOnce(ctx context.Context, o *options, stdin io.Reader, stdout, stderr io.Writer) int {
	warn := func(s string) {
		if !o.Quiet {
			fmt.Fprintf(stderr, "hb-probe: warning: %s\n", s)
		}
	}
	_, targets, err := loadTargets(ctx, o, stdin, warn)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	cfg, err := engineConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	e, err := prober.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	defer e.Close()
	if !o.Quiet {
		fmt.Fprintf(stderr, "hb-probe: mode: %v\n", e.Mode())
	}
	opts := prober.OnceOptions{Count: o.Count, Period: o.Period}
	if !o.Quiet && len(targets) >= 1000 && isTerminal(stderr) {
		opts.Progress = func(done, total int) {
			fmt.Fprintf(stderr, "\rhb-probe: %d/%d targets done", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	start := time.Now()
	sums, err := e.Once(ctx, targets, opts)
	if err != nil {
		fmt.Fprintf(stderr, "hb-probe: %v\n", err)
		return exitSetup
	}
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "hb-probe: interrupted")
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		for i := range sums {
			if err := enc.Encode(jsonSummary(&sums[i])); err != nil {
				fmt.Fprintf(stderr, "hb-probe: %v\n", err)
				return exitSetup
			}
		}
	} else {
		printTable(stdout, sums)
	}
	answered := 0
	for i := range sums {
		if sums[i].Received > 0 {
			answered++
		}
	}
	if !o.Quiet {
		st := e.Stats()
		fmt.Fprintf(stderr, "hb-probe: %d/%d targets answered; %d probes in %v (%.0f/s); matched %d, timeouts %d, ICMP errors %d, duplicates %d, late %d, bad cookie %d, wrong source %d\n",
			answered, len(sums), st.Sent, elapsed.Round(time.Millisecond), float64(st.Sent)/elapsed.Seconds(),
			st.Matched, st.Timeouts, st.ICMPErrors, st.Duplicates, st.Late, st.BadCookie, st.WrongSrc)
	}
	if answered == len(sums) && ctx.Err() == nil {
		return exitOK
	}
	return exitSome
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// state is a summary's one-word state.
func state(s *prober.Summary) string {
	switch {
	case s.Received == s.Sent && s.Sent > 0:
		return "up"
	case s.Received > 0:
		return "degraded"
	case s.Errors > 0:
		return "unreachable"
	}
	return "down"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

// note is the table's last column: problems, health remarks.
func note(s *prober.Summary) string {
	var n []string
	if s.LastProblem != nil {
		n = append(n, s.LastProblem.Problem())
	} else if s.Received == 0 {
		n = append(n, "timeout")
	}
	if s.Received > 0 {
		l := &s.Last
		switch {
		case l.BlobErr != nil:
			n = append(n, "health blob rejected: "+l.BlobErr.Error())
		case l.HealthKind == prober.HealthNone:
			n = append(n, "reachable, no health")
		case l.HealthKind == prober.HealthHBM2:
			n = append(n, "legacy HBM v2")
		}
		if l.Stale {
			n = append(n, "stale health")
		}
		if l.HealthKind == prober.HealthHBH1 {
			if h := l.Health.HostnameString(); h != "" {
				n = append(n, h)
			}
		}
	}
	return strings.Join(n, "; ")
}

func printTable(w io.Writer, sums []prober.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSTATE\tRTT MIN/AVG/MAX ms\tLOSS\tCPU\tLOAD\tMEM\tDISK\tUPTIME\tNOTE")
	for i := range sums {
		s := &sums[i]
		name := s.Target.Name
		if name != s.Target.Addr.String() {
			name += " (" + s.Target.Addr.String() + ")"
		}
		rtt := "-"
		if s.Received > 0 {
			rtt = ms(s.Min) + "/" + ms(s.Avg()) + "/" + ms(s.Max)
		}
		cpu, load, mem, disk, up := "-", "-", "-", "-", "-"
		l := &s.Last
		switch l.HealthKind {
		case prober.HealthHBH1:
			h := &l.Health
			cpu = fmt.Sprintf("%.1f%%", float64(h.CPUBusy)/10)
			load = fmt.Sprintf("%.2f", float64(h.Load1)/1000)
			if h.MemTotal > 0 {
				mem = fmt.Sprintf("%.0f%%", 100*float64(h.MemTotal-h.MemAvailable)/float64(h.MemTotal))
			}
			if h.RootTotal > 0 {
				disk = fmt.Sprintf("%.0f%%", 100*float64(h.RootUsed)/float64(h.RootTotal))
			}
			up = fmtUptime(time.Duration(h.Uptime) * time.Second)
		case prober.HealthHBM2:
			cpu = fmt.Sprintf("%.1f%%", l.HBM2.CPUPercent)
			mem = fmt.Sprintf("%.0f%%", l.HBM2.MemPercent)
			disk = fmt.Sprintf("%.0f%%", l.HBM2.DiskPercent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f%%\t%s\t%s\t%s\t%s\t%s\t%s\n", name, state(s), rtt, 100*s.Loss(), cpu, load, mem, disk, up, note(s))
	}
	tw.Flush()
}

func fmtUptime(d time.Duration) string {
	days := int(d.Hours()) / 24
	if days > 0 {
		return fmt.Sprintf("%dd%dh", days, int(d.Hours())%24)
	}
	return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
}

// onceJSON is one target in --json output.
type onceJSON struct {
	Target     string            `json:"target"`
	Addr       string            `json:"addr"`
	Labels     map[string]string `json:"labels,omitempty"`
	State      string            `json:"state"`
	Sent       int               `json:"sent"`
	Received   int               `json:"received"`
	Loss       float64           `json:"loss"`
	RTTMinMs   *float64          `json:"rtt_min_ms"`
	RTTAvgMs   *float64          `json:"rtt_avg_ms"`
	RTTMaxMs   *float64          `json:"rtt_max_ms"`
	RTTMethod  string            `json:"rtt_method,omitempty"`
	HealthKind string            `json:"health_kind"`
	Health     any               `json:"health,omitempty"`
	Stale      bool              `json:"stale,omitempty"`
	BlobError  string            `json:"blob_error,omitempty"`
	Problem    *problemJSON      `json:"problem,omitempty"`
}

type problemJSON struct {
	Outcome  string `json:"outcome"`
	Text     string `json:"text"`
	ICMPType uint8  `json:"icmp_type,omitempty"`
	ICMPCode uint8  `json:"icmp_code,omitempty"`
	From     string `json:"from,omitempty"`
}

type healthJSON struct {
	Hostname       string  `json:"hostname"`
	CollectedAt    string  `json:"collected_at"`
	Sealed         bool    `json:"sealed"`
	CPUBusyPct     float64 `json:"cpu_busy_pct"`
	NumCPU         uint16  `json:"num_cpu"`
	Load1          float64 `json:"load1"`
	Load5          float64 `json:"load5"`
	Load15         float64 `json:"load15"`
	Procs          uint32  `json:"procs"`
	MemTotal       uint64  `json:"mem_total_bytes"`
	MemAvailable   uint64  `json:"mem_available_bytes"`
	SwapTotal      uint64  `json:"swap_total_bytes"`
	SwapUsed       uint64  `json:"swap_used_bytes"`
	RootTotal      uint64  `json:"root_total_bytes"`
	RootUsed       uint64  `json:"root_used_bytes"`
	FullestMountPc float64 `json:"fullest_mount_pct"`
	NetRxBps       uint64  `json:"net_rx_bytes_per_second"`
	NetTxBps       uint64  `json:"net_tx_bytes_per_second"`
	UptimeSeconds  uint64  `json:"uptime_seconds"`
}

func fptr(d time.Duration) *float64 { v := float64(d) / 1e6; return &v }

func jsonSummary(s *prober.Summary) onceJSON {
	j := onceJSON{
		Target: s.Target.Name, Addr: s.Target.Addr.String(), Labels: s.Target.Labels,
		State: state(s), Sent: s.Sent, Received: s.Received, Loss: s.Loss(),
	}
	l := &s.Last
	if s.Received > 0 {
		j.RTTMinMs, j.RTTAvgMs, j.RTTMaxMs = fptr(s.Min), fptr(s.Avg()), fptr(s.Max)
		j.RTTMethod = s.Method.String()
		j.HealthKind = l.HealthKind.String()
		j.Stale = l.Stale
		if l.BlobErr != nil {
			j.BlobError = l.BlobErr.Error()
		}
		switch l.HealthKind {
		case prober.HealthHBH1:
			h := &l.Health
			j.Health = healthJSON{
				Hostname: h.HostnameString(), CollectedAt: time.Unix(0, h.CollectedAt).UTC().Format(time.RFC3339Nano), Sealed: h.Sealed(),
				CPUBusyPct: float64(h.CPUBusy) / 10, NumCPU: h.NumCPU,
				Load1: float64(h.Load1) / 1000, Load5: float64(h.Load5) / 1000, Load15: float64(h.Load15) / 1000, Procs: h.Procs,
				MemTotal: h.MemTotal, MemAvailable: h.MemAvailable, SwapTotal: h.SwapTotal, SwapUsed: h.SwapUsed,
				RootTotal: h.RootTotal, RootUsed: h.RootUsed, FullestMountPc: float64(h.FullestMount) / 10,
				NetRxBps: h.NetRxRate, NetTxBps: h.NetTxRate, UptimeSeconds: h.Uptime,
			}
		case prober.HealthHBM2:
			j.Health = l.HBM2
		}
	} else {
		j.HealthKind = prober.HealthNone.String()
	}
	if p := s.LastProblem; p != nil {
		j.Problem = &problemJSON{Outcome: p.Outcome.String(), Text: p.Problem(), ICMPType: p.ICMPType, ICMPCode: p.ICMPCode}
		if p.From.IsValid() {
			j.Problem.From = p.From.String()
		}
	} else if s.Received == 0 && s.Sent > 0 {
		j.Problem = &problemJSON{Outcome: prober.OutcomeTimeout.String(), Text: "timeout"}
	}
	return j
}
