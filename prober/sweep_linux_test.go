// SPDX-License-Identifier: MIT

package prober

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
)

// BenchmarkSweep probes 32,768 simulated hosts once with hb-probe --once
// and with `fping -c1 -i 0`, one after the other on the same fleet, and
// reports each one's probes/s, CPU seconds (user+sys) and loss. Run it
// once: go test -run '^$' -bench Sweep -benchtime 1x ./prober (root).
func BenchmarkSweep(b *testing.B) {
	const hosts = 32768
	fleet := testutil.FleetConfig{Local: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16")}}
	f := testutil.NewFleet(b, fleet)
	dir := b.TempDir()
	list := filepath.Join(dir, "targets")
	var buf bytes.Buffer
	for _, a := range testutil.FleetAddrs(b, fleet.Local[0], hosts) {
		fmt.Fprintln(&buf, a)
	}
	if err := os.WriteFile(list, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := testutil.BuildBinary(b, dir, "github.com/hbmon/hb/cmd/hb-probe")
	fping, fpErr := exec.LookPath("fping")
	for range b.N {
		// hb-probe: JSON lines, one per target.
		cmd := f.Prober.Command(bin, "--once", "--json", "--rate", "0", "--timeout", "500ms", "--targets", list)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		_ = cmd.Run() // exit 1 when any target is lost
		wall := time.Since(start)
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		got := 0
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			var j struct{ Received int }
			if json.Unmarshal(sc.Bytes(), &j) == nil && j.Received > 0 {
				got++
			}
		}
		report(b, "hb", hosts, got, wall, cpu)
		b.Logf("hb-probe says: %s", strings.TrimSpace(errOut.String()))
		if fpErr != nil {
			b.Logf("fping not installed: %v", fpErr)
			continue
		}
		cmd = f.Prober.Command(fping, "-c1", "-i", "0", "-q", "-f", list)
		var fout bytes.Buffer
		cmd.Stderr = &fout
		start = time.Now()
		_ = cmd.Run()
		wall = time.Since(start)
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		got = strings.Count(fout.String(), "= 1/1/0%")
		report(b, "fping", hosts, got, wall, cpu)
	}
}

func report(b *testing.B, who string, hosts, got int, wall, cpu time.Duration) {
	b.ReportMetric(float64(hosts)/wall.Seconds(), who+"-probes/s")
	b.ReportMetric(cpu.Seconds(), who+"-cpu-s")
	b.ReportMetric(float64(hosts-got)/float64(hosts)*100, who+"-loss-%")
	b.Logf("%s: %d hosts, %d answered, wall %v, cpu %v (user+sys)", who, hosts, got, wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
}
