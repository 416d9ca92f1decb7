package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Rollup is one host's minute, averages computed.
type Rollup struct {
	Minute         time.Time // start of the minute, UTC
	Probes, Losses int64
	RTTSamples     int64         // successes with an RTT
	RTTMin, RTTAvg time.Duration // 0 when RTTSamples is 0
	RTTMax         time.Duration
	HealthSamples  int64   // replies with health; the averages below are 0 without
	CPU, Mem, Disk float64 // average percentages
	Load1          float64 // average 1-minute load
}

// History returns host's per-minute rollups with from <= minute < to,
// oldest first. A zero from or to leaves that side open. An unknown host
// has no history: the result is empty, not an error.
func (s *Store) History(ctx context.Context, host string, from, to time.Time) ([]Rollup, error) {
	q := `SELECT r.minute, r.probes, r.losses, r.rtt_n, r.rtt_sum, r.rtt_min, r.rtt_max,
			r.health_n, r.cpu_sum, r.mem_sum, r.disk_sum, r.load_sum
		FROM rollups r JOIN hosts h ON h.id = r.host_id
		WHERE h.name = ? AND r.minute >= ? AND r.minute < ?
		ORDER BY r.minute`
	rows, err := s.r.QueryContext(ctx, q, host, lo(from), hi(to))
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		var (
			r                 Rollup
			minute, sum       int64
			rmin, rmax        sql.NullInt64
			cpu, mem, dsk, ld float64
		)
		if err := rows.Scan(&minute, &r.Probes, &r.Losses, &r.RTTSamples, &sum, &rmin, &rmax,
			&r.HealthSamples, &cpu, &mem, &dsk, &ld); err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		r.Minute = fromMS(minute)
		if r.RTTSamples > 0 {
			r.RTTMin, r.RTTMax = time.Duration(rmin.Int64), time.Duration(rmax.Int64)
			r.RTTAvg = time.Duration(sum / r.RTTSamples)
		}
		if n := float64(r.HealthSamples); n > 0 {
			r.CPU, r.Mem, r.Disk, r.Load1 = cpu/n, mem/n, dsk/n, ld/n
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Query selects events (problems, transitions): by host (empty: all), by
// time from <= at < to (zero: open), newest first, at most Limit (default
// 100, at most 10000), older than the event with id Before when Before > 0
// (paging: pass the last ID of the previous page).
type Query struct {
	Host     string
	From, To time.Time
	Limit    int
	Before   int64
}

func (q *Query) where() (string, []any) {
	var conds []string
	var args []any
	if q.Host != "" {
		conds = append(conds, "h.name = ?")
		args = append(args, q.Host)
	}
	conds = append(conds, "e.at >= ?", "e.at < ?")
	args = append(args, lo(q.From), hi(q.To))
	if q.Before > 0 {
		conds = append(conds, "e.id < ?")
		args = append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	return " WHERE " + strings.Join(conds, " AND ") + fmt.Sprintf(" ORDER BY e.at DESC, e.id DESC LIMIT %d", limit), args
}

// TransitionRecord is a stored state change.
type TransitionRecord struct {
	ID       int64
	Host     string
	At       time.Time
	From, To string
}

// Transitions returns state changes matching q, newest first.
func (s *Store) Transitions(ctx context.Context, q Query) ([]TransitionRecord, error) {
	w, args := q.where()
	rows, err := s.r.QueryContext(ctx, `SELECT e.id, h.name, e.at, e.from_state, e.to_state
		FROM transitions e JOIN hosts h ON h.id = e.host_id`+w, args...)
	if err != nil {
		return nil, fmt.Errorf("store: transitions: %w", err)
	}
	defer rows.Close()
	var out []TransitionRecord
	for rows.Next() {
		var t TransitionRecord
		var at int64
		if err := rows.Scan(&t.ID, &t.Host, &at, &t.From, &t.To); err != nil {
			return nil, fmt.Errorf("store: transitions: %w", err)
		}
		t.At = fromMS(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Problems returns failed probes matching q, newest first.
func (s *Store) Problems(ctx context.Context, q Query) ([]Problem, error) {
	w, args := q.where()
	rows, err := s.r.QueryContext(ctx, `SELECT e.id, h.name, e.at, e.kind, e.icmp_type, e.icmp_code, e.from_addr, e.detail
		FROM problems e JOIN hosts h ON h.id = e.host_id`+w, args...)
	if err != nil {
		return nil, fmt.Errorf("store: problems: %w", err)
	}
	defer rows.Close()
	var out []Problem
	for rows.Next() {
		var (
			p         Problem
			at        int64
			typ, code sql.NullInt64
			from      string
		)
		if err := rows.Scan(&p.ID, &p.Host, &at, &p.Kind, &typ, &code, &from, &p.Detail); err != nil {
			return nil, fmt.Errorf("store: problems: %w", err)
		}
		p.At = fromMS(at)
		p.ICMPType, p.ICMPCode = uint8(typ.Int64), uint8(code.Int64)
		if from != "" {
			p.From, _ = netip.ParseAddr(from)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// HostRecord is a stored host with its last known state.
type HostRecord struct {
	Host
	FirstSeen   time.Time
	LastSeen    time.Time // newest reply; zero if it never answered
	State       string    // last state recorded ("unknown" if none)
	StateSince  time.Time
	Transitions uint32
}

// Hosts returns every host the database knows, by name. At start the
// daemon restores each configured host's State, StateSince and
// Transitions from it.
func (s *Store) Hosts(ctx context.Context) ([]HostRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, address, labels, first_seen, last_seen, state, state_since, transitions
		FROM hosts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: hosts: %w", err)
	}
	defer rows.Close()
	var out []HostRecord
	for rows.Next() {
		var (
			h                     HostRecord
			labels                string
			first, last, since, n int64
		)
		if err := rows.Scan(&h.Name, &h.Address, &labels, &first, &last, &h.State, &since, &n); err != nil {
			return nil, fmt.Errorf("store: hosts: %w", err)
		}
		if labels != "" && labels != "{}" {
			if err := json.Unmarshal([]byte(labels), &h.Labels); err != nil {
				return nil, fmt.Errorf("store: host %q labels: %w", h.Name, err)
			}
		}
		h.FirstSeen, h.LastSeen, h.StateSince = fromMS(first), fromMS(last), fromMS(since)
		h.Transitions = uint32(n)
		out = append(out, h)
	}
	return out, rows.Err()
}

func lo(t time.Time) int64 {
	if t.IsZero() {
		return -1 << 62
	}
	return t.UnixMilli()
}

func hi(t time.Time) int64 {
	if t.IsZero() {
		return 1 << 62
	}
	return t.UnixMilli()
}
