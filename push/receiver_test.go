// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// sinkRec records observations (the state table's role here).
type sinkRec struct {
	mu  sync.Mutex
	obs []got
	c   chan got
}

type got struct {
	gen uint64
	id  int
	o   obs.Observation
}

func newSink() *sinkRec { return &sinkRec{c: make(chan got, 100)} }

func (s *sinkRec) Observe(gen uint64, id int, o obs.Observation) {
	s.mu.Lock()
	s.obs = append(s.obs, got{gen, id, o})
	s.mu.Unlock()
	select {
	case s.c <- got{gen, id, o}:
	default:
	}
}

func (s *sinkRec) all() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.obs...)
}

// registrar stands in for the core's obs.Registrar (monitor/ is another
// package's; this one records the specs and hands out ids the way the
// table does: a new generation with the check appended).
type registrar struct {
	r     *Receiver
	specs []obs.CheckSpec
	gen   uint64
}

func (g *registrar) Register(ctx context.Context, spec obs.CheckSpec) (obs.Check, uint64, error) {
	g.specs = append(g.specs, spec)
	g.gen++
	var cs []obs.Check
	for i, s := range g.specs {
		cs = append(cs, obs.Check{ID: i, Spec: s})
	}
	g.r.SetChecks(g.gen, cs)
	return cs[len(cs)-1], g.gen, nil
}

func testKey(t testing.TB) *wire.PushKey {
	m := make([]byte, wire.KeyLen)
	for i := range m {
		m[i] = byte(i)
	}
	k, err := wire.NewPushKey(1, m)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hbp(t testing.TB, k *wire.PushKey, name string, boot uint32, seq uint64, at time.Time, body ...func([]byte) []byte) []byte {
	b := wire.AppendHost(nil, name)
	for _, f := range body {
		b = f(b)
	}
	d, err := wire.EncodePush(nil, wire.PushHeader{BootID: wire.BootID{byte(boot), byte(boot >> 8), byte(boot >> 16), byte(boot >> 24)}, Seq: seq, SentAt: at.UnixNano()}, b, k, k != nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var src = netip.MustParseAddrPort("198.18.0.7:40000")

func newTestReceiver(t *testing.T, mod func(*config.Push), key *wire.PushKey) (*Receiver, *sinkRec, *registrar, *event.Sub) {
	c := config.DefaultPush()
	if mod != nil {
		mod(&c)
	}
	bus := &event.Bus{}
	sub := bus.Subscribe("test", 100, event.Message)
	reg := &registrar{}
	r, err := NewReceiver(ReceiverConfig{Push: c, Key: key, Registrar: reg, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	reg.r = r
	s := newSink()
	r.sink.Store(func() *obs.Sink { var x obs.Sink = s; return &x }())
	return r, s, reg, sub
}

func TestReceiverPolicy(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	now := time.Unix(1700000000, 0)
	ack := make([]byte, 64)

	// Not configured, not keyed, accept_unknown off: dropped, unknown.
	r, s, reg, _ := newTestReceiver(t, nil, key)
	if n := r.Handle(ctx, hbp(t, nil, "web1", 1, 1, now), src, now, true, ack); n != 0 {
		t.Fatal("unknown keyless sender answered")
	}
	if st := r.Stats(); st.Dropped[dropUnknown] != 1 || len(reg.specs) != 0 || len(s.all()) != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Keyed with our key: registered, observed, ACKed with a verifying ACK.
	n := r.Handle(ctx, hbp(t, key, "web1", 1, 1, now), src, now, true, ack)
	if n != wire.AckLen {
		t.Fatalf("ack len %d", n)
	}
	var a wire.Ack
	if err := wire.DecodeAck(ack[:n], key, &a); err != nil || a.Seq != 1 || a.BootID != (wire.BootID{1}) || a.RxTime != now.UnixNano() || a.Flags != wire.AckFlagKernelRx {
		t.Fatalf("ack %+v %v", a, err)
	}
	// The registration is queued (the receive path does not wait for the
	// core): nothing is observed until it is done.
	if len(reg.specs) != 0 || len(s.all()) != 0 || r.Stats().RegisterPending != 1 {
		t.Fatalf("before registration: %d registered, %d observed", len(reg.specs), len(s.all()))
	}
	r.registerPending(ctx)
	if len(reg.specs) != 1 || reg.specs[0].Host != "web1" || reg.specs[0].Kind != obs.KindHeartbeat {
		t.Fatalf("registered %+v", reg.specs)
	}
	if o := s.all(); len(o) != 1 || o[0].o.Outcome != obs.OK || o[0].gen != 1 || o[0].id != 0 {
		t.Fatalf("observations %+v", o)
	}
	// Replay of the same datagram: dropped, not answered.
	if n := r.Handle(ctx, hbp(t, key, "web1", 1, 1, now), src, now, true, ack); n != 0 || r.Stats().Dropped[dropReplay] != 1 {
		t.Fatal("replay accepted")
	}
	// Tampered: dropped as auth.
	b := hbp(t, key, "web1", 1, 2, now)
	b[len(b)-1] ^= 1
	if n := r.Handle(ctx, b, src, now, true, ack); n != 0 || r.Stats().Dropped[dropAuth] != 1 {
		t.Fatal("tampered accepted")
	}
	// Skewed clock.
	if n := r.Handle(ctx, hbp(t, key, "web1", 1, 3, now.Add(-time.Hour)), src, now, true, ack); n != 0 || r.Stats().Dropped[dropSkew] != 1 {
		t.Fatal("skewed accepted")
	}
	// Now known, so keyless heartbeats of web1 are taken (require_key off).
	if n := r.Handle(ctx, hbp(t, nil, "web1", 1, 4, now), src, now, false, ack); n != wire.AckLen {
		t.Fatal("keyless heartbeat of a known host refused")
	}
	// require_key drops them.
	r2, _, _, _ := newTestReceiver(t, func(c *config.Push) { c.RequireKey = true; c.AcceptUnknown = true }, key)
	if n := r2.Handle(ctx, hbp(t, nil, "web1", 1, 1, now), src, now, false, ack); n != 0 || r2.Stats().Dropped[dropUnauthenticated] != 1 {
		t.Fatal("require_key")
	}
	// accept_unknown registers keyless senders; max_hosts caps them.
	r3, _, reg3, _ := newTestReceiver(t, func(c *config.Push) { c.AcceptUnknown = true; c.MaxHosts = 1 }, nil)
	r3.Handle(ctx, hbp(t, nil, "a", 1, 1, now), src, now, false, ack)
	r3.Handle(ctx, hbp(t, nil, "b", 1, 1, now), src, now, false, ack)
	r3.registerPending(ctx)
	if len(reg3.specs) != 1 || r3.Stats().Dropped[dropFull] != 1 {
		t.Fatalf("max_hosts: %d registered", len(reg3.specs))
	}
	// Garbage.
	if n := r3.Handle(ctx, []byte("hello"), src, now, false, ack); n != 0 || r3.Stats().Dropped[dropMalformed] != 1 {
		t.Fatal("garbage")
	}
}

func TestReceiverMetricsMessagesAndOverdue(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	r, s, _, sub := newTestReceiver(t, nil, key)
	r.SetChecks(5, []obs.Check{{ID: 3, Spec: obs.CheckSpec{Host: "db1", Name: "heartbeat", Kind: obs.KindHeartbeat,
		Target: "heartbeat://db1", Interval: 10 * time.Second, Params: map[string]string{"grace": "5s"}}}})
	t0 := time.Unix(1700000000, 0)
	h := wire.Health{Generation: 1, CPUBusy: 250}
	h.SetHostname("ignored-when-host-section")
	blob := make([]byte, wire.BlobSize)
	if err := wire.EncodeBlob(blob, &h, nil); err != nil {
		t.Fatal(err)
	}
	d := hbp(t, key, "db1", 9, 1, t0, func(b []byte) []byte {
		b = wire.AppendSection(b, wire.SecHealth, blob)
		b = wire.AppendCPU(b, []uint16{500, 250})
		b = wire.AppendMount(b, 1000, 730, "/")
		b = wire.AppendIface(b, wire.Iface{RxRate: 125}, "eth0")
		b = wire.AppendCheck(b, wire.CheckCritical, "check_load", "LOAD CRITICAL - load 9.0", []wire.Perf{{Label: "load1", Value: 9}})
		b = wire.AppendMessage(b, 2, "disk replaced")
		b = wire.AppendRTT(b, 1500000, uint8(obs.MethodKernelRx))
		return wire.AppendMetric(b, "Queue Depth", 4)
	})
	ack := make([]byte, 64)
	if r.Handle(ctx, d, src, t0, true, ack) == 0 {
		t.Fatal("not accepted")
	}
	o := s.all()
	if len(o) != 1 || o[0].gen != 5 || o[0].id != 3 {
		t.Fatalf("%+v", o)
	}
	ob := o[0].o
	if !ob.HasHealth || ob.Health.CPUBusy != 250 || ob.RTT != 1500*time.Microsecond || ob.Method != obs.MethodKernelRx {
		t.Fatalf("observation %+v", ob)
	}
	m := map[string]float64{}
	for _, x := range ob.Metrics {
		m[x.Name] = x.Value
	}
	for k, v := range map[string]float64{
		"cpu_0_busy_ratio": 0.5, "disk_root_used_ratio": 0.73, "net_eth0_rx_bytes_per_second": 125,
		"nagios_check_load_status": 2, "nagios_check_load_load1": 9, "queue_depth": 4,
	} {
		if m[k] != v {
			t.Errorf("metric %s = %v, want %v (all: %v)", k, m[k], v, m)
		}
	}
	var texts []string
	for range 2 {
		select {
		case e := <-sub.C():
			if e.Host != "db1" || e.Type != event.Message {
				t.Fatalf("event %+v", e)
			}
			texts = append(texts, e.Level.String()+" "+e.Text)
		case <-time.After(time.Second):
			t.Fatal("message event missing")
		}
	}
	if texts[0] != "critical check_load CRITICAL: LOAD CRITICAL - load 9.0" || texts[1] != "warning disk replaced" {
		t.Fatalf("messages %q", texts)
	}

	// Overdue only after interval + grace, then once per interval.
	r.Overdue(t0.Add(14 * time.Second))
	if len(s.all()) != 1 {
		t.Fatal("overdue before interval + grace")
	}
	r.Overdue(t0.Add(15 * time.Second))
	r.Overdue(t0.Add(16 * time.Second))
	if o := s.all(); len(o) != 2 || o[1].o.Outcome != obs.Timeout || o[1].id != 3 {
		t.Fatalf("overdue: %+v", o)
	}
	r.Overdue(t0.Add(25 * time.Second))
	if len(s.all()) != 3 {
		t.Fatal("no second overdue after another interval")
	}
	// A reload keeps the live state: still overdue-timed from t0's heartbeat.
	r.SetChecks(6, []obs.Check{{ID: 0, Spec: obs.CheckSpec{Host: "db1", Kind: obs.KindHeartbeat, Target: "heartbeat://db1"}}})
	r.Overdue(t0.Add(26 * time.Second))
	if len(s.all()) != 3 {
		t.Fatal("reload reset the overdue cadence")
	}
	r.Overdue(t0.Add(35 * time.Second))
	if o := s.all(); len(o) != 4 || o[3].gen != 6 || o[3].id != 0 {
		t.Fatalf("after reload: %+v", o)
	}
}

func TestReceiverLegacy(t *testing.T) {
	ctx := context.Background()
	r, s, reg, sub := newTestReceiver(t, func(c *config.Push) { c.AcceptUnknown = true }, nil)
	now := time.Unix(1700000000, 0)
	ack := make([]byte, 64)
	d, _ := wire.EncodeHBD("HTB", [][2]any{{"hostname", "old1"}, {"cpu", 12.5}, {"disk", map[string]any{"/": map[string]any{"percent": 73.0}}}})
	if n := r.Handle(ctx, d, src, now, false, ack); string(ack[:n]) != "ACK" {
		t.Fatalf("answer %q", ack[:n])
	}
	r.registerPending(ctx)
	if len(reg.specs) != 1 || reg.specs[0].Host != "old1" {
		t.Fatalf("%+v", reg.specs)
	}
	m := map[string]float64{}
	for _, x := range s.all()[0].o.Metrics {
		m[x.Name] = x.Value
	}
	if m["cpu"] != 12.5 || m["disk_root_percent"] != 73 {
		t.Fatalf("metrics %v", m)
	}
	p, _ := wire.EncodeHBD("PLG", [][2]any{{"hostname", "old1"}, {"plugin", "check_disk"}, {"status", 1}, {"output", "DISK WARNING"}})
	r.Handle(ctx, p, src, now, false, ack)
	m = map[string]float64{}
	for _, x := range s.all()[1].o.Metrics {
		m[x.Name] = x.Value
	}
	if m["check_disk_status"] != 1 {
		t.Fatalf("plugin metrics %v", m)
	}
	if e := <-sub.C(); e.Text != "check_disk: DISK WARNING" {
		t.Fatalf("%+v", e)
	}
	c, _ := wire.EncodeHBD("CMD", [][2]any{{"cmd", "id"}})
	if n := r.Handle(ctx, c, src, now, false, ack); n != 0 || r.Stats().Dropped[dropRefused] != 1 {
		t.Fatal("CMD answered")
	}
}

// TestReceiverUDP runs the real socket on loopback: a heartbeat is ACKed
// with the kernel's receive timestamp.
func TestReceiverUDP(t *testing.T) {
	key := testKey(t)
	c := config.DefaultPush()
	c.Listen = "127.0.0.1:0"
	c.AcceptUnknown = true
	reg := &registrar{}
	r, err := NewReceiver(ReceiverConfig{Push: c, Key: key, Registrar: reg})
	if err != nil {
		t.Fatal(err)
	}
	reg.r = r
	s := newSink()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx, s) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	for !r.Addr().IsValid() {
		time.Sleep(10 * time.Millisecond)
	}
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	sent := time.Now()
	if _, err := u.Write(hbp(t, key, "lo1", 7, 1, sent)); err != nil {
		t.Fatal(err)
	}
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := u.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var a wire.Ack
	if err := wire.DecodeAck(buf[:n], key, &a); err != nil {
		t.Fatal(err)
	}
	if a.Flags&wire.AckFlagKernelRx == 0 || a.RxTime < sent.UnixNano() || a.TxTime < a.RxTime {
		t.Fatalf("ack %+v (sent %d)", a, sent.UnixNano())
	}
	g := <-s.c
	if g.o.Outcome != obs.OK || reg.specs[0].Host != "lo1" {
		t.Fatalf("%+v", g)
	}
}

// TestReceiverQueuesDynDNS: a dyndns host's first heartbeat and every
// source-address change queue an update; the same address does not.
func TestReceiverQueuesDynDNS(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	c := config.DefaultPush()
	c.DynDNSHosts = []string{"roamer"}
	c.DynDNSDomain = "dyn.test"
	d := NewDynDNS(c, nil)
	r, _, _, _ := newTestReceiver(t, nil, key)
	r.cfg.DynDNS = d
	now := time.Now()
	ack := make([]byte, 64)
	a := netip.MustParseAddrPort("198.18.0.7:1000")
	b := netip.MustParseAddrPort("[::ffff:198.18.0.8]:1000")
	r.Handle(ctx, hbp(t, key, "roamer", 1, 1, now), a, now, false, ack)
	r.Handle(ctx, hbp(t, key, "roamer", 1, 2, now), a, now, false, ack)
	r.Handle(ctx, hbp(t, key, "roamer", 1, 3, now), b, now, false, ack)
	r.Handle(ctx, hbp(t, key, "other", 1, 1, now), b, now, false, ack)
	if d.Queued.Load() != 2 {
		t.Fatalf("queued %d updates, want 2", d.Queued.Load())
	}
	if u := <-d.q; u.addr != a.Addr() {
		t.Fatal(u)
	}
	if u := <-d.q; u.addr != netip.MustParseAddr("198.18.0.8") {
		t.Fatalf("unmapped: %v", u.addr)
	}
}

// TestReceiverDynDNSNeedsKey: a heartbeat without a key (a spoofable
// source) does not move a DNS name unless dyndns_unauthenticated allows it.
func TestReceiverDynDNSNeedsKey(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	ack := make([]byte, 64)
	a := netip.MustParseAddrPort("198.18.0.7:1000")
	b := netip.MustParseAddrPort("198.18.0.9:1000")
	for _, allow := range []bool{false, true} {
		c := config.DefaultPush()
		c.DynDNSHosts = []string{"roamer"}
		c.DynDNSDomain = "dyn.test"
		c.DynDNSUnauthenticated = allow
		d := NewDynDNS(c, nil)
		r, _, _, _ := newTestReceiver(t, func(p *config.Push) {
			p.AcceptUnknown = true
			p.DynDNSUnauthenticated = allow
		}, nil)
		r.cfg.DynDNS = d
		r.Handle(ctx, hbp(t, nil, "roamer", 1, 1, now), a, now, false, ack)
		r.Handle(ctx, hbp(t, nil, "roamer", 1, 2, now), b, now, false, ack)
		if r.Stats().Accepted != 2 {
			t.Fatalf("allow=%v: accepted %d heartbeats, want 2", allow, r.Stats().Accepted)
		}
		want, refused := uint64(0), uint64(2)
		if allow {
			want, refused = 2, 0
		}
		if d.Queued.Load() != want || r.dnsRefused.Load() != refused {
			t.Fatalf("allow=%v: queued %d updates, refused %d; want %d, %d", allow, d.Queued.Load(), r.dnsRefused.Load(), want, refused)
		}
	}
}

// TestReceiverAckLimits: an answer is never larger than its datagram, and
// ACKs stay within ack_rate; the heartbeats still count.
func TestReceiverAckLimits(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	r, s, _, _ := newTestReceiver(t, func(c *config.Push) { c.AckRate = 2; c.AcceptUnknown = true }, key)
	now := time.Now()
	ack := make([]byte, 64)
	acked := 0
	for seq := uint64(1); seq <= 3; seq++ {
		if r.Handle(ctx, hbp(t, key, "web1", 1, seq, now), src, now, false, ack) > 0 {
			acked++
		}
		r.registerPending(ctx)
	}
	if acked != 2 || len(s.all()) != 3 || r.acksLimited.Load() != 1 {
		t.Fatalf("acked %d, observed %d, limited %d", acked, len(s.all()), r.acksLimited.Load())
	}
	// A 60-byte keyless heartbeat (no sections): accepted, not answered
	// with the 64-byte ACK.
	r2, s2, _, _ := newTestReceiver(t, func(c *config.Push) { c.AcceptUnknown = true }, nil)
	d, _ := wire.EncodePush(nil, wire.PushHeader{BootID: wire.BootID{1}, Seq: 1, SentAt: now.UnixNano()}, nil, nil, false)
	n := r2.Handle(ctx, d, src, now, false, ack)
	r2.registerPending(ctx)
	if len(d) != 60 || n != 0 || len(s2.all()) != 1 {
		t.Fatalf("minimal heartbeat: %d bytes, observed %d", len(d), len(s2.all()))
	}
}
