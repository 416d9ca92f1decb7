package responder

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/wire"
)

// UDPCounters are the userspace UDP responder's counters.
type UDPCounters struct {
	Answered    uint64 `json:"answered"`     // replied with a health blob
	Echoed      uint64 `json:"echoed"`       // HBQ1 without valid token/room: echoed unchanged ("no health")
	Dropped     uint64 `json:"dropped"`      // not HBQ1, truncated
	RateLimited uint64 `json:"rate_limited"` // over the rate: dropped
}

// Action is what the UDP responder does with one datagram.
type Action int

const (
	ActInvalid Action = iota
	ActReply          // the datagram was rewritten into a reply with a blob
	ActEcho           // send it back unchanged: reachable, no health
	ActDrop
	ActRateLimited
)

// Judge decides, like the eBPF program, what to do with datagram b at time
// now and, for ActReply, rewrites b in place (wire.MakeReply). blob is the
// current health blob (nil before the first sample); key is nil when no
// key is configured; allow is the rate limiter's verdict, asked only for a
// datagram that would be answered.
func Judge(b []byte, blob []byte, key *wire.Key, now time.Time, allow func() bool) Action {
	if !wire.IsRequest(b) || len(b) < wire.HeaderLen {
		return ActDrop
	}
	r, err := wire.ParseRequest(b)
	if err != nil || r.Flags&wire.FlagHealth == 0 || r.Room < wire.BlobSize || blob == nil {
		return ActEcho
	}
	if key != nil && (r.KeyID != key.ID || !key.CheckToken(r.Token, now.UnixNano())) {
		return ActEcho
	}
	if allow != nil && !allow() {
		return ActRateLimited
	}
	if wire.MakeReply(b, blob) != nil {
		return ActEcho
	}
	return ActReply
}

// UDPResponder answers HBQ1 datagrams in userspace, for hosts (or
// interfaces) where no eBPF program is attached, and for the requests the
// program passes (wrong token, too small: those are echoed unchanged).
type UDPResponder struct {
	Conn  net.PacketConn
	Key   *wire.Key
	Blob  func() []byte // current blob, or nil
	Limit *Bucket       // nil: no limit

	answered, echoed, dropped, limited atomic.Uint64
}

// Counters returns the responder's counters.
func (u *UDPResponder) Counters() UDPCounters {
	return UDPCounters{Answered: u.answered.Load(), Echoed: u.echoed.Load(), Dropped: u.dropped.Load(), RateLimited: u.limited.Load()}
}

// Serve answers datagrams until ctx is done or the connection fails.
func (u *UDPResponder) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		u.Conn.SetReadDeadline(time.Now())
	}()
	buf := make([]byte, 65536)
	for {
		n, from, err := u.Conn.ReadFrom(buf)
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
		var allow func() bool
		if u.Limit != nil {
			allow = func() bool { return u.Limit.Allow(now) }
		}
		switch Judge(b, u.Blob(), u.Key, now, allow) {
		case ActReply:
			u.answered.Add(1)
		case ActEcho:
			u.echoed.Add(1)
		case ActRateLimited:
			u.limited.Add(1)
			continue
		default:
			u.dropped.Add(1)
			continue
		}
		u.Conn.WriteTo(b, from) // best effort, like the kernel's echo
	}
}

// Bucket is a token bucket: Rate tokens per second, at most Burst.
type Bucket struct {
	Rate  float64
	Burst float64

	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   time.Time
}

// NewBucket returns a full bucket; rate <= 0 means no limit (nil).
func NewBucket(rate float64, burst uint32) *Bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(max(burst, 1))
	return &Bucket{Rate: rate, Burst: b, tokens: b}
}

// Allow takes a token at time now if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.Burst, b.tokens+now.Sub(b.last).Seconds()*b.Rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
