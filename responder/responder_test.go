// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/hbmon/hb/wire"
)

var (
	prober  = netip.MustParseAddrPort("198.18.0.2:40000")
	localAP = netip.MustParseAddrPort("198.18.0.1:50003")
)

func TestJudge(t *testing.T) {
	key, _ := wire.NewKey(2, bytes.Repeat([]byte{3}, wire.KeyLen))
	now := time.Unix(1_700_000_000, 0)
	blob := make([]byte, wire.BlobSize)
	h := wire.Health{Generation: 5}
	wire.EncodeBlob(blob, &h, nil)
	req := func(flags uint8, room uint16, tok wire.Token, id uint8) []byte {
		return wire.AppendRequest(nil, wire.Request{Flags: flags, KeyID: id, Room: room, Cookie: 77, Token: tok})
	}
	good := key.Token(now.UnixNano(), localAP.Addr())
	yes := func() bool { return true }
	no := func() bool { return false }
	reply := wire.AppendRequest(nil, wire.Request{Flags: 1, Room: wire.BlobSize})
	wire.MakeReply(reply, blob)
	for _, tc := range []struct {
		name  string
		b     []byte
		src   netip.AddrPort
		blob  []byte
		key   *wire.Key
		allow []netip.Prefix
		limit func() bool
		want  Action
	}{
		{"no key", req(1, wire.BlobSize, wire.Token{}, 0), prober, blob, nil, nil, yes, ActReply},
		{"token", req(1, wire.BlobSize, good, 2), prober, blob, key, nil, yes, ActReply},
		{"bad token", req(1, wire.BlobSize, wire.Token{9}, 2), prober, blob, key, nil, yes, ActReach},
		{"no token", req(1, wire.BlobSize, wire.Token{}, 0), prober, blob, key, nil, yes, ActReach},
		{"wrong key id", req(1, wire.BlobSize, good, 3), prober, blob, key, nil, yes, ActReach},
		{"token for another host", req(1, wire.BlobSize, key.Token(now.UnixNano(), netip.MustParseAddr("198.18.0.9")), 2), prober, blob, key, nil, yes, ActReach},
		{"small room", req(1, 100, wire.Token{}, 0), prober, blob, nil, nil, yes, ActReach},
		{"no health wanted", req(0, wire.BlobSize, wire.Token{}, 0), prober, blob, nil, nil, yes, ActReach},
		{"no blob yet", req(1, wire.BlobSize, wire.Token{}, 0), prober, nil, nil, nil, yes, ActReach},
		{"rate limited", req(1, wire.BlobSize, wire.Token{}, 0), prober, blob, nil, nil, no, ActRateLimited},
		{"rate limited bad token", req(1, wire.BlobSize, wire.Token{9}, 2), prober, blob, key, nil, no, ActRateLimited},
		{"not hbq1", []byte("hello world, not a probe at all, no......"), prober, blob, nil, nil, yes, ActDrop},
		{"short", []byte("HBQ1"), prober, blob, nil, nil, yes, ActDrop},
		{"header only", req(1, wire.BlobSize, wire.Token{}, 0)[:wire.HeaderLen], prober, blob, nil, nil, yes, ActDrop},
		{"truncated room", req(1, wire.BlobSize, wire.Token{}, 0)[:100], prober, blob, nil, nil, yes, ActDrop},
		{"a reply", reply, prober, blob, nil, nil, yes, ActDrop},
		{"from our port", req(1, wire.BlobSize, wire.Token{}, 0), netip.MustParseAddrPort("198.18.0.2:50003"), blob, nil, nil, yes, ActDrop},
		{"from port 0", req(1, wire.BlobSize, wire.Token{}, 0), netip.MustParseAddrPort("198.18.0.2:0"), blob, nil, nil, yes, ActDrop},
		{"from loopback", req(1, wire.BlobSize, wire.Token{}, 0), netip.MustParseAddrPort("127.0.0.1:4000"), blob, nil, nil, yes, ActDrop},
		{"from multicast", req(1, wire.BlobSize, wire.Token{}, 0), netip.MustParseAddrPort("224.0.0.1:4000"), blob, nil, nil, yes, ActDrop},
		{"from broadcast", req(1, wire.BlobSize, wire.Token{}, 0), netip.MustParseAddrPort("255.255.255.255:4000"), blob, nil, nil, yes, ActDrop},
		{"from mapped broadcast", req(1, wire.BlobSize, wire.Token{}, 0), netip.MustParseAddrPort("[::ffff:255.255.255.255]:4000"), blob, nil, nil, yes, ActDrop},
		{"allowed", req(1, wire.BlobSize, wire.Token{}, 0), prober, blob, nil, []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}, yes, ActReply},
		{"not allowed", req(1, wire.BlobSize, wire.Token{}, 0), prober, blob, nil, []netip.Prefix{netip.MustParsePrefix("198.19.0.0/24")}, yes, ActDrop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := bytes.Clone(tc.b)
			j := Judge{Key: tc.key, Port: wire.DefaultUDPPort, AllowFrom: tc.allow}
			got := j.Judge(in, tc.src, localAP, tc.blob, now, tc.limit)
			if got != tc.want {
				t.Fatalf("Judge = %v, want %v", got, tc.want)
			}
			want := bytes.Clone(tc.b)
			switch got {
			case ActReply:
				wire.MakeReply(want, tc.blob)
			case ActReach:
				wire.MakeReachReply(want)
				if !wire.IsReply(in) || in[wire.OffFlags]&wire.FlagHealth != 0 || len(in) != len(tc.b) {
					t.Fatalf("reach reply %q flags %#x", in[:4], in[wire.OffFlags])
				}
			}
			if !bytes.Equal(in, want) {
				t.Fatalf("datagram after Judge (%v) differs from the expected bytes", got)
			}
		})
	}
}

// FuzzJudge: whatever arrives, the judge never panics, answers only with
// an HBR1 datagram of the request's length, never answers HBR1 or a
// datagram from the responder's port, and leaves what it drops untouched.
func FuzzJudge(f *testing.F) {
	key, _ := wire.NewKey(2, bytes.Repeat([]byte{3}, wire.KeyLen))
	now := time.Unix(1_700_000_000, 0)
	blob := make([]byte, wire.BlobSize)
	wire.EncodeBlob(blob, &wire.Health{Generation: 1}, key)
	f.Add(wire.AppendRequest(nil, wire.Request{Flags: 1, KeyID: 2, Room: wire.BlobSize, Token: key.Token(now.UnixNano(), localAP.Addr())}), uint16(40000), true)
	f.Add(wire.AppendRequest(nil, wire.Request{Flags: 1, Room: 10}), uint16(50003), false)
	f.Add([]byte("HBR1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), uint16(1), true)
	f.Fuzz(func(t *testing.T, b []byte, port uint16, withKey bool) {
		j := Judge{Port: wire.DefaultUDPPort}
		if withKey {
			j.Key = key
		}
		in := bytes.Clone(b)
		src := netip.AddrPortFrom(prober.Addr(), port)
		switch a := j.Judge(in, src, localAP, blob, now, func() bool { return true }); a {
		case ActReply, ActReach:
			if len(in) != len(b) || !wire.IsReply(in) || !wire.IsRequest(b) || port == 0 || port == wire.DefaultUDPPort {
				t.Fatalf("%v: answered %q… (%d bytes) to %q… from port %d", a, in[:min(4, len(in))], len(in), b[:min(4, len(b))], port)
			}
			if a == ActReply && (in[wire.OffFlags]&wire.FlagHealth == 0 || !bytes.Equal(in[wire.HeaderLen:wire.HeaderLen+wire.BlobSize], blob)) {
				t.Fatal("health reply without the blob")
			}
			if a == ActReach && in[wire.OffFlags]&wire.FlagHealth != 0 {
				t.Fatal("reach reply with the health flag")
			}
		case ActDrop:
			if !bytes.Equal(in, b) {
				t.Fatal("dropped datagram modified")
			}
		default:
			t.Fatalf("action %v", a)
		}
	})
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
	// Like ssh: a key group or others may read (or write) is refused, with
	// the file and the fix named.
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o644, 0o666} {
		os.Chmod(path, mode)
		_, err := LoadKey(path, 7)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %o: %v; want a refusal naming the file and chmod 600", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := LoadKey(path, 7); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

// TestWriteStatusNoFollow: a symlink planted at the temporary path (or at
// the status path) is never followed: its target stays untouched.
func TestWriteStatusNoFollow(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	path := filepath.Join(dir, "run", "hb-responder.json")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.Symlink(victim, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := WriteStatus(path, &Status{PID: 42}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("symlink at the temporary path followed: victim now %q", b)
	}
	os.Remove(path)
	os.Symlink(victim, path)
	if err := WriteStatus(path, &Status{PID: 43}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("symlink at the status path followed: victim now %q", b)
	}
	if s, err := ReadStatus(path); err != nil || s.PID != 43 {
		t.Fatalf("status: %+v %v", s, err)
	}
	if fi, _ := os.Lstat(path); fi.Mode()&os.ModeSymlink != 0 {
		t.Fatal("status path still a symlink")
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
