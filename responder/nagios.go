// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/wire"
)

// NagiosCheck is one allow-listed plugin (config.NagiosCheck).
type NagiosCheck = config.NagiosCheck

// NagiosResult is the outcome of one run of a check.
type NagiosResult struct {
	Name   string
	Status uint8 // wire.CheckOK … wire.CheckUnknown
	Text   string
	Perf   []wire.Perf
	At     time.Time
}

// maxPluginOutput is how much of a plugin's output is read.
const maxPluginOutput = 8 << 10

// RunNagios runs c once: no shell, its own process group killed at the
// timeout, stdout read up to 8 KiB. Exit 0/1/2 are OK/WARNING/CRITICAL;
// 3, any other code, a timeout or a failure to start are UNKNOWN.
func RunNagios(ctx context.Context, c NagiosCheck, now func() time.Time) NagiosResult {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.Timeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.WaitDelay = time.Second
	setProcessGroup(cmd)
	out := &capBuffer{max: maxPluginOutput}
	cmd.Stdout = out
	err := cmd.Run()
	r := NagiosResult{Name: c.Name, At: now()}
	r.Text, r.Perf = ParseNagiosOutput(out.Bytes())
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		r.Status, r.Text = wire.CheckUnknown, fmt.Sprintf("timed out after %v", time.Duration(c.Timeout))
	case err == nil:
		r.Status = wire.CheckOK
	case errors.As(err, &ee) && ee.ExitCode() >= 0 && ee.ExitCode() <= 3:
		r.Status = uint8(ee.ExitCode())
	case errors.As(err, &ee):
		r.Status = wire.CheckUnknown
		if r.Text == "" {
			r.Text = ee.String()
		}
	default:
		r.Status, r.Text = wire.CheckUnknown, err.Error()
	}
	return r
}

// capBuffer keeps the first max bytes written to it and discards the rest
// (the plugin is never blocked on a full pipe).
type capBuffer struct {
	bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ParseNagiosOutput splits a plugin's output (Nagios plugin API): the
// text of the first line before "|", and the perfdata after it
// ('label'=value[UOM];[warn];[crit];[min];[max], space separated, labels
// optionally single-quoted). Malformed perfdata items are skipped. Pure.
func ParseNagiosOutput(out []byte) (string, []wire.Perf) {
	line, _, _ := bytes.Cut(out, []byte("\n"))
	text, perf, _ := strings.Cut(string(line), "|")
	var ps []wire.Perf
	for _, item := range splitPerf(perf) {
		if p, ok := parsePerf(item); ok {
			ps = append(ps, p)
		}
	}
	return strings.TrimSpace(text), ps
}

// splitPerf splits perfdata on spaces outside single quotes.
func splitPerf(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func parsePerf(item string) (wire.Perf, bool) {
	eq := strings.LastIndexByte(item, '=')
	if eq <= 0 {
		return wire.Perf{}, false
	}
	label := item[:eq]
	if len(label) >= 2 && label[0] == '\'' && label[len(label)-1] == '\'' {
		label = strings.ReplaceAll(label[1:len(label)-1], "''", "'")
	}
	fields := strings.Split(item[eq+1:], ";")
	v := fields[0]
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.' || v[i] == '-' || v[i] == '+' || v[i] == 'e' || v[i] == 'E') {
		i++
	}
	// "e"/"E" may start a unit ("1.5EB" is unusual; accept a parse of the
	// longest numeric prefix that parses).
	var val float64
	var err error
	for ; i > 0; i-- {
		if val, err = strconv.ParseFloat(v[:i], 64); err == nil {
			break
		}
	}
	if i == 0 || math.IsInf(val, 0) || math.IsNaN(val) {
		return wire.Perf{}, false
	}
	p := wire.Perf{Label: label, Unit: v[i:], Value: val, Warn: math.NaN(), Crit: math.NaN()}
	if len(fields) > 1 {
		p.Warn = threshold(fields[1])
	}
	if len(fields) > 2 {
		p.Crit = threshold(fields[2])
	}
	return p, true
}

// threshold parses a plain numeric threshold; ranges ("10:20", "@5") are
// kept as NaN (the plugin already applied them to its exit code).
func threshold(s string) float64 {
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) {
		return f
	}
	return math.NaN()
}

// NagiosRunner runs the allow-listed checks on their intervals and keeps
// the latest result of each for the next heartbeat.
type NagiosRunner struct {
	checks []NagiosCheck
	now    func() time.Time

	mu      sync.Mutex // guards results
	results map[string]NagiosResult
}

// NewNagiosRunner validates checks (filling defaults) and returns a
// runner for them.
func NewNagiosRunner(checks []NagiosCheck) (*NagiosRunner, error) {
	seen := map[string]bool{}
	cs := make([]NagiosCheck, len(checks))
	for i, c := range checks {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("nagios check %q defined twice", c.Name)
		}
		seen[c.Name] = true
		cs[i] = c
	}
	return &NagiosRunner{checks: cs, now: time.Now, results: map[string]NagiosResult{}}, nil
}

// Run runs every check now and then on its interval until ctx ends.
func (n *NagiosRunner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range n.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Duration(c.Interval))
			defer t.Stop()
			for {
				r := RunNagios(ctx, c, n.now)
				if ctx.Err() != nil {
					return
				}
				n.mu.Lock()
				n.results[c.Name] = r
				n.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}

// Results returns the latest result of each check that has run, in
// configuration order.
func (n *NagiosRunner) Results() []NagiosResult {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NagiosResult
	for _, c := range n.checks {
		if r, ok := n.results[c.Name]; ok {
			out = append(out, r)
		}
	}
	return out
}
