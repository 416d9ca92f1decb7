// SPDX-License-Identifier: MIT

// Package responder is the monitored host's side: it samples host health
// (gopsutil v4), encodes and optionally seals it (package wire), publishes it
// into the eBPF program's maps, attaches that program to interfaces (native
// XDP, then generic XDP, then TC) and runs the userspace fallbacks (UDP
// responder) where no eBPF program can be attached.
package responder
