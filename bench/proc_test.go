// SPDX-License-Identifier: MIT

package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	line := "1234 (hb probe) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 8 0 100 1000 200 18446744073709551615"
	got, err := ParseProcStat([]byte(line))
	if err != nil || got != (ProcStat{UTime: 250, STime: 37}) {
		t.Fatalf("ParseProcStat = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2"} {
		if _, err := ParseProcStat([]byte(bad)); err == nil {
			t.Errorf("ParseProcStat(%q) accepted", bad)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	st := "Name:\thb-probe\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	for key, want := range map[string]int64{"VmRSS": 10 << 20, "VmHWM": 20 << 20} {
		if got, err := ParseStatusKB(strings.NewReader(st), key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	if _, err := ParseStatusKB(strings.NewReader(st), "VmSwap"); err == nil {
		t.Error("missing key accepted")
	}
}

func TestParseProcStatCPU(t *testing.T) {
	in := "cpu  1461792 2645 489948 542049 5049 0 58158 10166 0 0\n" +
		"cpu0 725835 1296 245525 277511 1403 0 28485 4970 0 0\n" +
		"cpu1 735956 1348 244423 264538 3645 7 29672 5196 0 0\n" +
		"intr 1 2 3\nctxt 99\n"
	got, err := ParseProcStatCPU(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].CPU != "cpu" || got[2].CPU != "cpu1" {
		t.Fatalf("got %+v", got)
	}
	c := got[2]
	if c.User != 735956 || c.Idle != 264538 || c.IRQ != 7 || c.SoftIRQ != 29672 || c.Steal != 5196 {
		t.Fatalf("cpu1 = %+v", c)
	}
	if b := c.Busy(); b != 735956+1348+244423+7+29672+5196 {
		t.Fatalf("busy = %d", b)
	}
	for _, bad := range []string{"", "cpu0 1 2 3\n", "cpu0 1 2 x 4 5 6 7 8\n"} {
		if _, err := ParseProcStatCPU(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseSNMP(t *testing.T) {
	snmp := `Ip: Forwarding DefaultTTL InReceives OutDiscards
Ip: 2 64 651520 1171
Icmp: InMsgs InErrors OutMsgs OutErrors
Icmp: 651520 0 650349 1171
Tcp: RtoAlgorithm MaxConn
Tcp: 1 -1
`
	got, err := ParseSNMP(strings.NewReader(snmp))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]uint64{"Ip.OutDiscards": 1171, "Icmp.OutErrors": 1171, "Icmp.OutMsgs": 650349, "Ip.DefaultTTL": 64} {
		if got[k] != want {
			t.Errorf("%s = %d, want %d", k, got[k], want)
		}
	}
	s6, err := ParseSNMP(strings.NewReader("Ip6InReceives                   \t12\nIcmp6OutErrors                  \t3\n"))
	if err != nil || s6["Icmp6OutErrors"] != 3 || s6["Ip6InReceives"] != 12 {
		t.Errorf("snmp6: %v, %v", s6, err)
	}
	for _, bad := range []string{"", "Icmp: InMsgs OutErrors\nIcmp: 1\n", "Icmp: InMsgs\nIcmp: x\n", "Icmp6OutErrors 1 2\n"} {
		if _, err := ParseSNMP(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseSNMP(%q) accepted", bad)
		}
	}
	// The real files, in this process's namespace.
	for _, f := range []string{"/proc/net/snmp", "/proc/net/snmp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // not Linux, or no IPv6
		}
		if _, err := ParseSNMP(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseSoftnetDrops(t *testing.T) {
	st := "0060ba37 00000000 00000003 00000000 00000000 00000000 00000000 00000000 00000000 0000202e 00000000 00000000 00000000 00000000 00000000\n" +
		"0059ae24 0000001a 00000001 00000000 00000000 00000000 00000000 00000000 00000000 0000220b 00000000 00000000 00000001 00000000 00000000\n"
	if got, err := ParseSoftnetDrops(strings.NewReader(st)); err != nil || got != 26 {
		t.Errorf("ParseSoftnetDrops = %d, %v; want 26", got, err)
	}
	for _, bad := range []string{"", "0060ba37\n", "0060ba37 zz\n"} {
		if _, err := ParseSoftnetDrops(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseSoftnetDrops(%q) accepted", bad)
		}
	}
}

// fakeProc writes comm and stat files of threads under dir, as /proc has
// them: pid -> comm, utime, stime.
func fakeProc(t *testing.T, dir string, threads map[int]struct {
	comm         string
	utime, stime int
}) {
	t.Helper()
	for pid, th := range threads {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("%d (%s) S 2 0 0 0 -1 2129984 0 0 0 0 %d %d 0 0 20 0 1 0 100 0 0 18446744073709551615", pid, th.comm, th.utime, th.stime)
		if err := os.WriteFile(filepath.Join(d, "comm"), []byte(th.comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNAPIThreads(t *testing.T) {
	dir := t.TempDir()
	type th = struct {
		comm         string
		utime, stime int
	}
	fakeProc(t, dir, map[int]struct {
		comm         string
		utime, stime int
	}{
		900:  th{"napi/hbp0-8197", 120, 30},
		77:   th{"napi/hbp0-8193", 5, 5},    // another namespace's hbp0, made threaded earlier
		78:   th{"napi/hbp00-8194", 50, 50}, // another device whose name starts alike
		79:   th{"napi/hbh0-8195", 70, 70},
		80:   th{"hb-probe", 1000, 1000},
		4001: th{"ksoftirqd/0", 9, 9},
	})
	os.MkdirAll(filepath.Join(dir, "self"), 0o755) // not a pid
	before := []int{77}
	all, err := NAPIThreads(dir, "hbp0")
	if err != nil || !slices.Equal(all, []int{77, 900}) {
		t.Fatalf("NAPIThreads(hbp0) = %v, %v; want [77 900]", all, err)
	}
	pids := NewPIDs(before, all)
	if !slices.Equal(pids, []int{900}) {
		t.Fatalf("NewPIDs = %v; want [900]", pids)
	}
	got, err := NAPIThreadsCPU(dir, "hbp0", pids)
	if err != nil || got != 1500*time.Millisecond { // 150 ticks of USER_HZ 100
		t.Fatalf("NAPIThreadsCPU = %v, %v; want 1.5s", got, err)
	}
	got, err = NAPIThreadsCPU(dir, "hbp0", all)
	if err != nil || got != 1600*time.Millisecond {
		t.Fatalf("NAPIThreadsCPU(both) = %v, %v; want 1.6s", got, err)
	}
	// A pid that is no longer hbp0's NAPI thread (gone, or reused) fails
	// rather than drop its time from the sum.
	for _, bad := range [][]int{{900, 79}, {900, 80}, {900, 5555}, nil} {
		if d, err := NAPIThreadsCPU(dir, "hbp0", bad); err == nil {
			t.Errorf("NAPIThreadsCPU(%v) = %v, nil; want an error", bad, d)
		}
	}
}
