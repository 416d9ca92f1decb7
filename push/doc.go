// SPDX-License-Identifier: MIT

// Package push receives what hosts and services push to hb-probe
// (docs/push.md): heartbeats over UDP (HBP1 from hb-responder, legacy hbd
// datagrams from hbc) as the obs.Source of heartbeat checks, pulses
// (watchtower-compatible API and the native /api/v1/pulse) as the source of
// pulse checks, the event log (SQLite, /api/v1/events) and hbd's JSONL
// message journal, and dynamic DNS updates through nsupdate.
//
// The UDP receiver needs no privileges for ports above 1023 (50003 by
// default); it asks the kernel for receive timestamps (SO_TIMESTAMPNS,
// Linux 2.6.22+) so the ACK carries the server's receive time, and reads in
// batches with recvmmsg. It answers only datagrams that verified, never
// with more bytes than the datagram had, within push.ack_rate.
package push
