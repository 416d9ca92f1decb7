// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/internal/keyfile"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/push"
)

// buildPush builds what [push] configures (docs/push.md): the heartbeat
// receiver (push.enabled), the pulse source (always: pulse:// targets and
// the native API), the event log sink with its journal, and the
// watchtower listener. Their goroutines stop in m.close, after the
// writer, so the last state changes reach the event log.
func (m *Monitor) buildPush(c *config.Probe) ([]obs.Source, error) {
	var srcs []obs.Source
	if c.Push.Enabled {
		pk, err := LoadPushKey(c.KeyFile, c.KeyID)
		if err != nil {
			return nil, err
		}
		rcv, err := push.NewReceiver(push.ReceiverConfig{Push: c.Push, Key: pk, Registrar: m, Bus: m.bus,
			DynDNS: push.NewDynDNS(c.Push, m.log), Log: m.log.With("source", "push")})
		if err != nil {
			return nil, err
		}
		m.srcMetrics = append(m.srcMetrics, rcv)
		m.srcRoutes = append(m.srcRoutes, rcv.Routes(m.table)...)
		srcs = append(srcs, rcv)
	}

	// The event log: its own table in the history database, written
	// through the store's writer (the database keeps one writer), or
	// events_db, a file the log alone writes; fed by the bus.
	var events *push.EventLog
	path := c.Push.EventsDB
	var shared push.Writer
	if !m.opts.NoStore {
		db, err := DBPath(c)
		if err != nil {
			return nil, err
		}
		if path == "" || samePath(path, db) {
			path = db
			if m.store != nil {
				shared = m.store.st
			}
		}
	}
	if path != "" {
		var j *push.Journal
		if c.Push.Journal != "" {
			var err error
			if j, err = push.OpenJournal(c.Push.Journal, c.Push.JournalMaxSize, c.Push.JournalMaxBackups); err != nil {
				return nil, err
			}
		}
		var err error
		if shared != nil {
			events, err = push.OpenSharedEventLog(path, shared, c.Push.EventsRetention.D(), j, m.log.With("sink", "events"))
		} else {
			events, err = push.OpenEventLog(path, c.Push.EventsRetention.D(), j, m.log.With("sink", "events"))
		}
		if err != nil {
			return nil, err
		}
		writer := "own"
		if shared != nil {
			writer = "store"
		}
		m.log.Info("event log", "db", path, "writer", writer, "retention", c.Push.EventsRetention.D())
		sub := m.bus.SubscribeBatch("events", 4096, event.Message, event.StateChange)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); events.Consume(ctx, sub) }()
		m.closers = append(m.closers, func() {
			cancel()
			<-done
			sub.Close()
			events.Close()
		})
		m.srcRoutes = append(m.srcRoutes, events.Routes()...)
		m.events = events // the dashboard's events page (monitor/web.go)
	}

	pl := push.NewPulses(push.PulsesConfig{Push: c.Push, Registrar: m, Bus: m.bus, Events: events, Log: m.log.With("source", "pulse")})
	m.srcRoutes = append(m.srcRoutes, pl.Routes()...)
	srcs = append(srcs, pl)

	if c.Push.WatchtowerListen != "" {
		var pass string
		if f := c.Push.WatchtowerPasswordFile; f != "" {
			var err error
			if pass, err = keyfile.Text(f); err != nil {
				return nil, fmt.Errorf("push.watchtower_password_file: %w", err)
			}
		}
		ln, err := net.Listen("tcp", c.Push.WatchtowerListen)
		if err != nil {
			return nil, fmt.Errorf("push.watchtower_listen: %w", err)
		}
		wt := push.NewWatchtower(pl, events, pass)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := wt.Serve(ctx, ln); err != nil {
				m.log.Error("watchtower API stopped", "err", err)
			}
		}()
		m.closers = append(m.closers, func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
		})
		m.log.Info("watchtower API", "listen", "http://"+ln.Addr().String(), "password", pass != "")
	}
	return srcs, nil
}

// samePath reports whether a and b name the same file (cleaned absolute
// paths; a file that exists is compared by identity).
func samePath(a, b string) bool {
	if fa, err := os.Stat(a); err == nil {
		if fb, err := os.Stat(b); err == nil {
			return os.SameFile(fa, fb)
		}
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
