// SPDX-License-Identifier: MIT

package bench

import (
	"strings"
	"testing"
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
