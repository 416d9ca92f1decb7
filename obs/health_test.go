// SPDX-License-Identifier: MIT

package obs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/wire"
)

func TestHealthOf(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	h := &wire.Health{CollectedAt: at.UnixNano(), CPUBusy: 250, Load1: 1500, MemTotal: 1000, MemAvailable: 400,
		FullestMount: 700, RootTotal: 100, RootUsed: 25, BootTime: uint32(at.Unix() - 3600), Uptime: 3600}
	copy(h.Hostname[:], "web1")
	j := HealthOf(h, at.Add(time.Second), at.Add(2*time.Second))
	if j.CPUBusy != 0.25 || j.Load1 != 1.5 || j.FullestMount != 0.7 || j.AgeSeconds != 2 || j.Hostname != "web1" ||
		j.ReceivedAt == nil || !j.ReceivedAt.Equal(at.Add(time.Second)) || !j.BootTime.Equal(at.Add(-time.Hour)) {
		t.Fatalf("HealthOf = %+v", j)
	}
	if HealthOf(h, time.Time{}, at).ReceivedAt != nil {
		t.Error("unknown receive time is not null")
	}
	b, _ := json.Marshal(j)
	for _, k := range []string{`"cpu_busy_ratio":0.25`, `"memory_total_bytes":1000`, `"fullest_mount_used_ratio":0.7`, `"load1":1.5`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	// Base units only: no percentages, no milliseconds.
	if strings.Contains(string(b), "_pct") || strings.Contains(string(b), "_ms") {
		t.Errorf("JSON not in base units: %s", b)
	}

	m := HBM2Of(&wire.HBM2{Timestamp: float64(at.Unix()) + 0.5, CPUPercent: 50, MemPercent: 25, MemAvailMB: 2, DiskPercent: 10}, time.Time{}, at.Add(time.Second))
	if m.CPUBusy != 0.5 || m.MemUsed != 0.25 || m.MemAvailable != 2<<20 || m.DiskUsed != 0.1 || m.AgeSeconds != 0.5 {
		t.Fatalf("HBM2Of = %+v", m)
	}
}
