// Package state is the prober's in-memory view of every host: a table of
// immutable per-host snapshots behind atomic pointers, written by one
// goroutine and read without locks, with each host's state machine
// (unknown, up, degraded, down), RTT and loss statistics and its most recent
// results. It never touches a socket or reads the clock: times are passed in.
package state
