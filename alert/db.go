// SPDX-License-Identifier: MIT

package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hbmon/hb/alert/match"
)

const schema = `
CREATE TABLE IF NOT EXISTS alert_state (
	key     TEXT PRIMARY KEY,   -- host NUL check NUL rule NUL metric
	body    TEXT NOT NULL,      -- the Alert as JSON
	updated INTEGER NOT NULL    -- unix ns
);
CREATE TABLE IF NOT EXISTS alert_silences (
	id   INTEGER PRIMARY KEY AUTOINCREMENT,
	body TEXT NOT NULL          -- the Silence as JSON
);
`

// Silence mutes notifications of matching alerts between StartsAt and
// EndsAt; with Schedule and Duration it is a recurring maintenance window
// instead (each window opens at a Schedule match and lasts Duration)
// until EndsAt (zero: forever). Muted alerts are still recorded.
type Silence struct {
	ID        int64         `json:"id"`
	Matchers  string        `json:"matchers"` // label selector: "host=web1,check=icmp"
	Author    string        `json:"author"`
	Comment   string        `json:"comment"`
	StartsAt  time.Time     `json:"starts_at"`
	EndsAt    time.Time     `json:"ends_at,omitzero"`
	Schedule  string        `json:"schedule,omitempty"` // cron, UTC (maintenance windows)
	Duration  time.Duration `json:"duration_ns,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	// UpdatedBy and UpdatedAt: the last change (UpdateSilence), if any.
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`

	sel   match.Selector
	sched *match.Schedule
}

// Validate parses the matchers and schedule.
func (s *Silence) Validate() error {
	var err error
	if s.sel, err = match.ParseSelector(s.Matchers); err != nil {
		return err
	}
	if len(s.sel) == 0 {
		return errors.New("a silence needs at least one matcher")
	}
	if s.Schedule != "" {
		if s.sched, err = match.ParseSchedule(s.Schedule); err != nil {
			return err
		}
		if s.Duration <= 0 || s.Duration > 7*24*time.Hour {
			return fmt.Errorf("a maintenance window needs a duration in (0, 168h], got %v", s.Duration)
		}
		return nil
	}
	if s.EndsAt.IsZero() || !s.EndsAt.After(s.StartsAt) {
		return errors.New("a silence needs ends_at after starts_at")
	}
	return nil
}

// Active reports whether the silence mutes at now.
func (s *Silence) Active(now time.Time) bool {
	if now.Before(s.StartsAt) || !s.EndsAt.IsZero() && !now.Before(s.EndsAt) {
		return false
	}
	if s.sched != nil {
		_, ok := s.sched.Active(now, s.Duration)
		return ok
	}
	return true
}

// Expired reports whether the silence can never be active again.
func (s *Silence) Expired(now time.Time) bool { return !s.EndsAt.IsZero() && !now.Before(s.EndsAt) }

// saveTimeout bounds how long an API call waits for its write to be
// committed (the history store commits about every second).
const saveTimeout = 30 * time.Second

// AddSilence validates and stores s, returning it with its id once it is
// committed.
func (e *Engine) AddSilence(s Silence, now time.Time) (Silence, error) {
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	s.StartsAt, s.EndsAt, s.CreatedAt = s.StartsAt.UTC(), s.EndsAt.UTC(), now.UTC()
	if s.EndsAt.Equal(time.Unix(0, 0).UTC()) {
		s.EndsAt = time.Time{}
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	e.silenceMu.Lock()
	defer e.silenceMu.Unlock()
	if e.db != nil {
		// Under e.silenceMu, not e.mu: the write waits for the writer's commit.
		ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
		defer cancel()
		c := s
		if err := e.db.W.Exec(ctx, func(tx *sql.Tx) error {
			body, _ := json.Marshal(&c)
			res, err := tx.Exec(`INSERT INTO alert_silences(body) VALUES(?)`, string(body))
			if err != nil {
				return err
			}
			c.ID, _ = res.LastInsertId()
			body, _ = json.Marshal(&c)
			_, err = tx.Exec(`UPDATE alert_silences SET body = ? WHERE id = ?`, string(body), c.ID)
			return err
		}); err != nil {
			return s, saveError{"saving silence", err}
		}
		s.ID = c.ID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db == nil {
		s.ID = int64(len(e.silences) + 1)
		for e.silences[s.ID] != nil {
			s.ID++
		}
	}
	c := s
	e.silences[s.ID] = &c
	return s, nil
}

// SilenceUpdate is a change to a silence: the fields not nil replace the
// silence's.
type SilenceUpdate struct {
	EndsAt  *time.Time // a zero time ends a maintenance window never
	Comment *string
	By      string // who changes it (UpdatedBy)
}

// UpdateSilence changes silence id's end or comment (its matchers, start
// and schedule stay) and stores it; the result must still be a valid
// silence (a plain silence ends after it starts). Alerts it stops muting
// are notified at the next tick.
func (e *Engine) UpdateSilence(id int64, u SilenceUpdate, now time.Time) (Silence, error) {
	// Held from the read to the memory update, across the commit: two
	// concurrent updates neither commit in one order and land in memory
	// in the other nor build on the same old silence.
	e.silenceMu.Lock()
	defer e.silenceMu.Unlock()
	e.mu.Lock()
	cur := e.silences[id]
	if cur == nil {
		e.mu.Unlock()
		return Silence{}, ErrNotFound
	}
	s, old := *cur, *cur
	e.mu.Unlock()
	if u.EndsAt != nil {
		s.EndsAt = u.EndsAt.UTC()
		if s.EndsAt.Equal(time.Unix(0, 0).UTC()) {
			s.EndsAt = time.Time{}
		}
	}
	if u.Comment != nil {
		s.Comment = *u.Comment
	}
	s.UpdatedBy, s.UpdatedAt = u.By, now.UTC()
	if err := s.Validate(); err != nil {
		return old, err
	}
	if e.db != nil {
		// Under e.silenceMu, not e.mu: the write waits for the writer's commit.
		ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
		defer cancel()
		body, _ := json.Marshal(&s)
		if err := e.db.W.Exec(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE alert_silences SET body = ? WHERE id = ?`, string(body), id)
			return err
		}); err != nil {
			return old, saveError{"updating silence", err}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.silences[id] == nil { // deleted meanwhile: stays deleted
		return Silence{}, ErrNotFound
	}
	e.silences[id] = &s
	return s, nil
}

// Silences returns the silences, expired ones too when all.
func (e *Engine) Silences(now time.Time, all bool) []Silence {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Silence{}
	for _, s := range e.silences {
		if all || !s.Expired(now) {
			out = append(out, *s)
		}
	}
	sortSilences(out)
	return out
}

func sortSilences(s []Silence) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].ID < s[j-1].ID; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// DeleteSilence removes a silence, returning once that is committed;
// muted alerts that are still firing are notified at the next tick.
func (e *Engine) DeleteSilence(id int64) error {
	e.silenceMu.Lock()
	defer e.silenceMu.Unlock()
	e.mu.Lock()
	found := e.silences[id] != nil
	e.mu.Unlock()
	if !found {
		return ErrNotFound
	}
	if e.db != nil {
		// Under e.silenceMu, not e.mu: the write waits for the writer's commit.
		ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
		defer cancel()
		if err := e.db.W.Exec(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM alert_silences WHERE id = ?`, id)
			return err
		}); err != nil {
			return saveError{"deleting silence", err}
		}
	}
	e.mu.Lock()
	delete(e.silences, id)
	e.mu.Unlock()
	return nil
}

// restore loads alerts and silences (called by New).
func (e *Engine) restore() error {
	if err := e.db.W.Exec(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(schema)
		return err
	}); err != nil {
		return fmt.Errorf("alert: schema: %w", err)
	}
	rows, err := e.db.Conn.Query(`SELECT key, body FROM alert_state`)
	if err != nil {
		return fmt.Errorf("alert: restoring: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, body string
		if err := rows.Scan(&key, &body); err != nil {
			return err
		}
		a := new(Alert)
		if err := json.Unmarshal([]byte(body), a); err != nil {
			e.log.Warn("alert: dropping unreadable saved alert", "key", key, "err", err)
			continue
		}
		if a.key() != key {
			continue
		}
		a.Kind = kindOf(a.KindName)
		a.ID = alertID(key)
		e.alerts[a.mkey()], e.byID[a.ID] = a, a
		// A level that was never announced (the daemon stopped between
		// the change and the group flush): announce it now.
		if a.Level != OK && a.Level.rank() > a.Notified.rank() && !a.Flapping && a.Held == "" && a.Muted == "" {
			ev := "firing"
			if a.Notified != OK {
				ev = "escalated"
			}
			// At the zero time: the engine's clock starts the group's
			// wait at its first tick (tickOut), so the restored note
			// goes out group_wait after the restart on whatever clock
			// drives Tick, never on the wall clock against another.
			e.queue(a, ev, a.Level, a.Notified, time.Time{})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	srows, err := e.db.Conn.Query(`SELECT id, body FROM alert_silences`)
	if err != nil {
		return fmt.Errorf("alert: restoring silences: %w", err)
	}
	defer srows.Close()
	for srows.Next() {
		var id int64
		var body string
		if err := srows.Scan(&id, &body); err != nil {
			return err
		}
		s := new(Silence)
		if err := json.Unmarshal([]byte(body), s); err != nil || s.Validate() != nil {
			e.log.Warn("alert: dropping unreadable silence", "id", id)
			continue
		}
		s.ID = id
		e.silences[id] = s
	}
	return srows.Err()
}

// save writes the alerts changed and dropped since the last save, in one
// transaction queued on the database's writer after the ones queued
// before it (saveMu keeps collecting and queueing in one order). With wait
// it returns once that is committed — and with it every save queued
// earlier — with the error if it failed; without, the caller goes on and
// a failure is logged. The alerts of a failed write are written again,
// as they are then, by the next save.
func (e *Engine) save(wait bool) error {
	e.saveMu.Lock()
	return e.saveLocked(wait, wait)
}

// saveLocked is save with saveMu held; it unlocks it. With stale it
// writes the alerts whose only change is their shown value too.
func (e *Engine) saveLocked(wait, stale bool) error {
	if e.db == nil {
		e.saveMu.Unlock()
		return nil
	}
	e.failMu.Lock()
	retry := e.failed
	e.failed = nil
	e.failMu.Unlock()
	e.mu.Lock()
	for _, k := range retry {
		if a := e.alerts[splitKey(k)]; a != nil {
			a.dirty = true
		} else {
			e.deleted = append(e.deleted, k)
		}
	}
	dirty, deleted := e.collectDirty(stale)
	e.mu.Unlock()
	if len(dirty) == 0 && len(deleted) == 0 && !wait {
		e.saveMu.Unlock()
		return nil
	}
	done := make(chan error, 1)
	finish := func(err error) {
		if err != nil {
			keys := deleted
			for i := range dirty {
				keys = append(keys, dirty[i].key())
			}
			e.failMu.Lock()
			e.failed = append(e.failed, keys...)
			e.failMu.Unlock()
			e.saveErrors.Add(1)
			e.log.Error("alert: saving alert state", "alerts", len(keys), "err", err)
		} else {
			e.rowsWritten.Add(uint64(len(dirty) + len(deleted)))
		}
		done <- err
	}
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	err := e.db.W.Queue(ctx, func(tx *sql.Tx) error { return writeAlerts(tx, dirty, deleted) }, finish)
	e.saveMu.Unlock()
	if err != nil {
		finish(err)
	} else if !wait {
		return nil
	} else {
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("alert: saving alert state: %w", err)
	}
	return nil
}

// writeAlerts deletes the dropped alerts, then writes the changed ones
// (an alert dropped and raised again since the last save is in both, and
// stays).
func writeAlerts(tx *sql.Tx, dirty []Alert, deleted []string) error {
	now := time.Now().UnixNano()
	for _, k := range deleted {
		if _, err := tx.Exec(`DELETE FROM alert_state WHERE key = ?`, k); err != nil {
			return err
		}
	}
	for i := range dirty {
		body, err := json.Marshal(&dirty[i])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO alert_state(key, body, updated) VALUES(?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET body = excluded.body, updated = excluded.updated`, dirty[i].key(), string(body), now); err != nil {
			return err
		}
	}
	return nil
}

// splitKey is alertKey's inverse.
func splitKey(k string) akey {
	p := strings.SplitN(k, "\x00", 4)
	for len(p) < 4 {
		p = append(p, "")
	}
	return akey{p[0], p[1], p[2], p[3]}
}

// SchemaOnly creates the alert tables in db (for tools that read them).
func SchemaOnly(db *sql.DB) error {
	_, err := db.Exec(schema)
	return err
}
