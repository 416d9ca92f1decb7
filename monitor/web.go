// SPDX-License-Identifier: MIT

package monitor

// The dashboard (web/): its routes on the API listener, its users'
// credentials on the API, its live stream fed by the bus, TLS.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/alert"
	"github.com/hbmon/hb/api"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/notify"
	"github.com/hbmon/hb/web"
)

// webWiring is the dashboard's part of the daemon.
type webWiring struct {
	srv      *web.Server
	certs    *web.Certs // nil without TLS
	sub      *event.Sub
	sessions *notify.DB // where the sessions are kept (nil: memory)
}

// openWeb builds the dashboard (New): a failed one (no users on a
// non-loopback address, unreadable certificates) is a failed start.
func (m *Monitor) openWeb(c *config.Probe) error {
	if m.ln == nil {
		return nil
	}
	w := &webWiring{}
	if c.Web.TLS() {
		crt, err := web.LoadCerts(c.Web.TLSCert, c.Web.TLSKey)
		if err != nil {
			return err
		}
		w.certs = crt
	}
	if c.Web.Enabled {
		var tok string
		if c.API.TokenFile != "" {
			b, err := os.ReadFile(c.API.TokenFile)
			if err != nil {
				return fmt.Errorf("api: token file: %w", err)
			}
			tok = strings.TrimSpace(string(b))
		}
		o := web.Options{Config: c.Web, Users: c.Users, DefaultOwner: c.Alerts.DefaultOwner, Listen: m.ln.Addr().String(),
			APIToken: tok, Table: m.table, Hub: web.NewHub(), History: m.history(), Log: m.log.With("sink", "web"),
			Settings: m.settings}
		if m.alerts != nil {
			o.Alerts = m.alerts.eng
			// Sessions survive a restart: the history database, read on the
			// alerts' read-only connection and written by the store's
			// writer (an in-memory database of their own without a store).
			// m.alerts is set on every start (openAlerts: no config turns
			// alerting off), so sessions are in the file whenever there is
			// a store.
			o.DB, o.DBWriter = m.alerts.db.Conn, m.alerts.db.W
			w.sessions = m.alerts.db
		}
		if m.events != nil {
			o.Events = m.events
		}
		srv, err := web.New(o)
		if err != nil {
			return err
		}
		w.srv = srv
	}
	m.web = w
	return nil
}

// settings is the effective configuration with secrets redacted.
func (m *Monitor) settings() any {
	m.reloadMu.Lock()
	c := m.cfg
	m.reloadMu.Unlock()
	r, err := web.Redacted(&c)
	if err != nil {
		return map[string]string{"error": "cannot show the configuration"}
	}
	return map[string]any{"file": m.cfgPath, "config": r}
}

// webQueue is the dashboard hub's queue of state changes: 16,384 (a batch
// subscription: memory only for those waiting, 2 MiB when full); the hub
// only coalesces them.
const webQueue = 1 << 14

// startWeb feeds the live stream until ctx ends.
func (m *Monitor) startWeb(ctx context.Context) {
	if m.web == nil || m.web.srv == nil {
		return
	}
	m.web.sub = m.bus.SubscribeBatch("web", webQueue, event.StateChange)
	m.closers = append(m.closers, m.web.sub.Close)
	go m.web.srv.Hub().Run(ctx, m.web.sub)
}

func (m *Monitor) webRoutes() []api.Route {
	if m.web == nil || m.web.srv == nil {
		return nil
	}
	return m.web.srv.Routes()
}

// webAuthorize is the API's further credentials: admins' sessions and
// tokens (nil without users).
func (m *Monitor) webAuthorize() func(*fasthttp.RequestCtx) bool {
	if m.web == nil || m.web.srv == nil {
		return nil
	}
	return m.web.srv.Authorize()
}

// webAlertAccess is the alert API's authentication by the dashboard's
// users and roles (nil without users or without the dashboard: the API's
// bearer token guards the alert routes then).
func (m *Monitor) webAlertAccess() alert.Access {
	if m.web == nil || m.web.srv == nil {
		return nil
	}
	return m.web.srv.AlertAccess()
}

// webListener wraps the API listener in TLS when configured.
func (m *Monitor) webListener(ln net.Listener) net.Listener {
	if m.web == nil || m.web.certs == nil {
		return ln
	}
	return tls.NewListener(ln, m.web.certs.Config())
}

// scheme is the API's URL scheme.
func (m *Monitor) scheme() string {
	if m.web != nil && m.web.certs != nil {
		return "https"
	}
	return "http"
}

// reloadWeb applies users and re-reads the certificate (SIGHUP).
func (m *Monitor) reloadWeb(c *config.Probe) {
	if m.web == nil {
		return
	}
	if m.web.certs != nil {
		if err := m.web.certs.Reload(); err != nil {
			m.log.Error("reload: certificate not re-read, keeping the running one", "err", err)
		} else {
			m.log.Info("reload: certificate re-read", "cert", c.Web.TLSCert)
		}
	}
	if m.web.srv != nil {
		if m.web.srv.Open() != (len(c.Users) == 0) {
			m.log.Warn("reload: adding the first users or removing the last takes effect after a restart")
			return
		}
		m.web.srv.SetUsers(c.Users, c.Alerts.DefaultOwner)
		m.log.Info("reload: dashboard users applied", "users", len(c.Users))
	}
}
