// SPDX-License-Identifier: MIT

// Package rtthist keeps an RTT histogram per check (every kind: icmp, udp,
// tcp, http, heartbeat) and writes it on /metrics as hb_check_rtt_seconds,
// labelled host, check, kind and the target-file labels chosen by
// config.Checks.ExportLabels:
//
//   - a classic histogram with configurable buckets
//     (config.Checks.RTTBuckets; 10 µs to 10 s by default), in the text
//     format (WriteTo) and in the protobuf exposition;
//   - a native (sparse, exponential) histogram besides the classic buckets
//     when config.Checks.RTTNativeFactor is set (1.1 by default: schema 3,
//     8 buckets per octave), in the delimited protobuf exposition only
//     (WriteProto), which the api serves to scrapers that negotiate it
//     (Prometheus with native histograms on), counted from the first
//     WriteProto on. native.go has the layout.
//
// It is a sink: Run consumes event.Result events from an *event.Sub and
// observes the RTT of every successful result. Recording is lock-free
// (atomic counters per bucket, classic and native); a new series, a
// classic window outgrown or a new chunk of native buckets takes a lock
// once.
package rtthist
