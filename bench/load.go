// SPDX-License-Identifier: MIT

package bench

import (
	"net/netip"
	"time"
)

// LoadConfig is one run of the responder load generator.
type LoadConfig struct {
	Dst      netip.Addr    // the responder's address
	Iface    string        // the generator's interface; replies are counted on it
	Duration time.Duration // how long to send
	Max      uint64        // and at most this many requests
	Batch    int           // requests per sendmmsg
	// XDPPass attaches an XDP_PASS program to Iface (needs CAP_BPF and
	// CAP_NET_ADMIN): native XDP_TX on the peer veth delivers only then.
	XDPPass bool
}

// LoadResult is what the generator measured. Replies are the packets that
// arrived on its interface while sending and for a short drain after.
type LoadResult struct {
	Sent, Replies uint64
	Seconds       float64 // the sending phase
	CPUSeconds    float64 // the generator's own user+sys time
}
