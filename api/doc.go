// SPDX-License-Identifier: MIT

// Package api serves hb-probe's HTTP interface over fasthttp: the JSON API
// under /api/v1, pingstate-compatible /healthz, /state and /status, and
// Prometheus metrics at /metrics. It reads the state table and the store; it
// never probes and never writes to the table.
//
// It listens on 127.0.0.1:8787 by default and needs no privileges. An
// optional bearer token protects everything but /healthz. docs/api.md
// documents every endpoint, the metrics and the measured figures.
package api
