// SPDX-License-Identifier: MIT

// Package targets reads hb-probe's target list: one host or check a line
// (an address, hostname or CIDR for the prober's icmp/udp check;
// tcp://HOST:PORT, http(s)://HOST/PATH, heartbeat://NAME, pulse://NAME for
// the other kinds), with name=, parent=, per-kind options (Keys) and
// key=value labels; lines with the same name= are one host with several
// checks. Errors name FILE:LINE. The grammar is in docs/prober.md.
//
// Parse is pure (text in, lines out); Resolve expands CIDRs, looks up
// hostnames through the function it is given, merges duplicates and
// returns hosts with their obs.CheckSpecs.
package targets
