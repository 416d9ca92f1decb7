// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"math"
	"os"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"

	"github.com/hbmon/hb/wire"
)

// Collector samples host health with gopsutil. Rates (CPU busy, network
// bytes per second) are over the time since the previous Sample, so the
// first sample reports them as 0. It is used by one goroutine at a time.
type Collector struct {
	prevCPU  cpu.TimesStat
	prevNet  [2]uint64 // rx, tx bytes
	prevTime time.Time
	numCPU   uint16
	hostname string
}

// NewCollector returns a collector. The boot id and generation of its
// samples are assigned by the wire.Sealer that encodes them.
func NewCollector() (*Collector, error) {
	c := &Collector{}
	if n, err := cpu.Counts(true); err == nil && n > 0 {
		c.numCPU = uint16(min(n, 0xffff))
	}
	c.hostname, _ = os.Hostname()
	return c, nil
}

// Sample collects one health sample at time now. Metrics that cannot be
// read are left 0; the sample is still published.
func (c *Collector) Sample(ctx context.Context, now time.Time) wire.Health {
	h := wire.Health{
		CollectedAt: now.UnixNano(),
		NumCPU:      c.numCPU,
	}
	h.SetHostname(c.hostname)
	if t, err := cpu.TimesWithContext(ctx, false); err == nil && len(t) == 1 {
		if !c.prevTime.IsZero() {
			h.CPUBusy = busyPermille(c.prevCPU, t[0])
		}
		c.prevCPU = t[0]
	}
	if a, err := load.AvgWithContext(ctx); err == nil {
		h.Load1, h.Load5, h.Load15 = milli(a.Load1), milli(a.Load5), milli(a.Load15)
	}
	if m, err := load.MiscWithContext(ctx); err == nil {
		h.Procs = uint32(max(m.ProcsTotal, 0))
	}
	if v, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		h.MemTotal, h.MemAvailable = v.Total, v.Available
	}
	if s, err := mem.SwapMemoryWithContext(ctx); err == nil {
		h.SwapTotal, h.SwapUsed = s.Total, s.Used
	}
	if u, err := disk.UsageWithContext(ctx, "/"); err == nil {
		h.RootTotal, h.RootUsed = u.Total, u.Used
	}
	h.FullestMount = fullestMount(ctx)
	if io, err := psnet.IOCountersWithContext(ctx, true); err == nil {
		var rx, tx uint64
		for _, s := range io {
			if s.Name == "lo" {
				continue
			}
			rx += s.BytesRecv
			tx += s.BytesSent
		}
		if !c.prevTime.IsZero() {
			dt := now.Sub(c.prevTime).Seconds()
			h.NetRxRate, h.NetTxRate = rate(c.prevNet[0], rx, dt), rate(c.prevNet[1], tx, dt)
		}
		c.prevNet = [2]uint64{rx, tx}
	}
	if up, err := host.UptimeWithContext(ctx); err == nil {
		h.Uptime = uint32(min(up, math.MaxUint32))
	}
	if bt, err := host.BootTimeWithContext(ctx); err == nil {
		h.BootTime = uint32(min(bt, math.MaxUint32))
	}
	c.prevTime = now
	return h
}

// busyPermille is the ‰ of CPU time not idle (nor waiting for I/O) between
// two samples.
func busyPermille(a, b cpu.TimesStat) uint16 {
	total := func(t cpu.TimesStat) float64 {
		return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	}
	dt := total(b) - total(a)
	didle := (b.Idle + b.Iowait) - (a.Idle + a.Iowait)
	if dt <= 0 {
		return 0
	}
	p := (dt - didle) / dt * 1000
	return uint16(min(max(p, 0), 1000) + 0.5)
}

func milli(f float64) uint32 {
	if f < 0 {
		return 0
	}
	return uint32(f*1000 + 0.5)
}

func rate(prev, cur uint64, seconds float64) uint64 {
	if cur < prev || seconds <= 0 {
		return 0 // counter reset (interface gone)
	}
	return uint64(float64(cur-prev) / seconds)
}

// pseudoFS are filesystem types that are not real storage.
var pseudoFS = map[string]bool{
	"tmpfs": true, "devtmpfs": true, "proc": true, "sysfs": true, "cgroup": true, "cgroup2": true,
	"overlay": true, "squashfs": true, "devpts": true, "mqueue": true, "debugfs": true, "tracefs": true,
	"securityfs": true, "pstore": true, "bpf": true, "autofs": true, "hugetlbfs": true, "fusectl": true,
	"configfs": true, "binfmt_misc": true, "ramfs": true, "nsfs": true, "efivarfs": true, "rpc_pipefs": true,
	"iso9660": true, "fuse.lxcfs": true, "fuse.portal": true, "fuse.snapfuse": true, "erofs": true,
}

// fullestMount returns the ‰ used of the fullest real (non-pseudo,
// non-read-only-image) mounted filesystem.
func fullestMount(ctx context.Context) uint16 {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return 0
	}
	var best float64
	seen := map[string]bool{}
	for _, p := range parts {
		if pseudoFS[p.Fstype] || seen[p.Device] || strings.HasPrefix(p.Mountpoint, "/snap/") {
			continue
		}
		seen[p.Device] = true
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil || u.Total == 0 {
			continue
		}
		best = max(best, float64(u.Used)/float64(u.Total))
	}
	return uint16(best*1000 + 0.5)
}

// HBM2 derives the legacy HBM v2 payload from a sample.
func HBM2(h *wire.Health) wire.HBM2 {
	m := wire.HBM2{
		Timestamp:  float64(h.CollectedAt) / 1e9,
		CPUPercent: float32(h.CPUBusy) / 10,
		MemAvailMB: float32(h.MemAvailable) / (1 << 20),
	}
	if h.MemTotal > 0 && h.MemAvailable <= h.MemTotal {
		m.MemPercent = float32(float64(h.MemTotal-h.MemAvailable) / float64(h.MemTotal) * 100)
	}
	if h.RootTotal > 0 && h.RootUsed <= h.RootTotal {
		m.DiskPercent = float32(float64(h.RootUsed) / float64(h.RootTotal) * 100)
	}
	return m
}
