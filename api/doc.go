// Package api serves hb-probe's HTTP interface over fasthttp: the JSON API
// under /api/v1, pingstate-compatible /healthz, /state and /status, and
// Prometheus metrics at /metrics. It reads the state table and the store; it
// never probes.
package api
