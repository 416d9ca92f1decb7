// SPDX-License-Identifier: MIT

package event

import (
	"io"

	"github.com/hbmon/hb/internal/promtext"
)

// Metrics returns the bus's counters in the Prometheus text format, for
// api.Config.Collectors: events published, and per subscriber delivered,
// dropped (its queue was full) and waiting.
func (b *Bus) Metrics() io.WriterTo {
	return promtext.WriterFunc(func(w io.Writer) {
		st := b.Stats()
		promtext.Family(w, "hb_events_published_total", "counter", "Events published on the event bus.")
		promtext.Uint(w, "hb_events_published_total", "", st.Published)
		fams := []struct {
			name, typ, help string
			v               func(SubStats) uint64
		}{
			{"hb_events_delivered_total", "counter", "Events queued for a subscriber.", func(s SubStats) uint64 { return s.Delivered }},
			{"hb_events_dropped_total", "counter", "Events a subscriber lost because its queue was full.", func(s SubStats) uint64 { return s.Dropped }},
			{"hb_events_queued", "gauge", "Events waiting in a subscriber's queue.", func(s SubStats) uint64 { return uint64(s.Queued) }},
			{"hb_events_queue_capacity", "gauge", "Size of a subscriber's queue.", func(s SubStats) uint64 { return uint64(s.Capacity) }},
		}
		for _, f := range fams {
			promtext.Family(w, f.name, f.typ, f.help)
			for _, s := range st.Subscribers {
				promtext.Uint(w, f.name, promtext.Labels("subscriber", s.Name), f.v(s))
			}
		}
	})
}
