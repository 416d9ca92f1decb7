// SPDX-License-Identifier: MIT

// Package rtthist keeps an RTT histogram per check (every kind: icmp, udp,
// tcp, http, heartbeat) and writes it in the Prometheus text format as
// hb_check_rtt_seconds, a classic histogram with configurable buckets
// (config.Checks.RTTBuckets; 10 µs to 10 s by default), labelled host,
// check, kind and the target-file labels chosen by
// config.Checks.ExportLabels.
//
// It is a sink: Run consumes event.Result events from an *event.Sub and
// observes the RTT of every successful result. Recording is lock-free
// (atomic counters per bucket); a new series takes a lock once. Native
// histograms need the protobuf exposition, which hb does not serve; the
// classic buckets are the contract (docs/api.md).
package rtthist
