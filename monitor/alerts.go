// SPDX-License-Identifier: MIT

package monitor

// The alert engine's and the notification outbox's wiring, in one file:
// open (same SQLite file as the history store, own tables, written through
// the store's writer), the event subscription, reload, API routes and
// metrics, close.

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
)

// alertQueue is the alert engine's event queue: 16,384 events (a batch
// subscription: memory only for those waiting, 2 MiB when full, 128 bytes
// an event; an event evaluates in microseconds, so it covers an
// 8,000-host outage's two state changes per host arriving at once).
const alertQueue = 1 << 14

type alertWiring struct {
	// db also keeps the dashboard's sessions (web.Options.DB and
	// DBWriter: table web_sessions, read on db.Conn, written by db.W).
	db     *notify.DB
	eng    *alert.Engine
	ob     *notify.Outbox
	sub    *event.Sub
	stop   context.CancelFunc
	done   chan struct{}
	obDone chan struct{}
}

// openAlerts builds the engine and the outbox (after the store: they
// write their tables in the history database through the store's writer,
// and close before it). Without a store (tests) state lives in an
// in-memory database they write themselves.
func (m *Monitor) openAlerts(c *config.Probe) error {
	var db *notify.DB
	if m.store != nil {
		path, err := DBPath(c)
		if err != nil {
			return err
		}
		if db, err = notify.OpenSharedDB(path, m.store.st); err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
	} else {
		var err error
		if db, err = notify.OpenDB(fmt.Sprintf("file:hb-alerts-%p?mode=memory&cache=shared", m)); err != nil { // one per monitor
			return fmt.Errorf("alerts: %w", err)
		}
	}
	w := &alertWiring{db: db}
	fail := func(err error) error {
		w.close()
		return err
	}
	chans, err := notify.Build(c.Alerts.Channels, c.Alerts.Outbox.Timeout.D())
	if err != nil {
		return fail(fmt.Errorf("alerts: %w", err))
	}
	if w.ob, err = notify.NewOutbox(db, notify.OutboxOptions{Config: c.Alerts.Outbox, Channels: chans, Log: m.log}); err != nil {
		return fail(err)
	}
	if w.eng, err = alert.New(alert.Options{Config: c.Alerts, Users: c.Users, Channels: chans, Out: w.ob, Hosts: m.hostLabels, DB: db, Log: m.log}); err != nil {
		return fail(fmt.Errorf("alerts: %w", err))
	}
	writer := "own"
	if db.Shared {
		writer = "store"
	}
	m.log.Info("alerts", "writer", writer)
	m.alerts = w
	return nil
}

// close closes the databases (the store, the shared writer, stays open).
func (w *alertWiring) close() {
	w.db.Close()
}

// hostLabels reads a host's labels from the current view.
func (m *Monitor) hostLabels(name string) (alert.HostInfo, bool) {
	h := m.table.View().Lookup(name)
	if h == nil {
		return alert.HostInfo{}, false
	}
	return alert.HostInfo{Labels: h.Spec().Labels, Parent: h.Spec().Parent, Host: h}, true
}

// startAlerts subscribes the engine to the bus (results only when there
// are rules: they are the high-volume stream) and starts the outbox.
func (m *Monitor) startAlerts() {
	w := m.alerts
	types := []event.Type{event.StateChange}
	if len(m.cfg.Alerts.Rules) > 0 {
		types = append(types, event.Result)
		m.w.resultSnaps.Store(true) // the rules read the check's state of each result
	}
	w.sub = m.bus.SubscribeBatch("alert", alertQueue, types...)
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	w.done, w.obDone = make(chan struct{}), make(chan struct{})
	go func() { defer close(w.done); w.eng.Run(ctx, w.sub) }()
	go func() { defer close(w.obDone); w.ob.Run(ctx) }()
}

// reloadAlerts applies a reloaded config's rules, channels and users;
// alert state stays. A rejected part keeps the running one.
func (m *Monitor) reloadAlerts(c *config.Probe) {
	w := m.alerts
	if w == nil {
		return
	}
	chans, err := notify.Build(c.Alerts.Channels, c.Alerts.Outbox.Timeout.D())
	if err != nil {
		m.log.Error("reload: alert channels rejected, keeping the running alert config", "err", err)
		return
	}
	if err := w.eng.Reload(c.Alerts, c.Users, chans); err != nil {
		m.log.Error("reload: alert rules rejected, keeping the running ones", "err", err)
		return
	}
	w.ob.SetChannels(c.Alerts.Outbox, chans)
	if len(c.Alerts.Rules) > 0 && len(m.cfg.Alerts.Rules) == 0 {
		m.log.Warn("reload: threshold rules added to a daemon started without rules take effect after a restart (state rules apply now)")
	}
	m.log.Info("alert rules applied", "rules", len(c.Alerts.Rules), "channels", len(chans))
}

// alertRoutes are the alert API's endpoints.
func (m *Monitor) alertRoutes() []api.Route {
	if m.alerts == nil {
		return nil
	}
	return m.alerts.eng.Routes(m.alerts.ob, m.webAlertAccess())
}

// alertCollectors write the alert and notification series on /metrics.
func (m *Monitor) alertCollectors() []io.WriterTo {
	if m.alerts == nil {
		return nil
	}
	return []io.WriterTo{m.alerts.eng, m.alerts.ob}
}

// closeAlerts stops the engine after the writer stopped (it takes what is
// queued and saves its state), then the outbox (undelivered messages stay
// in the database for the next start), then closes the database.
func (m *Monitor) closeAlerts() {
	w := m.alerts
	if w == nil {
		return
	}
	if w.sub != nil {
		drain := time.After(5 * time.Second)
	loop:
		for w.sub.Len() > 0 {
			select {
			case <-drain:
				break loop
			case <-time.After(10 * time.Millisecond):
			}
		}
		w.stop()
		<-w.done
		<-w.obDone
		w.sub.Close()
	}
	w.close()
}
