// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	psnet "github.com/shirou/gopsutil/v4/net"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/keyfile"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// PushConfig is hb-responder's [push] section (config.ResponderPush).
type PushConfig = config.ResponderPush

// DefaultPushConfig returns the [push] defaults.
func DefaultPushConfig() PushConfig { return config.DefaultResponderPush() }

// LoadPushKey reads the key file (refused like LoadKey when group or
// others may access it) and derives the push key; "" is no key.
func LoadPushKey(path string, id uint8) (*wire.PushKey, error) {
	if path == "" {
		return nil, nil
	}
	return keyfile.PushKey(path, id)
}

// PushStats are the pusher's counters.
type PushStats struct {
	Sent, SendErrors, Acks, BadAcks uint64
	LastRTT                         time.Duration
}

// Pusher sends HBP1 heartbeats to every configured server: one at start
// (with the boot flag and message), one per interval, and one with the
// shutdown flag when its context ends. It reads the servers' ACKs (with
// kernel receive timestamps) and reports the measured round trip in the
// next heartbeat.
type Pusher struct {
	cfg  PushConfig
	key  atomic.Pointer[wire.PushKey] // nil: unauthenticated; SetKey (reload) replaces it
	col  *Collector
	blob *wire.Sealer // numbers the clear health blobs (the envelope authenticates them)
	ext  *extSampler
	nag  *NagiosRunner
	log  *slog.Logger
	ids  *wire.BootCounter // boot id ‖ sequence: the sealing nonce, never repeated (wire.BootCounter)

	mu      sync.Mutex // guards servers and sentAt
	servers []*pushServer
	sentAt  map[uint64]int64 // seq -> send time (unix ns), recent only

	rtt                          atomic.Int64 // last RTT (ns) << 8 | obs.Method
	sent, sendErr, acks, badAcks atomic.Uint64
	lastResolve                  time.Time
	resolve                      func(ctx context.Context, host string) ([]netip.Addr, error)
}

type pushServer struct {
	spec string
	host string
	port int
	conn *net.UDPConn
	addr netip.AddrPort
}

// NewPusher returns a pusher. key nil sends unauthenticated heartbeats
// (hb-probe then takes them only from configured hosts or with
// accept_unknown). col is the health collector shared with the blob
// publisher; nil makes one.
func NewPusher(cfg PushConfig, key *wire.PushKey, col *Collector, log *slog.Logger) (*Pusher, error) {
	cfg.Checks = append([]NagiosCheck(nil), cfg.Checks...)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Seal && key == nil {
		return nil, errors.New("push.seal needs a key (key_file)")
	}
	if cfg.Interval == 0 {
		cfg.Interval = config.Duration(10 * time.Second)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if log == nil {
		log = slog.Default()
	}
	if col == nil {
		var err error
		if col, err = NewCollector(); err != nil {
			return nil, err
		}
	}
	nag, err := NewNagiosRunner(cfg.Checks)
	if err != nil {
		return nil, err
	}
	ids, err := wire.NewBootCounter(rand.Reader, wire.MaxPushSeq)
	if err != nil {
		return nil, err
	}
	blobs, err := wire.NewSealer(nil, rand.Reader)
	if err != nil {
		return nil, err
	}
	p := &Pusher{cfg: cfg, col: col, blob: blobs, ext: &extSampler{}, nag: nag, log: log,
		ids: ids, sentAt: map[uint64]int64{},
		resolve: func(ctx context.Context, h string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		}}
	p.key.Store(key)
	for _, s := range cfg.Servers {
		h, port, _ := config.SplitPushServer(s)
		p.servers = append(p.servers, &pushServer{spec: s, host: h, port: port})
	}
	return p, nil
}

// SetKey makes key (a rotated key file, on reload) authenticate the next
// heartbeats and the ACKs read after them. nil is refused when the pusher
// seals: validation keeps push.seal from going without key_file.
func (p *Pusher) SetKey(key *wire.PushKey) error {
	if key == nil && p.cfg.Seal {
		return errors.New("push.seal needs a key (key_file)")
	}
	p.key.Store(key)
	return nil
}

// Stats returns the pusher's counters.
func (p *Pusher) Stats() PushStats {
	return PushStats{Sent: p.sent.Load(), SendErrors: p.sendErr.Load(), Acks: p.acks.Load(), BadAcks: p.badAcks.Load(),
		LastRTT: time.Duration(p.rtt.Load())}
}

// Run pushes until ctx ends, then sends the shutdown heartbeat.
func (p *Pusher) Run(ctx context.Context) error {
	if len(p.servers) == 0 {
		return nil
	}
	defer p.closeAll()
	go p.nag.Run(ctx)
	p.dial(ctx)
	// Let the first CPU/network rates cover a short span rather than none.
	p.col.Sample(ctx, time.Now())
	p.ext.sample(ctx, time.Now())
	// The boot and shutdown flags are the messages: the receiver turns
	// them into "boot: …" and "shutdown: …" events.
	var flags uint8
	if p.cfg.Boot {
		flags = wire.PushFlagBoot
	}
	p.Send(ctx, flags, "")
	t := time.NewTicker(time.Duration(p.cfg.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p.Send(sctx, wire.PushFlagShutdown, "")
			cancel()
			return nil
		case <-t.C:
			if time.Since(p.lastResolve) > 5*time.Minute {
				p.dial(ctx)
			}
			p.Send(ctx, 0, "")
		}
	}
}

// dial (re)resolves every server and connects a UDP socket to it; a
// server whose address did not change keeps its socket.
func (p *Pusher) dial(ctx context.Context) {
	p.lastResolve = time.Now()
	for _, s := range p.servers {
		var addr netip.Addr
		if a, err := netip.ParseAddr(s.host); err == nil {
			addr = a
		} else {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			as, err := p.resolve(rctx, s.host)
			cancel()
			if err != nil || len(as) == 0 {
				p.log.Warn("push: cannot resolve server", "server", s.spec, "err", err)
				continue
			}
			addr = as[0]
		}
		ap := netip.AddrPortFrom(addr.Unmap(), uint16(s.port))
		if s.conn != nil && s.addr == ap {
			continue
		}
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
		if err != nil {
			p.log.Warn("push: cannot open socket", "server", s.spec, "err", err)
			continue
		}
		enableRxTimestamps(c)
		p.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.conn, s.addr = c, ap
		p.mu.Unlock()
		go p.readAcks(c)
	}
}

func (p *Pusher) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.servers {
		if s.conn != nil {
			s.conn.Close()
			s.conn = nil
		}
	}
}

// readAcks reads ACKs on c until it is closed, measuring round trips.
func (p *Pusher) readAcks(c *net.UDPConn) {
	buf := make([]byte, 128)
	oob := make([]byte, 128)
	for {
		n, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		rx, method := rxTime(oob[:oobn]), obs.MethodKernelRx
		if rx == 0 {
			rx, method = time.Now().UnixNano(), obs.MethodUser
		}
		var a wire.Ack
		k := p.key.Load()
		if n >= 7 && buf[6] == 0 {
			k = nil
		}
		if err := wire.DecodeAck(buf[:n], k, &a); err != nil || a.BootID != p.ids.BootID() {
			p.badAcks.Add(1)
			continue
		}
		p.mu.Lock()
		sent, ok := p.sentAt[a.Seq]
		p.mu.Unlock()
		if !ok {
			p.badAcks.Add(1)
			continue
		}
		p.acks.Add(1)
		hold := max(a.TxTime-a.RxTime, 0)
		if rtt := rx - sent - hold; rtt > 0 {
			p.rtt.Store(rtt<<8 | int64(method)) // method in the low byte
		}
	}
}

// lastRTT returns the last measured round trip and its method.
func (p *Pusher) lastRTT() (time.Duration, obs.Method) {
	v := p.rtt.Load()
	return time.Duration(v >> 8), obs.Method(v & 0xff)
}

// Send builds one heartbeat (health blob, extended metrics, check
// results, msg) and sends it to every server.
func (p *Pusher) Send(ctx context.Context, flags uint8, msg string) error {
	now := time.Now()
	h := p.col.Sample(ctx, now)
	body := p.body(ctx, &h, now, msg)
	boot, seq, err := p.ids.Next()
	if err != nil {
		return err
	}
	// Stamped once the sample is taken (it reads /proc: a few ms, ~100 ms
	// for a new pusher's first), not at now: the receiver accepts a new
	// boot id (hb-responder push -m beside a running pusher of the same
	// name) only with a SentAt later than the last heartbeat's, and the
	// ACK's round trip counts from here.
	sent := time.Now().UnixNano()
	d, err := wire.EncodePush(make([]byte, 0, wire.PushMaxLen), wire.PushHeader{Flags: flags, BootID: boot, Seq: seq, SentAt: sent}, body, p.key.Load(), p.cfg.Seal)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sentAt[seq] = sent
	delete(p.sentAt, seq-16)
	conns := make([]*net.UDPConn, 0, len(p.servers))
	for _, s := range p.servers {
		if s.conn != nil {
			conns = append(conns, s.conn)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, c := range conns {
		if _, err := c.Write(d); err != nil {
			p.sendErr.Add(1)
			errs = append(errs, err)
		} else {
			p.sent.Add(1)
		}
	}
	return errors.Join(errs...)
}

// body assembles the heartbeat's sections in priority order; a section
// that would not fit the datagram is left out (the rest still go).
func (p *Pusher) body(ctx context.Context, h *wire.Health, now time.Time, msg string) []byte {
	b := make([]byte, 0, wire.PushMaxBody)
	// b has capacity PushMaxBody: a section that does not fit makes its
	// append reallocate, and b itself stays as it was.
	fit := func(nb []byte) {
		if len(nb) <= wire.PushMaxBody {
			b = nb
		}
	}
	fit(wire.AppendHost(b, p.cfg.Name))
	var blob [wire.BlobSize]byte
	if p.blob.Encode(blob[:], h) == nil {
		fit(wire.AppendSection(b, wire.SecHealth, blob[:]))
	}
	if msg != "" {
		fit(wire.AppendMessage(b, 1, msg))
	}
	if rtt, m := p.lastRTT(); rtt > 0 {
		fit(wire.AppendRTT(b, uint64(rtt), uint8(m)))
	}
	for _, r := range p.nag.Results() {
		fit(wire.AppendCheck(b, r.Status, r.Name, r.Text, r.Perf))
	}
	e := p.ext.sample(ctx, now)
	if len(e.cores) > 0 {
		fit(wire.AppendCPU(b, e.cores))
	}
	fit(wire.AppendSwap(b, h.SwapTotal, h.SwapUsed))
	fit(wire.AppendProcs(b, h.Procs, e.threads))
	fit(wire.AppendOS(b, e.os, e.platform, e.kernel, e.arch))
	for _, m := range e.mounts {
		fit(wire.AppendMount(b, m.total, m.used, m.path))
	}
	for _, i := range e.ifaces {
		fit(wire.AppendIface(b, i.Iface, i.name))
	}
	return b
}

// extSampler collects the extended metrics: per-core CPU, per-mount
// disk, per-interface counters and rates, OS info. Used by one goroutine.
type extSampler struct {
	prevCores []cpu.TimesStat
	prevNet   map[string][2]uint64
	prevTime  time.Time
	osInfo    [4]string
}

type extSample struct {
	cores                      []uint16
	threads                    uint32 // 0: not collected
	os, platform, kernel, arch string
	mounts                     []mountSample
	ifaces                     []ifaceSample
}

type mountSample struct {
	path        string
	total, used uint64
}

type ifaceSample struct {
	wire.Iface
	name string
}

// Limits that keep the heartbeat within one datagram on big hosts.
const (
	maxPushMounts = 8
	maxPushIfaces = 6
)

func (e *extSampler) sample(ctx context.Context, now time.Time) extSample {
	var s extSample
	if t, err := cpu.TimesWithContext(ctx, true); err == nil {
		if len(e.prevCores) == len(t) {
			s.cores = make([]uint16, len(t))
			for i := range t {
				s.cores[i] = busyPermille(e.prevCores[i], t[i])
			}
		}
		e.prevCores = t
	}
	if e.osInfo[0] == "" {
		e.osInfo = [4]string{runtime.GOOS, "", "", runtime.GOARCH}
		if i, err := host.InfoWithContext(ctx); err == nil {
			e.osInfo[1] = strings.TrimSpace(i.Platform + " " + i.PlatformVersion)
			e.osInfo[2] = i.KernelVersion
			if i.KernelArch != "" {
				e.osInfo[3] = i.KernelArch
			}
		}
	}
	s.os, s.platform, s.kernel, s.arch = e.osInfo[0], e.osInfo[1], e.osInfo[2], e.osInfo[3]
	if parts, err := disk.PartitionsWithContext(ctx, false); err == nil {
		seen := map[string]bool{}
		for _, pt := range parts {
			if pseudoFS[pt.Fstype] || seen[pt.Device] || len(s.mounts) >= maxPushMounts {
				continue
			}
			seen[pt.Device] = true
			if u, err := disk.UsageWithContext(ctx, pt.Mountpoint); err == nil && u.Total > 0 {
				s.mounts = append(s.mounts, mountSample{pt.Mountpoint, u.Total, min(u.Used, u.Total)})
			}
		}
	}
	if io, err := psnet.IOCountersWithContext(ctx, true); err == nil {
		dt := now.Sub(e.prevTime).Seconds()
		cur := map[string][2]uint64{}
		slices.SortFunc(io, func(a, b psnet.IOCountersStat) int { return int(b.BytesRecv>>20) - int(a.BytesRecv>>20) })
		for _, c := range io {
			if c.Name == "lo" || len(s.ifaces) >= maxPushIfaces {
				continue
			}
			cur[c.Name] = [2]uint64{c.BytesRecv, c.BytesSent}
			i := ifaceSample{name: c.Name, Iface: wire.Iface{RxBytes: c.BytesRecv, TxBytes: c.BytesSent,
				Errors: uint32(c.Errin + c.Errout), Drops: uint32(c.Dropin + c.Dropout)}}
			if prev, ok := e.prevNet[c.Name]; ok && !e.prevTime.IsZero() {
				i.RxRate, i.TxRate = rate(prev[0], c.BytesRecv, dt), rate(prev[1], c.BytesSent, dt)
			}
			s.ifaces = append(s.ifaces, i)
		}
		e.prevNet = cur
	}
	e.prevTime = now
	return s
}

// SendOnce sends one heartbeat carrying text as a message to each server
// and waits up to wait for their ACKs (hb-responder push -m). It returns
// how many servers acknowledged.
func SendOnce(ctx context.Context, cfg PushConfig, key *wire.PushKey, text string, wait time.Duration) (int, error) {
	cfg.Boot = false
	cfg.Checks = nil
	p, err := NewPusher(cfg, key, nil, nil)
	if err != nil {
		return 0, err
	}
	if len(p.servers) == 0 {
		return 0, errors.New("no server given")
	}
	defer p.closeAll()
	p.dial(ctx)
	if err := p.Send(ctx, 0, text); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && int(p.acks.Load()) < len(p.servers) {
		time.Sleep(20 * time.Millisecond)
	}
	return int(p.acks.Load()), nil
}
