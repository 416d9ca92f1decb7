// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/hbmon/hb/bench"
)

// goBenchmarks are the Go benchmarks whose figures the report carries:
// package, -bench pattern, -benchtime, and what they measure.
var goBenchmarks = []struct {
	pkg, pattern, benchtime, what string
}{
	{"./monitor/", "^BenchmarkCore$", "200000x", "one probe result through the core: Sink.Observe → writer → Table.Apply → Bus.Publish, 10k-check table"},
	{"./state/", "^BenchmarkApply$", "200000x", "Table.Apply alone (one observation, 1024-host table)"},
	{"./state/", "^BenchmarkMemoryPerHost$", "3x", "state table heap per host with its icmp check (one label, one health blob, 100k hosts)"},
	{"./monitor/", "^BenchmarkPipelineMemory$", "1x", "heap the daemon keeps per host after loading 100k hosts: targets parsed and resolved, state table, sources' check lists (icmp: address + one label; heartbeat: `heartbeat://hN interval=10s grace=20s` into the real push receiver); no store, no API"},
	{"./store/", "^BenchmarkMinute100kChecks$", "2x", "history store: one minute of 100k checks probed every 10 s (600k results summed in memory, then 100k rollup rows written); cpu-ms are the process's CPU milliseconds"},
	{"./push/", "^BenchmarkHandle$", "100000x", "push receiver: one keyed HBP1 heartbeat (HMAC, sealed) verified, decoded, observed and ACKed; no socket"},
}

// gobench runs goBenchmarks (runs times each, -benchmem) in the source
// tree hbbench runs from and reports each metric as median (min–max).
func (e *env) gobench() string {
	var b strings.Builder
	b.WriteString("## Go benchmarks: the monitoring core\n\n")
	b.WriteString("`go test -run '^$' -bench PATTERN -benchmem -benchtime T -count N PKG` in this tree, on the same machine (not in\n")
	b.WriteString("the namespaces); each cell is the median (min–max) over the N runs.\n\n")
	t := bench.Table{Header: []string{"benchmark", "what", "command", "ns/op", "B/op", "allocs/op", "other"}}
	for _, gb := range goBenchmarks {
		args := []string{"test", "-run", "^$", "-bench", gb.pattern, "-benchmem", "-benchtime", gb.benchtime, "-count", strconv.Itoa(e.runs), gb.pkg}
		cmdline := "go " + strings.Join(quoteArgs(args), " ")
		cmd := exec.Command("go", args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Add(gb.pattern, gb.what, "`"+cmdline+"`", "failed: "+err.Error(), "", "", "")
			continue
		}
		for _, name := range benchNames(out) {
			m := benchMetrics(out, name)
			cell := func(unit string) string {
				if xs := m[unit]; len(xs) > 0 {
					return bench.Summarize(xs).Format("%.0f")
				}
				return ""
			}
			var other []string
			for unit, xs := range m {
				switch unit {
				case "ns/op", "B/op", "allocs/op":
				default:
					other = append(other, bench.Summarize(xs).Format("%.0f")+" "+unit)
				}
			}
			slices.Sort(other)
			t.Add(name, gb.what, "`"+cmdline+"`", cell("ns/op"), cell("B/op"), cell("allocs/op"), strings.Join(other, ", "))
		}
	}
	b.WriteString(t.Markdown())
	b.WriteString("\n")
	return b.String()
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$* ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// benchNames returns the benchmark names in go test output, in order.
func benchNames(out []byte) []string {
	var names []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 2 && strings.HasPrefix(f[0], "Benchmark") && !seen[f[0]] {
			seen[f[0]] = true
			names = append(names, f[0])
		}
	}
	return names
}

// benchMetrics collects name's "VALUE UNIT" pairs over every run.
func benchMetrics(out []byte, name string) map[string][]float64 {
	m := map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != name {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return m
}
