// SPDX-License-Identifier: MIT

// Package prober is the monitoring host's engine: it parses target lists,
// schedules probes on a timer wheel under a global rate limit, sends them in
// batches from one raw socket per address family, reads replies in batches
// with kernel timestamps, matches them to probes (cookie, source, sequence)
// and decodes ICMP errors and health blobs.
//
// Raw sockets need CAP_NET_RAW; without it the engine uses unprivileged ping
// sockets (net.ipv4.ping_group_range) or UDP probes only.
package prober
