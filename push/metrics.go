// SPDX-License-Identifier: MIT

package push

import (
	"io"

	"github.com/hbmon/hb/internal/promtext"
)

// WriteTo writes the receiver's counters in the Prometheus text format
// (api.Config.Collectors).
func (r *Receiver) WriteTo(w io.Writer) (int64, error) {
	return promtext.WriterFunc(r.writeMetrics).WriteTo(w)
}

func (r *Receiver) writeMetrics(w io.Writer) {
	s := r.Stats()
	promtext.Counter(w, "hb_push_datagrams_total", "Datagrams read by the heartbeat receiver.", s.Received)
	promtext.Counter(w, "hb_push_heartbeats_total", "Heartbeats accepted (HBP1 and legacy hbd).", s.Accepted)
	promtext.Counter(w, "hb_push_legacy_total", "Accepted legacy hbd datagrams.", s.Legacy)
	promtext.Counter(w, "hb_push_acks_total", "ACKs sent.", s.Acks)
	promtext.Counter(w, "hb_push_ack_errors_total", "ACKs that could not be sent.", r.sendErrors.Load())
	promtext.Counter(w, "hb_push_dyndns_refused_total", "Address changes of heartbeats without a key not sent to dynamic DNS (dyndns_unauthenticated = false).", r.dnsRefused.Load())
	promtext.Counter(w, "hb_push_acks_limited_total", "Heartbeats accepted but not answered (ack_rate, or an answer larger than the datagram).", r.acksLimited.Load())
	promtext.Counter(w, "hb_push_overdue_total", "Timeout observations for overdue heartbeats.", s.Overdue)
	promtext.Counter(w, "hb_push_registered_total", "Heartbeat hosts registered at run time.", s.Registered)
	promtext.Counter(w, "hb_push_register_batches_total", "Calls to the core registering queued unknown hosts (one table rebuild each).", s.RegisterBatches)
	promtext.Counter(w, "hb_push_register_failures_total", "Unknown hosts whose registration failed.", s.RegisterFailed)
	promtext.Gauge(w, "hb_push_register_pending", "Unknown hosts waiting for registration.", int64(s.RegisterPending))
	promtext.Counter(w, "hb_push_messages_total", "Heartbeat messages published as events.", s.Messages)
	promtext.Family(w, "hb_push_dropped_total", "counter", "Datagrams dropped, by reason.")
	for i, v := range s.Dropped {
		promtext.Uint(w, "hb_push_dropped_total", promtext.Labels("reason", dropNames[i]), v)
	}
	promtext.Gauge(w, "hb_push_hosts", "Heartbeat checks the receiver serves.", int64(s.Hosts))
	if d := r.cfg.DynDNS; d != nil {
		promtext.Counter(w, "hb_dyndns_updates_total", "Dynamic DNS updates applied.", d.Done.Load())
		promtext.Counter(w, "hb_dyndns_failures_total", "Dynamic DNS updates that failed.", d.Failed.Load())
		promtext.Counter(w, "hb_dyndns_dropped_total", "Dynamic DNS updates dropped (queue full).", d.Dropped.Load())
	}
}
