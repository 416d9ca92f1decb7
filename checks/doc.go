// SPDX-License-Identifier: MIT

// Package checks runs the TCP and HTTP(S) checks (obs.KindTCP, obs.KindHTTP):
// a TCP connect with an optional banner check, and an HTTP(S) request with
// status and body checks, each reporting a latency breakdown (DNS, connect,
// TLS, first byte) and the TLS certificate's expiry as obs.Metric values.
//
// Parsing the options (ParseProbe, ParseExpect) is pure and table-tested.
// Source schedules thousands of checks with one timer goroutine over a
// min-heap of due times and a fixed pool of workers, so an idle check costs
// a heap entry, not a goroutine. ProbeHandler serves a blackbox-exporter
// style GET /probe?target=…&module=tcp|http for Prometheus' multi-target
// pattern.
//
// Nothing here needs privileges: checks are ordinary outgoing connections.
// docs/checks.md lists every option.
package checks
