// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/wire"
)

// UDPCounters are the userspace UDP responder's counters. Every datagram
// read increments exactly one of them.
type UDPCounters struct {
	Answered    uint64 `json:"answered"`     // valid request: HBR1 reply with a health blob
	Reachable   uint64 `json:"reachable"`    // valid request: HBR1 reply without health (no/wrong key or token, no room, no blob yet, health not asked)
	Dropped     uint64 `json:"dropped"`      // not a valid request (a reply, truncated, foreign), from port 0 or our own port, martian or not allowed source
	RateLimited uint64 `json:"rate_limited"` // valid request over the rate: dropped
}

// Action is what the UDP responder does with one datagram.
type Action int

const (
	ActInvalid Action = iota
	// ActReply: the datagram was rewritten into an HBR1 reply carrying the
	// health blob (wire.MakeReply).
	ActReply
	// ActReach: the datagram was rewritten into an HBR1 reply without
	// health (wire.MakeReachReply): the host is up, nothing more.
	ActReach
	// ActDrop: not answered.
	ActDrop
	// ActRateLimited: a valid request over the rate; not answered.
	ActRateLimited
)

var actionNames = [...]string{"invalid", "reply", "reach", "drop", "rate-limited"}

func (a Action) String() string {
	if int(a) >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Judge decides what the userspace responder does with a datagram. It is
// pure: the clock and the rate limiter's verdict come in as arguments.
type Judge struct {
	// Key, when set, is needed for health: a request without its key id
	// and a valid token gets a reply without health.
	Key *wire.Key
	// Port is the port the responder listens on: datagrams from it are
	// never answered (two responders must not talk to each other).
	Port uint16
	// AllowFrom, when not empty, lists the only source prefixes answered.
	AllowFrom []netip.Prefix
}

// Judge decides what to do with datagram b, received from src on local
// address dst (invalid when unknown) at time now, and rewrites b in place
// for ActReply and ActReach. blob is the current health blob (nil before the
// first sample). allow is the rate limiter, asked only for a datagram that
// would be answered; nil means no limit.
//
// Only a well-formed HBQ1 request is answered, only from a real source
// port (not 0, not Port), and the answer is always the request's own bytes
// rewritten (same length) with the HBR1 magic, which no responder answers:
// a datagram cannot start a loop between responders, and the responder is
// never a larger-than-asked reflector.
func (j *Judge) Judge(b []byte, src, dst netip.AddrPort, blob []byte, now time.Time, allow func() bool) Action {
	if src.Port() == 0 || src.Port() == j.Port || !j.sourceOK(src.Addr().Unmap(), dst.Addr().Unmap()) {
		return ActDrop
	}
	r, err := wire.ParseRequest(b) // HBQ1 magic, full header, room present
	if err != nil {
		return ActDrop
	}
	if allow != nil && !allow() {
		return ActRateLimited
	}
	health := r.Flags&wire.FlagHealth != 0 && int(r.Room) >= wire.BlobSize && len(blob) == wire.BlobSize
	if health && j.Key != nil && (r.KeyID != j.Key.ID || !j.Key.CheckToken(r.Token, now.UnixNano(), dst.Addr())) {
		health = false
	}
	if health && wire.MakeReply(b, blob) == nil {
		return ActReply
	}
	if wire.MakeReachReply(b) != nil {
		return ActDrop // cannot happen: ParseRequest accepted b
	}
	return ActReach
}

// sourceOK refuses what the kernel treats as martian (or should): the
// unspecified address, multicast, limited broadcast, loopback from
// anywhere but loopback; and sources outside AllowFrom.
func (j *Judge) sourceOK(src, dst netip.Addr) bool {
	if !src.IsValid() || src.IsUnspecified() || src.IsMulticast() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	if src.IsLoopback() && dst.IsValid() && !dst.IsLoopback() {
		return false
	}
	if len(j.AllowFrom) == 0 {
		return true
	}
	for _, p := range j.AllowFrom {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// UDPResponder answers HBQ1 datagrams in userspace. It runs only where no
// eBPF program answers UDP probes (userspace-only mode, or no interface
// could be attached): the kernel program answers every valid UDP probe on
// the interfaces it is attached to and drops the ones over the rate, so
// there is one rate budget for UDP, never two (docs/responder.md).
type UDPResponder struct {
	Conn  *net.UDPConn   // from ListenUDP
	Judge Judge          // the starting verdicts; Set changes them while serving
	Blob  func() []byte  // current blob, or nil
	Limit *bucket.Bucket // nil: no limit; Set changes it while serving

	live atomic.Pointer[udpLive] // set by Set: wins over Judge and Limit

	answered, reach, dropped, limited atomic.Uint64
}

type udpLive struct {
	judge Judge
	limit *bucket.Bucket
}

// Set replaces the judge (key, port, allow-list) and the rate limiter of a
// serving responder (reload); the next datagram is judged by them. Judge
// and Limit must not be written once Serve runs.
func (u *UDPResponder) Set(j Judge, limit *bucket.Bucket) {
	u.live.Store(&udpLive{judge: j, limit: limit})
}

// limit is the rate limiter in use (nil: none).
func (u *UDPResponder) limit() *bucket.Bucket {
	if l := u.live.Load(); l != nil {
		return l.limit
	}
	return u.Limit
}

// ListenUDP opens the responder's dual-stack UDP socket on port, asking the
// kernel for each datagram's local address (IP_PKTINFO, IPV6_RECVPKTINFO)
// so that tokens can be checked against it and replies leave from it.
func ListenUDP(port uint16) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, err
	}
	if err := enablePktinfo(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Counters returns the responder's counters.
func (u *UDPResponder) Counters() UDPCounters {
	return UDPCounters{Answered: u.answered.Load(), Reachable: u.reach.Load(), Dropped: u.dropped.Load(), RateLimited: u.limited.Load()}
}

// Serve answers datagrams until ctx is done or the connection fails.
func (u *UDPResponder) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		u.Conn.SetReadDeadline(time.Now())
	}()
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	// The local address of each datagram comes from IP_PKTINFO; a socket
	// bound to one address (not ListenUDP's) has only that one.
	var bound netip.AddrPort
	if la, ok := u.Conn.LocalAddr().(*net.UDPAddr); ok {
		bound = la.AddrPort()
	}
	for {
		n, oobn, _, from, err := u.Conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		now := time.Now()
		b := buf[:n]
		dst := netip.AddrPortFrom(parsePktinfo(oob[:oobn]), bound.Port())
		if !dst.Addr().IsValid() && !bound.Addr().IsUnspecified() {
			dst = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
		}
		j, lim := &u.Judge, u.Limit
		if l := u.live.Load(); l != nil {
			j, lim = &l.judge, l.limit
		}
		var allow func() bool
		if lim != nil {
			allow = func() bool { return lim.Allow(now) }
		}
		switch j.Judge(b, from, dst, u.Blob(), now, allow) {
		case ActReply:
			u.answered.Add(1)
		case ActReach:
			u.reach.Add(1)
		case ActRateLimited:
			u.limited.Add(1)
			continue
		default:
			u.dropped.Add(1)
			continue
		}
		// Best effort, like the kernel's echo; from the address asked.
		u.Conn.WriteMsgUDPAddrPort(b, pktinfoOOB(dst.Addr()), from)
	}
}
