// SPDX-License-Identifier: MIT

package web

import (
	"io"

	"github.com/hbmon/hb/internal/promtext"
)

// Metrics returns the dashboard's counters in the Prometheus text format
// (api.Config.Collectors).
func (s *Server) Metrics() io.WriterTo {
	return promtext.WriterFunc(func(w io.Writer) {
		for _, f := range []struct {
			name, typ, help string
			v               uint64
		}{
			{"hb_web_logins_total", "counter", "Successful dashboard and /api/0 logins.", s.logins.Load()},
			{"hb_web_login_failures_total", "counter", "Refused logins (wrong user or password, rate limit).", s.loginFails.Load()},
			{"hb_web_sessions_evicted_total", "counter", "Dashboard sessions ended by a new login because their user held 20 or the table was full.", s.sessions.evicted.Load()},
			{"hb_web_logins_refused_full_total", "counter", "Logins refused (503) because every session slot was another user's only session.", s.sessions.full.Load()},
			{"hb_web_sessions", "gauge", "Dashboard sessions held (live or not yet swept).", uint64(s.sessions.Len())},
			{"hb_web_stream_clients", "gauge", "Live-update streams (Server-Sent Events) open.", uint64(max(s.hub.clients.Load(), 0))},
			{"hb_web_stream_changes_total", "counter", "State changes the live-update hub received.", s.hub.events.Load()},
			{"hb_web_stream_sent_bytes_total", "counter", "Bytes of state changes written to live-update streams.", s.hub.sent.Load()},
		} {
			promtext.Family(w, f.name, f.typ, f.help)
			promtext.Uint(w, f.name, "", f.v)
		}
	})
}
