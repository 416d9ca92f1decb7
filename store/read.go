// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
)

// Rollup is one host's minute, averages computed.
type Rollup struct {
	Minute         time.Time // start of the minute, UTC
	Probes, Losses int64
	RTTSamples     int64         // successes with an RTT
	RTTMin, RTTAvg time.Duration // 0 when RTTSamples is 0
	RTTMax         time.Duration
	HealthSamples  int64     // replies with health; the averages below are 0 without
	CPU, Mem, Disk float64   // average percentages
	Load1          float64   // average 1-minute load
	LastOK         time.Time // newest success in the minute; zero if none
}

// History returns host's per-minute rollups with from <= minute < to,
// oldest first, summed over the host's checks (a host with one check, the
// usual case, gets that check's rows). A zero from or to leaves that side
// open. An unknown host has no history: the result is empty, not an
// error.
func (s *Store) History(ctx context.Context, host string, from, to time.Time) ([]Rollup, error) {
	return s.rollups(ctx, qMinutes+`
		SELECT r.minute, sum(r.probes), sum(r.losses), sum(r.rtt_n), sum(r.rtt_sum), min(r.rtt_min), max(r.rtt_max),
			max(r.last_ok), sum(r.health_n), sum(r.cpu_sum), sum(r.mem_sum), sum(r.disk_sum), sum(r.load_sum)
		FROM m CROSS JOIN (SELECT c.id FROM checks c JOIN hosts h ON h.id = c.host_id WHERE h.name = ?3) k
			CROSS JOIN rollups r
		WHERE r.minute = m.minute AND r.check_id = k.id
		GROUP BY r.minute ORDER BY r.minute`, lo(from), hi(to), host)
}

// CheckHistory returns one check's per-minute rollups with from <= minute
// < to, oldest first; like History otherwise.
func (s *Store) CheckHistory(ctx context.Context, host, check string, from, to time.Time) ([]Rollup, error) {
	return s.rollups(ctx, qMinutes+`
		SELECT r.minute, r.probes, r.losses, r.rtt_n, r.rtt_sum, r.rtt_min, r.rtt_max,
			r.last_ok, r.health_n, r.cpu_sum, r.mem_sum, r.disk_sum, r.load_sum
		FROM m CROSS JOIN rollups r
		WHERE r.minute = m.minute
			AND r.check_id = (SELECT c.id FROM checks c JOIN hosts h ON h.id = c.host_id WHERE h.name = ?3 AND c.name = ?4)
		ORDER BY r.minute`, lo(from), hi(to), host, check)
}

// qMinutes starts a rollups query with m, the minutes (ms, multiples of
// 60,000) from ?1 to before ?2 that the table can hold (within its
// oldest and newest): rollups is keyed (minute, check_id), so a check's
// rows are read by seeking each minute of the range (a check's row of a
// minute is one primary-key lookup) rather than scanning every check's
// rows of the range.
const qMinutes = `WITH RECURSIVE
	b(lo, hi) AS (SELECT max(?1, (SELECT min(minute) FROM rollups)), min(?2, (SELECT max(minute) FROM rollups) + 1)),
	m(minute) AS (
		SELECT (lo + 59999) / 60000 * 60000 FROM b WHERE (lo + 59999) / 60000 * 60000 < hi
		UNION ALL
		SELECT m.minute + 60000 FROM m, b WHERE m.minute + 60000 < b.hi)`

func (s *Store) rollups(ctx context.Context, q string, args ...any) ([]Rollup, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		var (
			r                 Rollup
			minute, sum, last int64
			rmin, rmax        sql.NullInt64
			cpu, mem, dsk, ld float64
		)
		if err := rows.Scan(&minute, &r.Probes, &r.Losses, &r.RTTSamples, &sum, &rmin, &rmax, &last,
			&r.HealthSamples, &cpu, &mem, &dsk, &ld); err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		r.Minute = fromMS(minute)
		r.LastOK = fromMS(last)
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

// Query selects stored rows (problems, state changes): by host and check
// (empty: all), by time from <= at < to (zero: open), newest first, at
// most Limit (default 100, at most 10000), older than the row with id
// Before when Before > 0 (paging: pass the last ID of the previous page).
type Query struct {
	Host     string
	Check    string
	From, To time.Time
	Limit    int
	Before   int64
	// HostChanges: state changes of the host's derived state only (the
	// host's history), not every check's.
	HostChanges bool
}

func limitOf(n int) int {
	if n <= 0 {
		n = 100
	}
	return min(n, 10000)
}

func (q *Query) where() (string, []any) {
	var conds []string
	var args []any
	if q.Host != "" {
		conds = append(conds, "h.name = ?")
		args = append(args, q.Host)
	}
	if q.Check != "" {
		conds = append(conds, "c.name = ?")
		args = append(args, q.Check)
	}
	conds = append(conds, "e.at >= ?", "e.at < ?")
	args = append(args, lo(q.From), hi(q.To))
	if q.Before > 0 {
		conds = append(conds, "e.id < ?")
		args = append(args, q.Before)
	}
	return " WHERE " + strings.Join(conds, " AND ") + fmt.Sprintf(" ORDER BY e.at DESC, e.id DESC LIMIT %d", limitOf(q.Limit)), args
}

const fromChecks = ` JOIN checks c ON c.id = e.check_id JOIN hosts h ON h.id = c.host_id`

// StateChange is a stored state change of a check, with its host's
// derived state before and after.
type StateChange struct {
	ID               int64
	Host, Check      string
	CheckKind        string
	At               time.Time
	From, To         string // the check's states
	HostFrom, HostTo string // the host's
}

// StateChanges returns state changes matching q, newest first.
func (s *Store) StateChanges(ctx context.Context, q Query) ([]StateChange, error) {
	w, args := q.where()
	if q.HostChanges {
		w = strings.Replace(w, " WHERE ", " WHERE e.host_from != e.host_to AND ", 1)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT e.id, h.name, c.name, c.kind, e.at, e.from_state, e.to_state, e.host_from, e.host_to
		FROM state_changes e`+fromChecks+w, args...)
	if err != nil {
		return nil, fmt.Errorf("store: state changes: %w", err)
	}
	defer rows.Close()
	var out []StateChange
	for rows.Next() {
		var t StateChange
		var at int64
		if err := rows.Scan(&t.ID, &t.Host, &t.Check, &t.CheckKind, &at, &t.From, &t.To, &t.HostFrom, &t.HostTo); err != nil {
			return nil, fmt.Errorf("store: state changes: %w", err)
		}
		t.At = fromMS(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Problems returns stored failures matching q, newest first.
func (s *Store) Problems(ctx context.Context, q Query) ([]Problem, error) {
	w, args := q.where()
	rows, err := s.r.QueryContext(ctx, `SELECT e.id, h.name, c.name, c.kind, e.at, e.kind, e.icmp_type, e.icmp_code, e.from_addr, e.detail
		FROM problems e`+fromChecks+w, args...)
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
		if err := rows.Scan(&p.ID, &p.Host, &p.Check, &p.CheckKind, &at, &p.Kind, &typ, &code, &from, &p.Detail); err != nil {
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

// Message is a stored event.Message.
type Message struct {
	ID     int64
	At     time.Time
	Host   string // "" for hb's own messages
	Check  string
	Source string // a service, a host, "hb"
	Level  event.Level
	Text   string
}

// MessageQuery selects stored messages, newest first; zero fields match
// everything. It has watchtower's /list-events filters.
type MessageQuery struct {
	Source   string      // exactly this source
	Host     string      // exactly this host
	From, To time.Time   // From <= at < To
	MinLevel event.Level // this level and above
	Contains string      // the text contains this (case-sensitive)
	Limit    int         // default 100, at most 10000
	Before   int64       // paging: rows with a smaller ID
}

// Messages returns stored messages matching q, newest first.
func (s *Store) Messages(ctx context.Context, q MessageQuery) ([]Message, error) {
	conds := []string{"at >= ?", "at < ?"}
	args := []any{lo(q.From), hi(q.To)}
	if q.Source != "" {
		conds = append(conds, "source = ?")
		args = append(args, q.Source)
	}
	if q.Host != "" {
		conds = append(conds, "host = ?")
		args = append(args, q.Host)
	}
	if q.MinLevel > event.LevelDebug {
		var ls []string
		for l := q.MinLevel; l <= event.LevelCritical; l++ {
			ls = append(ls, "'"+l.String()+"'")
		}
		conds = append(conds, "level IN ("+strings.Join(ls, ",")+")")
	}
	if q.Contains != "" {
		conds = append(conds, "instr(message, ?) > 0")
		args = append(args, q.Contains)
	}
	if q.Before > 0 {
		conds = append(conds, "id < ?")
		args = append(args, q.Before)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, host, check_name, source, level, message FROM events WHERE `+
		strings.Join(conds, " AND ")+fmt.Sprintf(" ORDER BY at DESC, id DESC LIMIT %d", limitOf(q.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var at int64
		var level string
		if err := rows.Scan(&m.ID, &at, &m.Host, &m.Check, &m.Source, &level, &m.Text); err != nil {
			return nil, fmt.Errorf("store: messages: %w", err)
		}
		m.At = fromMS(at)
		m.Level, _ = event.ParseLevel(level)
		out = append(out, m)
	}
	return out, rows.Err()
}

// HostRecord is a stored host with its last known derived state.
type HostRecord struct {
	Host
	FirstSeen   time.Time
	State       string // last state recorded ("unknown" if none)
	StateSince  time.Time
	Transitions uint32
}

// Hosts returns every host the database knows, by name.
func (s *Store) Hosts(ctx context.Context) ([]HostRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, address, labels, first_seen, state, state_since, transitions
		FROM hosts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: hosts: %w", err)
	}
	defer rows.Close()
	var out []HostRecord
	for rows.Next() {
		var (
			h               HostRecord
			labels          string
			first, since, n int64
		)
		if err := rows.Scan(&h.Name, &h.Address, &labels, &first, &h.State, &since, &n); err != nil {
			return nil, fmt.Errorf("store: hosts: %w", err)
		}
		if labels != "" && labels != "{}" {
			if err := json.Unmarshal([]byte(labels), &h.Labels); err != nil {
				return nil, fmt.Errorf("store: host %q labels: %w", h.Name, err)
			}
		}
		h.FirstSeen, h.StateSince = fromMS(first), fromMS(since)
		h.Transitions = uint32(n)
		out = append(out, h)
	}
	return out, rows.Err()
}

// CheckRecord is a stored check with its last recorded state: what
// restore on start needs.
type CheckRecord struct {
	Host, Name  string
	Kind        obs.Kind // KindInvalid if the stored name is unknown to this build
	Target      string
	Address     string // the host's
	FirstSeen   time.Time
	State       state.State
	StateSince  time.Time
	Transitions uint32
}

// Checks returns every check the database knows, by host and name, with
// its last recorded state. At start the core restores each configured
// check's State, StateSince and Transitions from it.
func (s *Store) Checks(ctx context.Context) ([]CheckRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT h.name, c.name, c.kind, c.target, h.address, c.first_seen, c.state, c.state_since, c.transitions
		FROM checks c JOIN hosts h ON h.id = c.host_id ORDER BY h.name, c.name`)
	if err != nil {
		return nil, fmt.Errorf("store: checks: %w", err)
	}
	defer rows.Close()
	var out []CheckRecord
	for rows.Next() {
		var (
			c               CheckRecord
			kind, st        string
			first, since, n int64
		)
		if err := rows.Scan(&c.Host, &c.Name, &kind, &c.Target, &c.Address, &first, &st, &since, &n); err != nil {
			return nil, fmt.Errorf("store: checks: %w", err)
		}
		c.Kind, _ = obs.ParseKind(kind)
		c.State, _ = state.ParseState(st)
		c.FirstSeen, c.StateSince = fromMS(first), fromMS(since)
		c.Transitions = uint32(n)
		out = append(out, c)
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
