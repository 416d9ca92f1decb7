// SPDX-License-Identifier: MIT

package push

import (
	"fmt"
	"io"
)

// WriteTo writes the receiver's counters in the Prometheus text format
// (api.Config.Collectors).
func (r *Receiver) WriteTo(w io.Writer) (int64, error) {
	s := r.Stats()
	var n int64
	p := func(format string, a ...any) {
		m, _ := fmt.Fprintf(w, format, a...)
		n += int64(m)
	}
	counter := func(name, help string, v uint64) {
		p("# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("hb_push_datagrams_total", "Datagrams read by the heartbeat receiver.", s.Received)
	counter("hb_push_heartbeats_total", "Heartbeats accepted (HBP1 and legacy hbd).", s.Accepted)
	counter("hb_push_legacy_total", "Accepted legacy hbd datagrams.", s.Legacy)
	counter("hb_push_acks_total", "ACKs sent.", s.Acks)
	counter("hb_push_ack_errors_total", "ACKs that could not be sent.", r.sendErrors.Load())
	counter("hb_push_acks_limited_total", "Heartbeats accepted but not answered (ack_rate, or an answer larger than the datagram).", r.acksLimited.Load())
	counter("hb_push_overdue_total", "Timeout observations for overdue heartbeats.", s.Overdue)
	counter("hb_push_registered_total", "Heartbeat hosts registered at run time.", s.Registered)
	counter("hb_push_register_batches_total", "Calls to the core registering queued unknown hosts (one table rebuild each).", s.RegisterBatches)
	counter("hb_push_register_failures_total", "Unknown hosts whose registration failed.", s.RegisterFailed)
	p("# HELP hb_push_register_pending Unknown hosts waiting for registration.\n# TYPE hb_push_register_pending gauge\nhb_push_register_pending %d\n", s.RegisterPending)
	counter("hb_push_messages_total", "Heartbeat messages published as events.", s.Messages)
	p("# HELP hb_push_dropped_total Datagrams dropped, by reason.\n# TYPE hb_push_dropped_total counter\n")
	for i, v := range s.Dropped {
		p("hb_push_dropped_total{reason=%q} %d\n", dropNames[i], v)
	}
	p("# HELP hb_push_hosts Heartbeat checks the receiver serves.\n# TYPE hb_push_hosts gauge\nhb_push_hosts %d\n", s.Hosts)
	if d := r.cfg.DynDNS; d != nil {
		counter("hb_dyndns_updates_total", "Dynamic DNS updates applied.", d.Done.Load())
		counter("hb_dyndns_failures_total", "Dynamic DNS updates that failed.", d.Failed.Load())
		counter("hb_dyndns_dropped_total", "Dynamic DNS updates dropped (queue full).", d.Dropped.Load())
	}
	return n, nil
}
