// SPDX-License-Identifier: MIT

package prober

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/wire"
)

// Proto is what the engine sends. The zero value lets New choose.
type Proto uint8

const (
	ProtoAuto Proto = iota // ICMP (raw, else ping sockets), else UDP
	ProtoICMP              // ICMP echo only: raw sockets, else ping sockets
	ProtoUDP               // UDP HBQ1 datagrams to UDPPort only (no privilege needed)
)

// Socket is the kind of socket a mode runs on. The zero value is invalid.
type Socket uint8

const (
	SocketInvalid Socket = iota
	SocketRaw            // SOCK_RAW IPPROTO_ICMP/ICMPV6 (CAP_NET_RAW)
	SocketPing           // SOCK_DGRAM IPPROTO_ICMP/ICMPV6 (net.ipv4.ping_group_range)
	SocketUDP            // SOCK_DGRAM UDP to UDPPort
)

var socketNames = [...]string{"invalid", "raw", "ping-socket", "udp"}

func (s Socket) String() string {
	if int(s) < len(socketNames) {
		return socketNames[s]
	}
	return "invalid"
}

// Mode says how the engine runs, and why.
type Mode struct {
	Socket Socket
	// Timestamps is the best method available: TSKernelTxRx with
	// SO_TIMESTAMPING, TSKernelRx with the SO_TIMESTAMPNS fallback. Each
	// Result records the method that actually measured it.
	Timestamps TSMethod
	Reason     string // one line: why this socket and timestamp method
	// TX is how raw ICMP (IPv4 and IPv6) probes leave: "packet"
	// (AF_PACKET frames, raw fallback per target) or "raw".
	TX TX
	// RX is how raw ICMP and ICMPv6 replies arrive: "ring" (TPACKET_V3
	// rings on AF_PACKET sockets; for the families whose ring opened) or
	// "raw" (recvmmsg on the raw sockets).
	RX RX
}

// TX selects the transmit path of raw ICMP and ICMPv6 probes (config tx).
type TX uint8

const (
	TXAuto   TX = iota // packet when the AF_PACKET socket and tables work, else raw
	TXPacket           // AF_PACKET frames (PACKET_QDISC_BYPASS); New fails without it
	TXRaw              // the raw socket's IP output path
)

var txNames = [...]string{"auto", "packet", "raw"}

func (t TX) String() string {
	if int(t) < len(txNames) {
		return txNames[t]
	}
	return "invalid"
}

// ParseTX parses "auto", "packet" or "raw".
func ParseTX(s string) (TX, error) {
	for i, n := range txNames {
		if s == n {
			return TX(i), nil
		}
	}
	return TXAuto, fmt.Errorf("tx %q: want auto, packet or raw", s)
}

// RX selects the receive path of raw ICMP and ICMPv6 replies (config rx).
type RX uint8

const (
	RXAuto RX = iota // ring when the AF_PACKET ring opens, else raw
	RXRing           // a TPACKET_V3 receive ring; New fails without it
	RXRaw            // recvmmsg on the raw socket
)

var rxNames = [...]string{"auto", "ring", "raw"}

func (r RX) String() string {
	if int(r) < len(rxNames) {
		return rxNames[r]
	}
	return "invalid"
}

// ParseRX parses "auto", "ring" or "raw".
func ParseRX(s string) (RX, error) {
	for i, n := range rxNames {
		if s == n {
			return RX(i), nil
		}
	}
	return RXAuto, fmt.Errorf("rx %q: want auto, ring or raw", s)
}

func (m Mode) String() string {
	tx := ""
	if m.TX == TXPacket {
		tx = ", AF_PACKET transmit"
	}
	if m.RX == RXRing {
		tx += ", TPACKET_V3 receive ring"
	}
	return fmt.Sprintf("%s sockets%s, %s timestamps: %s", m.Socket, tx, m.Timestamps, m.Reason)
}

// Config configures an Engine. Zero fields take the documented defaults.
type Config struct {
	// Proto selects ICMP or UDP probes; ProtoAuto tries raw ICMP sockets
	// (CAP_NET_RAW), then ping sockets (the process's group inside
	// net.ipv4.ping_group_range), then UDP.
	Proto Proto
	// Socket forces a socket kind (tests, or to skip the raw attempt);
	// SocketInvalid (zero) chooses by privilege as above.
	Socket Socket
	// Interval is how often Run probes each target. Default 1s.
	Interval time.Duration
	// Timeout is how long a probe waits for its reply. Default 1s.
	Timeout time.Duration
	// Jitter moves each firing by up to ±Jitter. Default Interval/20.
	Jitter time.Duration
	// Rate limits probes per second over all targets (the global token
	// bucket; Run's holds a second of probes, so a loop that was not
	// scheduled for a while catches up on them, at up to twice the rate
	// and at most 20 ms of the rate at once; Once's one batch). 0 (or
	// negative): unlimited, as config's rate = 0; the default 10,000 is
	// config's.
	Rate int
	// Batch is the sendmmsg/recvmmsg batch size. Default 64.
	Batch int
	// SocketBuffer is SO_RCVBUF/SO_SNDBUF in bytes; the FORCE variants are
	// used when CAP_NET_ADMIN allows. Default 16 MiB.
	SocketBuffer int
	// Key, when set, puts its access token in every request and opens
	// sealed blobs; a reply carrying a clear blob is then refused as a
	// downgrade (Stats.Downgrades) unless AcceptClear.
	Key *wire.Key
	// AcceptClear (accept_clear): with a Key, still accept replies with
	// clear blobs, e.g. while responders are being given the key.
	AcceptClear bool
	// StaleAfter flags blobs collected longer ago than this. Default 30s.
	StaleAfter time.Duration
	// UDPPort is the responder's UDP port. Default wire.DefaultUDPPort.
	UDPPort int
	// NoKernelTx disables SO_TIMESTAMPING and uses the SO_TIMESTAMPNS
	// fallback (for comparison and for kernels where it misbehaves).
	NoKernelTx bool
	// ID is the ICMP identifier; 0 picks a random one per process.
	ID uint16
	// Secret keys the probe cookies; zero: random per Engine.
	Secret wire.Secret
	// IPv4, IPv6: open only these families (both when both false).
	IPv4, IPv6 bool
	// Shards splits Once's unpaced sweeps (Rate < 0) of many targets over
	// this many loops, each on its own sockets (its own ICMP identifier)
	// and OS thread, so sending and the kernel's per-packet work use
	// every CPU. Default 1: one loop, as Run always uses.
	Shards int
	// TX is the transmit path of raw ICMP and ICMPv6 probes: TXAuto
	// (default) uses AF_PACKET frames when that socket opens and the route
	// tables load, TXPacket requires it, TXRaw never uses it. Ping and UDP
	// sockets, and targets on lo, always use their socket's own path.
	TX TX
	// RX is the receive path of raw ICMP and ICMPv6 replies: RXAuto
	// (default) reads them from a TPACKET_V3 ring on an AF_PACKET socket
	// per family when it opens, RXRing requires it, RXRaw reads the raw
	// sockets (recvmmsg). Ping and UDP sockets always read their own.
	RX RX
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.Jitter == 0 {
		c.Jitter = c.Interval / 20
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	c.Batch = min(c.Batch, 1024)
	if c.SocketBuffer <= 0 {
		c.SocketBuffer = 16 << 20
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 30 * time.Second
	}
	c.Shards = min(max(c.Shards, 1), 16)
	if c.UDPPort <= 0 {
		c.UDPPort = wire.DefaultUDPPort
	}
	if !c.IPv4 && !c.IPv6 {
		c.IPv4, c.IPv6 = true, true
	}
}

// counters are the live Stats.
type counters struct {
	sent, sendErrors, enobufs, received, matched, duplicates, late, badCookie,
	wrongSrc, unmatched, icmpErrors, timeouts, txStamps, stalls atomic.Uint64
	txMissing, healthOK                 atomic.Uint64
	txPacket, txFallback                atomic.Uint64
	rxRing, rxRingDrops, rxRingNotLocal atomic.Uint64
	noCookie, hbm2Refused, downgrades   atomic.Uint64
	blobErrors                          [wire.NumErrKinds]atomic.Uint64
}

// add sums the shards' counters. Every field of Stats is a uint64 or an
// array of them; reflection keeps this right when fields are added.
func (s *Stats) add(o Stats) {
	a, b := reflect.ValueOf(s).Elem(), reflect.ValueOf(o)
	for i := range a.NumField() {
		f, g := a.Field(i), b.Field(i)
		switch f.Kind() {
		case reflect.Uint64:
			f.SetUint(f.Uint() + g.Uint())
		case reflect.Array:
			for k := range f.Len() {
				f.Index(k).SetUint(f.Index(k).Uint() + g.Index(k).Uint())
			}
		}
	}
}

func (c *counters) snapshot() Stats {
	st := Stats{
		Sent: c.sent.Load(), SendErrors: c.sendErrors.Load(), ENOBUFS: c.enobufs.Load(),
		Received: c.received.Load(), Matched: c.matched.Load(), Duplicates: c.duplicates.Load(),
		Late: c.late.Load(), BadCookie: c.badCookie.Load(), WrongSrc: c.wrongSrc.Load(),
		Unmatched: c.unmatched.Load(), ICMPErrors: c.icmpErrors.Load(), Timeouts: c.timeouts.Load(),
		TxStamps: c.txStamps.Load(), Stalls: c.stalls.Load(),
		TxMissing: c.txMissing.Load(), HealthOK: c.healthOK.Load(),
		TxPacket: c.txPacket.Load(), TxFallback: c.txFallback.Load(),
		RxRing: c.rxRing.Load(), RxRingDrops: c.rxRingDrops.Load(), RxRingNotLocal: c.rxRingNotLocal.Load(),
		NoCookie: c.noCookie.Load(), HBM2Refused: c.hbm2Refused.Load(), Downgrades: c.downgrades.Load(),
	}
	for i := range st.BlobErrors {
		st.BlobErrors[i] = c.blobErrors[i].Load()
	}
	return st
}

// countRefused counts a reply refused by the reply policy.
func (c *counters) countRefused(v verdict) {
	switch v {
	case vNoCookie:
		c.noCookie.Add(1)
	case vHBM2Refused:
		c.hbm2Refused.Add(1)
	case vDowngrade:
		c.downgrades.Add(1)
	}
}

// countHealth counts a result's health decode outcome.
func (c *counters) countHealth(r *Result) {
	switch {
	case r.BlobErr != nil:
		c.blobErrors[wire.KindOf(r.BlobErr)].Add(1)
	case r.HealthKind != HealthNone:
		c.healthOK.Add(1)
	}
}

// OnceOptions configures Engine.Once.
type OnceOptions struct {
	Count  int           // probes per target; default 1
	Period time.Duration // between two probes of one target; default 1s
	// Timeout, when set, replaces Config.Timeout for this call (fping's
	// retries wait longer each round).
	Timeout time.Duration
	// Progress, when set, is called from the engine loop at most every
	// 100ms with the number of targets finished so far.
	Progress func(done, total int)
	// OnResult, when set, sees every result (valid during the call only).
	OnResult func(*Result)
}
