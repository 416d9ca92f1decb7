// SPDX-License-Identifier: MIT

package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/internal/promtext"
)

const outboxSchema = `
CREATE TABLE IF NOT EXISTS notify_outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	channel    TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	next_ns    INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	state      TEXT NOT NULL DEFAULT 'pending', -- pending, sent, failed
	last_error TEXT NOT NULL DEFAULT '',
	done_ns    INTEGER NOT NULL DEFAULT 0,
	body       BLOB NOT NULL                    -- Message as JSON
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox(state, next_ns);
`

// Outbox is the persistent queue between the alert engine and the
// channels. Enqueue writes the message to SQLite before returning; Run
// delivers due messages, marks them sent only after the channel accepted
// them (so a crash mid-delivery sends again after restart: at least once),
// and retries failures with exponential backoff until give_up_after.
//
// Every write goes through the DB's writer (the history store's in the
// daemon): Enqueue waits for its commit; a delivery's outcome is queued
// without holding the channel up, and the message stays in flight (not
// picked up again) until that write is committed.
type Outbox struct {
	db   *DB
	log  *slog.Logger
	now  func() time.Time
	wake chan struct{}

	// mu guards cfg, chans, inflight, settled. It is never held while
	// calling the writer: a queued write's completion takes it on the
	// writer's goroutine.
	mu       sync.Mutex
	cfg      config.AlertOutbox
	chans    map[string]*chanState
	inflight map[int64]bool // being delivered, or its outcome not yet committed
	settled  []int64        // outcomes committed: out of inflight before the next scan
	outcomes sync.WaitGroup // outcome writes queued, not yet committed

	Keep time.Duration // sent messages are kept this long for the API (default 24h)
}

// chanState is one channel's spec, rate limiter and counters.
type chanState struct {
	spec    *Spec
	lim     *bucket.Bucket // RateLimit a minute, burst RateLimit (internal/bucket, as everywhere)
	limRate int            // the RateLimit lim was made for
	sent    atomic.Uint64
	failed  atomic.Uint64 // failed attempts
	gaveUp  atomic.Uint64 // messages marked failed
	limited atomic.Uint64 // deliveries postponed by the rate limit
}

// OutboxOptions configures NewOutbox.
type OutboxOptions struct {
	Config   config.AlertOutbox
	Channels map[string]*Spec
	Log      *slog.Logger
	Now      func() time.Time // tests; default time.Now
}

// NewOutbox creates the outbox's table in db if needed.
func NewOutbox(db *DB, o OutboxOptions) (*Outbox, error) {
	if err := db.W.Exec(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(outboxSchema)
		return err
	}); err != nil {
		return nil, fmt.Errorf("outbox schema: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ob := &Outbox{db: db, log: o.Log, now: o.Now, wake: make(chan struct{}, 1), inflight: map[int64]bool{}, Keep: 24 * time.Hour}
	ob.SetChannels(o.Config, o.Channels)
	return ob, nil
}

// SetChannels replaces the channels and retry settings (reload); counters
// of channels that stay are kept.
func (ob *Outbox) SetChannels(cfg config.AlertOutbox, chans map[string]*Spec) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	next := make(map[string]*chanState, len(chans))
	for n, s := range chans {
		cs := ob.chans[n]
		if cs == nil {
			cs = &chanState{}
		}
		if cs.lim == nil || cs.limRate != s.RateLimit {
			cs.lim, cs.limRate = bucket.New(float64(s.RateLimit)/60, s.RateLimit), s.RateLimit
		}
		cs.spec = s
		next[n] = cs
	}
	ob.cfg, ob.chans = cfg, next
	ob.poke()
}

// Channel returns the named channel's spec, or nil.
func (ob *Outbox) Channel(name string) *Spec {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if cs := ob.chans[name]; cs != nil {
		return cs.spec
	}
	return nil
}

func (ob *Outbox) poke() {
	select {
	case ob.wake <- struct{}{}:
	default:
	}
}

// Enqueue stores m for channel; it is durable when Enqueue returns.
func (ob *Outbox) Enqueue(channel string, m *Message) error {
	return ob.EnqueueAll([]Queued{{Channel: channel, Msg: m}})
}

// Queued is one message for one channel.
type Queued struct {
	Channel string
	Msg     *Message
}

// EnqueueAll stores several messages in one transaction, and returns
// once it is committed.
func (ob *Outbox) EnqueueAll(qs []Queued) error {
	if len(qs) == 0 {
		return nil
	}
	now := ob.now().UTC()
	if err := ob.db.W.Exec(context.Background(), func(tx *sql.Tx) error {
		for _, q := range qs {
			m := q.Msg
			m.Channel = q.Channel
			if m.Time.IsZero() {
				m.Time = now
			}
			res, err := tx.Exec(`INSERT INTO notify_outbox(channel, created_ns, next_ns, body) VALUES(?, ?, ?, '')`, q.Channel, now.UnixNano(), now.UnixNano())
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			m.ID = strconv.FormatInt(id, 10)
			body, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE notify_outbox SET body = ? WHERE id = ?`, body, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	ob.poke()
	return nil
}

type row struct {
	id       int64
	channel  string
	created  int64
	attempts int
	body     []byte
}

// Run delivers until ctx ends. Deliveries run concurrently (at most 8 at a
// time, one at a time per channel, in queue order).
func (ob *Outbox) Run(ctx context.Context) error {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		ob.outcomes.Wait() // committed before the database closes
	}()
	busy := map[string]bool{} // channels with a delivery running; guarded by ob.mu
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastClean := time.Time{}
	for {
		// Only outcomes committed before the scan leave inflight: a
		// message marked sent after the scan read it still pending is
		// not sent again.
		ob.mu.Lock()
		for _, id := range ob.settled {
			delete(ob.inflight, id)
		}
		ob.settled = ob.settled[:0]
		ob.mu.Unlock()
		now := ob.now()
		rows, err := ob.due(ctx, now)
		if err != nil && ctx.Err() == nil {
			ob.log.Warn("outbox: reading due messages", "err", err)
		}
		var later []postponed
		for _, r := range rows {
			ob.mu.Lock()
			if busy[r.channel] || ob.inflight[r.id] {
				ob.mu.Unlock()
				continue
			}
			cs := ob.chans[r.channel]
			if cs != nil && !cs.take(now) {
				cs.limited.Add(1)
				later = append(later, postponed{r.id, now.Add(cs.wait(now))})
				ob.mu.Unlock()
				continue
			}
			busy[r.channel], ob.inflight[r.id] = true, true
			ob.mu.Unlock()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Add(1)
			go func(r row, cs *chanState) {
				defer wg.Done()
				// The channel is free for its next message once this one
				// is sent; the message stays in flight until its outcome
				// is committed, so the next scan does not send it again.
				ob.deliver(ctx, r, cs, func() {
					ob.mu.Lock()
					ob.settled = append(ob.settled, r.id)
					ob.mu.Unlock()
					ob.poke()
				})
				ob.mu.Lock()
				delete(busy, r.channel)
				ob.mu.Unlock()
				<-sem
				ob.poke()
			}(r, cs)
		}
		if len(later) > 0 {
			ob.postpone(ctx, later)
		}
		if now.Sub(lastClean) > time.Hour {
			lastClean = now
			ob.clean(ctx, now.Add(-ob.Keep))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ob.wake:
		case <-tick.C:
		}
	}
}

func (ob *Outbox) due(ctx context.Context, now time.Time) ([]row, error) {
	rs, err := ob.db.Conn.QueryContext(ctx, `SELECT id, channel, created_ns, attempts, body FROM notify_outbox
		WHERE state = 'pending' AND next_ns <= ? ORDER BY id LIMIT 256`, now.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.channel, &r.created, &r.attempts, &r.body); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// postponed is a message the rate limit holds until at.
type postponed struct {
	id int64
	at time.Time
}

// postpone moves rate-limited messages' next attempt, in one write, and
// waits for it so that the next scan does not find them due again.
func (ob *Outbox) postpone(ctx context.Context, ps []postponed) {
	if err := ob.db.W.Exec(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			if _, err := tx.Exec(`UPDATE notify_outbox SET next_ns = ? WHERE id = ?`, p.at.UnixNano(), p.id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil && ctx.Err() == nil {
		ob.log.Warn("outbox: postponing rate-limited messages", "n", len(ps), "err", err)
	}
}

// clean deletes messages sent before cutoff, in slices of 10,000 rows so
// that a shared writer gets back to its own commits between them.
func (ob *Outbox) clean(ctx context.Context, cutoff time.Time) {
	const slice = 10000
	for {
		var n int64
		if err := ob.db.W.Exec(ctx, func(tx *sql.Tx) error {
			r, err := tx.Exec(`DELETE FROM notify_outbox WHERE id IN (SELECT id FROM notify_outbox WHERE state = 'sent' AND done_ns < ? LIMIT ?)`, cutoff.UnixNano(), slice)
			if err != nil {
				return err
			}
			n, _ = r.RowsAffected()
			return nil
		}); err != nil {
			if ctx.Err() == nil {
				ob.log.Warn("outbox: removing old sent messages", "err", err)
			}
			return
		}
		if n < slice {
			return
		}
	}
}

// record queues the write of a delivery's outcome; release runs once it
// is committed (or failed: the message is then still pending and goes out
// again, at least once).
func (ob *Outbox) record(id int64, what string, release func(), q string, args ...any) {
	ob.outcomes.Add(1)
	finish := func(err error) {
		if err != nil {
			ob.log.Warn("outbox: recording a delivery", "outcome", what, "id", id, "err", err)
		}
		release()
		ob.outcomes.Done()
	}
	if err := ob.db.W.Queue(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(q, args...)
		return err
	}, finish); err != nil {
		finish(err)
	}
}

// deliver sends one row and records the outcome; release runs when the
// outcome is committed (at once when there is nothing to record).
func (ob *Outbox) deliver(ctx context.Context, r row, cs *chanState, release func()) {
	ob.mu.Lock()
	cfg := ob.cfg
	ob.mu.Unlock()
	var err error
	if cs == nil {
		err = fmt.Errorf("no channel named %q", r.channel)
	} else {
		var m Message
		if err = json.Unmarshal(r.body, &m); err == nil {
			sctx, cancel := context.WithTimeout(ctx, cs.spec.Timeout+time.Second)
			err = cs.spec.Channel.Send(sctx, &m)
			cancel()
		}
	}
	now := ob.now()
	if ctx.Err() != nil && err != nil {
		release()
		return // shutting down: it stays pending and goes out after restart
	}
	if err == nil {
		cs.sent.Add(1)
		ob.record(r.id, "sent", release, `UPDATE notify_outbox SET state = 'sent', attempts = attempts + 1, last_error = '', done_ns = ? WHERE id = ?`, now.UnixNano(), r.id)
		return
	}
	if cs != nil {
		cs.failed.Add(1)
	}
	attempts := r.attempts + 1
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	if cs == nil || now.Sub(time.Unix(0, r.created)) >= cfg.GiveUpAfter.D() {
		if cs != nil {
			cs.gaveUp.Add(1)
		}
		ob.log.Warn("notification failed for good", "channel", r.channel, "id", r.id, "attempts", attempts, "err", msg)
		ob.record(r.id, "failed", release, `UPDATE notify_outbox SET state = 'failed', attempts = ?, last_error = ?, done_ns = ? WHERE id = ?`, attempts, msg, now.UnixNano(), r.id)
		return
	}
	next := Backoff(cfg.RetryMin.D(), cfg.RetryMax.D(), attempts)
	ob.log.Info("notification failed, will retry", "channel", r.channel, "id", r.id, "attempt", attempts, "retry_in", next, "err", msg)
	ob.record(r.id, "retry", release, `UPDATE notify_outbox SET attempts = ?, last_error = ?, next_ns = ? WHERE id = ?`, attempts, msg, now.Add(next).UnixNano(), r.id)
}

// Backoff is the wait after the n-th failed attempt (n >= 1): lo doubled
// n-1 times, at most hi.
func Backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// take spends a rate-limit token (caller holds ob.mu).
func (cs *chanState) take(now time.Time) bool { return cs.lim.Allow(now) }

// wait is how long until take would succeed.
func (cs *chanState) wait(now time.Time) time.Duration {
	return max(cs.lim.Wait(now, 1), time.Millisecond)
}

// Record is one outbox entry as the API shows it.
type Record struct {
	ID        int64     `json:"id"`
	Channel   string    `json:"channel"`
	State     string    `json:"state"` // pending, sent, failed
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Created   time.Time `json:"created"`
	Next      time.Time `json:"next_attempt,omitzero"`
	Done      time.Time `json:"done,omitzero"`
	Title     string    `json:"title"`
}

// List returns the newest entries, state "" for all.
func (ob *Outbox) List(ctx context.Context, state string, limit int) ([]Record, error) {
	q := `SELECT id, channel, state, attempts, last_error, created_ns, next_ns, done_ns, body FROM notify_outbox`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rs, err := ob.db.Conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []Record{}
	for rs.Next() {
		var r Record
		var c, n, d int64
		var body []byte
		if err := rs.Scan(&r.ID, &r.Channel, &r.State, &r.Attempts, &r.LastError, &c, &n, &d, &body); err != nil {
			return out, err
		}
		r.Created = time.Unix(0, c).UTC()
		if r.State == "pending" {
			r.Next = time.Unix(0, n).UTC()
		}
		if d != 0 {
			r.Done = time.Unix(0, d).UTC()
		}
		var m struct {
			Title string `json:"title"`
		}
		json.Unmarshal(body, &m)
		r.Title = m.Title
		out = append(out, r)
	}
	return out, rs.Err()
}

// ChannelStats are one channel's counters.
type ChannelStats struct {
	Name                          string
	Sent, Failed, GaveUp, Limited uint64
}

// Stats returns per-channel counters, sorted by name.
func (ob *Outbox) Stats() []ChannelStats {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	out := make([]ChannelStats, 0, len(ob.chans))
	for n, cs := range ob.chans {
		out = append(out, ChannelStats{Name: n, Sent: cs.sent.Load(), Failed: cs.failed.Load(), GaveUp: cs.gaveUp.Load(), Limited: cs.limited.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Pending counts messages waiting for delivery.
func (ob *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	err := ob.db.Conn.QueryRowContext(ctx, `SELECT count(*) FROM notify_outbox WHERE state = 'pending'`).Scan(&n)
	return n, err
}

// WriteTo writes the outbox's Prometheus series (api.Config.Collectors).
func (ob *Outbox) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	ob.WriteMetrics(&b)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// WriteMetrics writes the outbox's Prometheus series.
func (ob *Outbox) WriteMetrics(w io.Writer) {
	st := ob.Stats()
	fam := func(name, help, typ string, get func(ChannelStats) uint64) {
		promtext.Family(w, name, typ, help)
		for _, s := range st {
			promtext.Uint(w, name, promtext.Labels("channel", s.Name), get(s))
		}
	}
	fam("hb_notifications_sent_total", "Notifications a channel accepted.", "counter", func(s ChannelStats) uint64 { return s.Sent })
	fam("hb_notifications_failed_total", "Failed delivery attempts (each retry counts).", "counter", func(s ChannelStats) uint64 { return s.Failed })
	fam("hb_notifications_given_up_total", "Notifications marked failed after give_up_after.", "counter", func(s ChannelStats) uint64 { return s.GaveUp })
	fam("hb_notifications_rate_limited_total", "Deliveries postponed by a channel's rate_limit.", "counter", func(s ChannelStats) uint64 { return s.Limited })
	if n, err := ob.Pending(context.Background()); err == nil {
		promtext.Gauge(w, "hb_notifications_pending", "Notifications waiting in the outbox.", int64(n))
	}
}

// ErrNoChannel is returned by Test for an unknown channel name.
var ErrNoChannel = errors.New("no such channel")
