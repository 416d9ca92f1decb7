// SPDX-License-Identifier: MIT

package responder

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/event"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/push"
	"github.com/hbmon/hb/wire"
)

// table stands in for hb-probe's state table and registrar (monitor/
// wires the real ones; this test is about the two ends of the wire).
type table struct {
	mu    sync.Mutex
	r     *push.Receiver
	specs []obs.CheckSpec
	obs   []obs.Observation
	c     chan obs.Observation
}

func (t *table) Register(ctx context.Context, spec obs.CheckSpec) (obs.Check, uint64, error) {
	t.mu.Lock()
	t.specs = append(t.specs, spec)
	var cs []obs.Check
	for i, s := range t.specs {
		cs = append(cs, obs.Check{ID: i, Spec: s})
	}
	gen := uint64(len(t.specs))
	t.mu.Unlock()
	t.r.SetChecks(gen, cs)
	return cs[len(cs)-1], gen, nil
}

func (t *table) Observe(gen uint64, id int, o obs.Observation) {
	t.mu.Lock()
	t.obs = append(t.obs, o)
	t.mu.Unlock()
	t.c <- o
}

func pushKey(t testing.TB) *wire.PushKey {
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

func startReceiver(t *testing.T, key *wire.PushKey) (*push.Receiver, *table, *event.Sub) {
	return startReceiverOn(t, key, "127.0.0.1:0")
}

func startReceiverOn(t *testing.T, key *wire.PushKey, listen string) (*push.Receiver, *table, *event.Sub) {
	c := config.DefaultPush()
	c.Listen = listen
	bus := &event.Bus{}
	sub := bus.Subscribe("t", 100, event.Message)
	tb := &table{c: make(chan obs.Observation, 100)}
	r, err := push.NewReceiver(push.ReceiverConfig{Push: c, Key: key, Registrar: tb, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	tb.r = r
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx, tb) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	for !r.Addr().IsValid() {
		time.Sleep(5 * time.Millisecond)
	}
	return r, tb, sub
}

func next(t *testing.T, c chan obs.Observation) obs.Observation {
	t.Helper()
	select {
	case o := <-c:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat observed")
	}
	return obs.Observation{}
}

// TestPusherToReceiver: hb-responder's pusher against hb-probe's receiver
// on loopback, sealed: the boot heartbeat registers the host and carries
// the boot message, health and extended metrics and a Nagios result;
// the ACKs give an RTT the next heartbeat reports; stopping sends the
// shutdown heartbeat.
func TestPusherToReceiver(t *testing.T) {
	key := pushKey(t)
	r, tb, sub := startReceiver(t, key)
	dir := t.TempDir()
	script := filepath.Join(dir, "check_x")
	os.WriteFile(script, []byte("#!/bin/sh\necho 'X WARNING - 7 items | items=7;5;10'\nexit 1\n"), 0o755)
	cfg := DefaultPushConfig()
	cfg.Servers = []string{r.Addr().String()}
	cfg.Interval = config.Duration(time.Second)
	cfg.Name = "pushed-1"
	cfg.Seal = true
	cfg.Checks = []NagiosCheck{{Name: "x", Command: []string{script}, Interval: config.Duration(time.Second)}}
	p, err := NewPusher(cfg, key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	o := next(t, tb.c)
	if o.Outcome != obs.OK || !o.HasHealth || o.Health.NumCPU == 0 {
		t.Fatalf("boot heartbeat %+v", o)
	}
	if tb.specs[0].Host != "pushed-1" {
		t.Fatalf("registered %+v", tb.specs)
	}
	for boot := false; !boot; {
		select {
		case e := <-sub.C():
			boot = e.Text == "boot: hb-responder started" && e.Host == "pushed-1"
		case <-time.After(5 * time.Second):
			t.Fatal("no boot message")
		}
	}
	// Later heartbeats carry the RTT of an earlier ACK and the check.
	var withRTT, withCheck bool
	for i := 0; i < 4 && !(withRTT && withCheck); i++ {
		o = next(t, tb.c)
		withRTT = withRTT || o.RTT > 0 && (o.Method == obs.MethodKernelRx || o.Method == obs.MethodUser)
		for _, m := range o.Metrics {
			if m.Name == "nagios_x_status" && m.Value == 1 {
				withCheck = true
			}
		}
	}
	if !withRTT || !withCheck {
		t.Fatalf("rtt %v check %v; last %+v", withRTT, withCheck, o)
	}
	if st := p.Stats(); st.Acks == 0 || st.BadAcks != 0 || st.LastRTT <= 0 {
		t.Fatalf("pusher stats %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for {
		o = next(t, tb.c)
		if o.Detail == "shutdown heartbeat" {
			break
		}
	}
	if st := r.Stats(); st.Dropped != [len(st.Dropped)]uint64{} {
		t.Fatalf("receiver dropped %+v", st.Dropped)
	}
}

func TestSendOnce(t *testing.T) {
	key := pushKey(t)
	r, tb, sub := startReceiver(t, key)
	cfg := DefaultPushConfig()
	cfg.Servers = []string{r.Addr().String()}
	cfg.Name = "once"
	n, err := SendOnce(context.Background(), cfg, key, "maintenance starting", 5*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("acked by %d: %v", n, err)
	}
	next(t, tb.c)
	if e := <-sub.C(); e.Text != "maintenance starting" || e.Host != "once" {
		t.Fatalf("%+v", e)
	}
}

// sampleCtx records when the health sample last looked in the context
// (gopsutil reads its /proc overrides from it).
type sampleCtx struct {
	context.Context
	mu   sync.Mutex
	last time.Time
}

func (c *sampleCtx) Value(k any) any {
	c.mu.Lock()
	c.last = time.Now()
	c.mu.Unlock()
	return c.Context.Value(k)
}

// TestSendStampsAfterSample: a heartbeat's SentAt is taken after its
// sample, not before. The sample takes a few ms (~100 ms for a new
// pusher's first); stamped before it, a `hb-responder push -m` beside a
// running pusher of the same name was dropped as a replay whenever a
// heartbeat of the running one, stamped within that window, got there
// first (a new boot id needs a later SentAt): 4 of 40 messages were
// lost against a pusher sending every second. The ACK's round trip also
// counted the sample.
func TestSendStampsAfterSample(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := DefaultPushConfig()
	cfg.Servers = []string{srv.LocalAddr().String()}
	cfg.Name = "stamped"
	p, err := NewPusher(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.closeAll()
	ctx := &sampleCtx{Context: context.Background()}
	p.dial(ctx)
	if err := p.Send(ctx, 0, "hello"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, wire.PushMaxLen)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := srv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var h wire.Push
	if err := wire.DecodePush(buf[:n], nil, &h); err != nil {
		t.Fatal(err)
	}
	ctx.mu.Lock()
	last := ctx.last
	ctx.mu.Unlock()
	if last.IsZero() {
		t.Fatal("the sample never looked in the context: this test sees nothing")
	}
	if sent := time.Unix(0, h.SentAt); sent.Before(last) {
		t.Fatalf("SentAt %v is %v before the sample ended", sent.Format(time.StampMicro), last.Sub(sent))
	}
}

func TestSplitServer(t *testing.T) {
	for in, want := range map[string]string{
		"hb.example": "hb.example:50003", "198.18.0.1:6000": "198.18.0.1:6000", "::1": "::1:50003",
		"[2001:db8::1]:7000": "2001:db8::1:7000", "[2001:db8::1]": "2001:db8::1:50003",
	} {
		h, p, err := config.SplitPushServer(in)
		if err != nil || h+":"+strconv.Itoa(p) != want {
			t.Errorf("%q -> %q %d %v, want %q", in, h, p, err, want)
		}
	}
	for _, bad := range []string{"h:0", "h:x", ":50003"} {
		if _, _, err := config.SplitPushServer(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSendOnceIPv6: the same over IPv6 loopback, server given as [::1]:PORT.
func TestSendOnceIPv6(t *testing.T) {
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	key := pushKey(t)
	r, tb, _ := startReceiverOn(t, key, "[::1]:0")
	cfg := DefaultPushConfig()
	cfg.Servers = []string{r.Addr().String()}
	cfg.Name = "v6host"
	n, err := SendOnce(context.Background(), cfg, key, "over IPv6", 5*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("acked by %d: %v (server %s)", n, err, cfg.Servers[0])
	}
	if o := next(t, tb.c); o.Outcome != obs.OK || tb.specs[0].Host != "v6host" {
		t.Fatalf("%+v", o)
	}
}
