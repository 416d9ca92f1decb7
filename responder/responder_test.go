package responder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/hbmon/hb/wire"
)

func TestJudge(t *testing.T) {
	key, _ := wire.NewKey(2, bytes.Repeat([]byte{3}, wire.KeyLen))
	now := time.Unix(1_700_000_000, 0)
	blob := make([]byte, wire.BlobSize)
	h := wire.Health{Generation: 5}
	wire.EncodeBlob(blob, &h, nil)
	req := func(flags uint8, room uint16, tok wire.Token, id uint8) []byte {
		return wire.AppendRequest(nil, wire.Request{Flags: flags, KeyID: id, Room: room, Token: tok})
	}
	good := key.Token(now.UnixNano())
	yes := func() bool { return true }
	no := func() bool { return false }
	for _, tc := range []struct {
		name  string
		b     []byte
		blob  []byte
		key   *wire.Key
		allow func() bool
		want  Action
	}{
		{"no key", req(1, wire.BlobSize, wire.Token{}, 0), blob, nil, yes, ActReply},
		{"token", req(1, wire.BlobSize, good, 2), blob, key, yes, ActReply},
		{"bad token", req(1, wire.BlobSize, wire.Token{9}, 2), blob, key, yes, ActEcho},
		{"wrong key id", req(1, wire.BlobSize, good, 3), blob, key, yes, ActEcho},
		{"small room", req(1, 100, wire.Token{}, 0), blob, nil, yes, ActEcho},
		{"no health wanted", req(0, wire.BlobSize, wire.Token{}, 0), blob, nil, yes, ActEcho},
		{"no blob yet", req(1, wire.BlobSize, wire.Token{}, 0), nil, nil, yes, ActEcho},
		{"rate limited", req(1, wire.BlobSize, wire.Token{}, 0), blob, nil, no, ActRateLimited},
		{"not hbq1", []byte("hello world, not a probe at all, no......"), blob, nil, yes, ActDrop},
		{"short", []byte("HBQ1"), blob, nil, yes, ActDrop},
		{"truncated room", req(1, wire.BlobSize, wire.Token{}, 0)[:100], blob, nil, yes, ActEcho},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := bytes.Clone(tc.b)
			got := Judge(in, tc.blob, tc.key, now, tc.allow)
			if got != tc.want {
				t.Fatalf("Judge = %v, want %v", got, tc.want)
			}
			if got != ActReply {
				if !bytes.Equal(in, tc.b) {
					t.Fatal("datagram changed without a reply")
				}
				return
			}
			want := bytes.Clone(tc.b)
			wire.MakeReply(want, tc.blob)
			if !bytes.Equal(in, want) {
				t.Fatal("reply differs from wire.MakeReply")
			}
		})
	}
}

func TestBucket(t *testing.T) {
	if NewBucket(0, 5) != nil {
		t.Fatal("rate 0 must mean no limit (nil)")
	}
	b := NewBucket(10, 3)
	t0 := time.Unix(100, 0)
	var got []bool
	for range 5 {
		got = append(got, b.Allow(t0))
	}
	got = append(got, b.Allow(t0.Add(100*time.Millisecond)), b.Allow(t0.Add(100*time.Millisecond)))
	want := []bool{true, true, true, false, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Allow sequence %v, want %v", got, want)
		}
	}
}

func TestLoadKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, wire.KeyLen)
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte(hex.EncodeToString(raw)), 0o600)
	if _, err := LoadKey(path, 0); err == nil {
		t.Error("key id 0 accepted")
	}
	if k, err := LoadKey(path, 7); err != nil || k.ID != 7 {
		t.Errorf("LoadKey: %v", err)
	}
}

func TestBusyPermille(t *testing.T) {
	a := cpu.TimesStat{User: 10, System: 10, Idle: 80}
	b := cpu.TimesStat{User: 20, System: 20, Idle: 140, Iowait: 20}
	// 100 s elapsed, 20 busy.
	if got := busyPermille(a, b); got != 200 {
		t.Fatalf("busy = %d‰, want 200", got)
	}
	if got := busyPermille(b, b); got != 0 {
		t.Fatalf("no time elapsed: %d", got)
	}
}

func TestCollectorAndHBM2(t *testing.T) {
	c, err := NewCollector()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s, err := wire.NewSealer(nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h1 := c.Sample(context.Background(), t0)
	h2 := c.Sample(context.Background(), t0.Add(time.Second))
	blob := make([]byte, wire.BlobSize)
	for _, h := range []*wire.Health{&h1, &h2} {
		if err := s.Encode(blob, h); err != nil {
			t.Fatal(err)
		}
	}
	if h2.Generation != h1.Generation+1 || h1.BootID != h2.BootID || h1.BootID == (wire.BootID{}) {
		t.Fatalf("generation %d → %d, boot id %x → %x", h1.Generation, h2.Generation, h1.BootID, h2.BootID)
	}
	if h2.MemTotal == 0 || h2.MemAvailable > h2.MemTotal || h2.NumCPU == 0 || h2.Uptime == 0 || h2.BootTime == 0 || h2.CPUBusy > 1000 || h2.FullestMount > 1000 {
		t.Fatalf("implausible sample %+v", h2)
	}
	m := HBM2(&h2)
	enc := wire.AppendHBM2(nil, m)
	if _, err := wire.DecodeHBM2(enc); err != nil {
		t.Fatalf("HBM v2 of a real sample does not decode: %v (%+v)", err, m)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "status.json")
	s := &Status{PID: 1, Generation: 9, Interfaces: []IfaceState{{Name: "eth0", Mode: "generic"}}}
	s.Counters.Answered = 4
	if err := WriteStatus(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatus(path)
	if err != nil || got.Generation != 9 || got.Counters.Answered != 4 || got.Interfaces[0].Mode != "generic" {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range DefaultModes {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("none"); err == nil {
		t.Fatal("none is not an attach mode")
	}
}

// TestAgentUserspace: without a sink the agent still samples and serves
// blobs to the userspace responders.
func TestAgentUserspace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	a, err := NewAgent(AgentConfig{StatusPath: path, Logger: nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Blob() != nil {
		t.Fatal("blob before the first sample")
	}
	if err := a.Step(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	var h wire.Health
	if err := wire.DecodeBlob(a.Blob(), nil, &h); err != nil || h.Generation != 1 {
		t.Fatalf("blob: %v gen %d", err, h.Generation)
	}
	if err := a.WriteStatus(time.Now()); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadStatus(path); err != nil || !s.UserspaceOnly || s.Generation != 1 {
		t.Fatalf("status %+v %v", s, err)
	}
}
