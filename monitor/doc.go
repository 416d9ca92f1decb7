// SPDX-License-Identifier: MIT

// Package monitor is hb-probe's daemon: the one package that imports the
// sources (the prober engine, and the checks and push receivers that plug
// in) and the sinks (store, API, and what subscribes to the event bus)
// together. cmd/hb-probe is flags → config → monitor.Run.
//
// The pipeline (docs/operations.md):
//
//	sources ──Observe──▶ writer (one goroutine) ──Apply──▶ state.Table
//	                                   └──Publish──▶ event.Bus ──▶ store, alerts, dashboard, …
//
// Every source implements obs.Source and observes into the one obs.Sink
// (the writer's queue); the writer is the table's only writer, and also
// runs reloads (SIGHUP), restores and run-time registrations
// (obs.Registrar), so the table needs no lock. Publishing never blocks: a
// slow sink loses events and its drops are counted by the bus.
//
// Shutdown is ordered: sources stop, the writer applies what is queued,
// sinks drain, the store flushes, then everything closes. Wiring for new
// sources, sinks and API routes goes in wiring.go; the store's in store.go.
package monitor
