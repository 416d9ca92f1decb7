// SPDX-License-Identifier: MIT

package oneshot

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hbmon/hb/prober"
)

// State is a summary's one-word state.
func State(s *prober.Summary) string {
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

// Note is the table's last column: problems, health remarks.
func Note(s *prober.Summary) string {
	var n []string
	if s.LastProblem != nil {
		n = append(n, s.LastProblem.Problem())
	} else if s.Received == 0 {
		n = append(n, "timeout")
	}
	if s.Received > 0 {
		l := s.Health()
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

const tableCols = 10

var tableHeader = [tableCols]string{"TARGET", "STATE", "RTT MIN/AVG/MAX ms", "LOSS", "CPU", "LOAD", "MEM", "DISK", "UPTIME", "NOTE"}

// table holds every cell in one byte arena (cell k of row r ends at
// ends[r*tableCols+k]), so 65,536 rows cost a few allocations.
type table struct {
	arena []byte
	ends  []int
	width [tableCols - 1]int // the last column is not padded
}

func (t *table) cell(b []byte) {
	t.arena = append(t.arena, b...)
	t.end()
}

func (t *table) end() {
	t.ends = append(t.ends, len(t.arena))
}

func appendMs(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/1e6, 'f', 3, 64)
}

func appendPct(b []byte, v float64, prec int) []byte {
	return append(strconv.AppendFloat(b, v, 'f', prec, 64), '%')
}

// appendPct32 formats a float32 as fmt's %.Nf does (at 32-bit precision).
func appendPct32(b []byte, v float32, prec int) []byte {
	return append(strconv.AppendFloat(b, float64(v), 'f', prec, 32), '%')
}

func appendUptime(b []byte, d time.Duration) []byte {
	h := int(d.Hours())
	if days := h / 24; days > 0 {
		b = append(strconv.AppendInt(b, int64(days), 10), 'd')
		return append(strconv.AppendInt(b, int64(h%24), 10), 'h')
	}
	b = append(strconv.AppendInt(b, int64(h), 10), 'h')
	return append(strconv.AppendInt(b, int64(int(d.Minutes())%60), 10), 'm')
}

func (t *table) row(s *prober.Summary) {
	a := t.arena
	a = append(a, s.Target.Name...)
	if addr := s.Target.Addr.String(); s.Target.Name != addr {
		a = append(append(append(a, " ("...), addr...), ')')
	}
	t.arena = a
	t.end()
	t.arena = append(t.arena, State(s)...)
	t.end()
	if s.Received > 0 {
		t.arena = appendMs(t.arena, s.Min)
		t.arena = appendMs(append(t.arena, '/'), s.Avg())
		t.arena = appendMs(append(t.arena, '/'), s.Max)
	} else {
		t.arena = append(t.arena, '-')
	}
	t.end()
	t.arena = appendPct(t.arena, 100*s.Loss(), 0)
	t.end()
	l := s.Health()
	switch l.HealthKind {
	case prober.HealthHBH1:
		h := &l.Health
		t.arena = appendPct(t.arena, float64(h.CPUBusy)/10, 1)
		t.end()
		t.arena = strconv.AppendFloat(t.arena, float64(h.Load1)/1000, 'f', 2, 64)
		t.end()
		if h.MemTotal > 0 {
			t.arena = appendPct(t.arena, 100*float64(h.MemTotal-h.MemAvailable)/float64(h.MemTotal), 0)
		} else {
			t.arena = append(t.arena, '-')
		}
		t.end()
		if h.RootTotal > 0 {
			t.arena = appendPct(t.arena, 100*float64(h.RootUsed)/float64(h.RootTotal), 0)
		} else {
			t.arena = append(t.arena, '-')
		}
		t.end()
		t.arena = appendUptime(t.arena, time.Duration(h.Uptime)*time.Second)
		t.end()
	case prober.HealthHBM2:
		t.arena = appendPct32(t.arena, l.HBM2.CPUPercent, 1)
		t.end()
		t.cell([]byte{'-'})
		t.arena = appendPct32(t.arena, l.HBM2.MemPercent, 0)
		t.end()
		t.arena = appendPct32(t.arena, l.HBM2.DiskPercent, 0)
		t.end()
		t.cell([]byte{'-'})
	default:
		for range 5 {
			t.cell([]byte{'-'})
		}
	}
	t.arena = append(t.arena, Note(s)...)
	t.end()
}

// WriteTable prints the summaries as an aligned table: columns separated
// by at least two spaces, as text/tabwriter would, the NOTE column last
// and unpadded. It buffers its output.
func WriteTable(w io.Writer, sums []prober.Summary) error {
	t := &table{arena: make([]byte, 0, 64*(len(sums)+1)), ends: make([]int, 0, tableCols*(len(sums)+1))}
	for _, h := range tableHeader {
		t.cell([]byte(h))
	}
	for i := range sums {
		t.row(&sums[i])
	}
	rows := len(t.ends) / tableCols
	start := 0
	for r := range rows {
		for k := range tableCols - 1 {
			e := t.ends[r*tableCols+k]
			t.width[k] = max(t.width[k], utf8.RuneCount(t.arena[start:e]))
			start = e
		}
		start = t.ends[r*tableCols+tableCols-1]
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var pad [256]byte
	for i := range pad {
		pad[i] = ' '
	}
	start = 0
	for r := range rows {
		for k := range tableCols {
			e := t.ends[r*tableCols+k]
			c := t.arena[start:e]
			start = e
			bw.Write(c)
			if k == tableCols-1 {
				break
			}
			for n := t.width[k] + 2 - utf8.RuneCount(c); n > 0; {
				m := min(n, len(pad))
				bw.Write(pad[:m])
				n -= m
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
