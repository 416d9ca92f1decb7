// SPDX-License-Identifier: MIT

package responder

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/bpf"
	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/wire"
)

// failingProg stands for the eBPF program's configuration, which a test
// cannot make fail on demand on the real maps: it records every
// configuration and fails the first failN.
type failingProg struct {
	mu    sync.Mutex
	got   []bpf.Config
	failN int
}

func (p *failingProg) Configure(c bpf.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, c)
	if len(p.got) <= p.failN {
		return errors.New("map update failed")
	}
	return nil
}

type failingPushKey struct{ calls int }

func (p *failingPushKey) SetKey(*wire.PushKey) error {
	p.calls++
	return errors.New("push key refused")
}

// reloadFixture is a running responder (not serving) with key id 2 and
// rate 100/50, and a configuration file that rotates to key id 3.
type reloadFixture struct {
	r    *running
	logs *testutil.SyncBuffer
	base config.Responder
	next config.Responder
	keyA *wire.Key
}

func newReloadFixture(t *testing.T) *reloadFixture {
	t.Helper()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key")
	secretA, secretB := bytes.Repeat([]byte{0x33}, wire.KeyLen), bytes.Repeat([]byte{0x44}, wire.KeyLen)
	keyA, _ := wire.NewKey(2, secretA)
	os.WriteFile(keyPath, []byte(hex.EncodeToString(secretB)), 0o600) // the file already holds the next key
	base := config.DefaultResponder(filepath.Join(dir, "status.json"))
	base.UserspaceOnly, base.UDPPort, base.KeyFile, base.KeyID = true, 0, keyPath, 2
	base.RateLimit, base.Burst = 100, 50
	fx := &reloadFixture{logs: &testutil.SyncBuffer{}, base: base, keyA: keyA}
	fx.next = base
	fx.next.KeyID = 3
	log := slog.New(slog.NewTextHandler(fx.logs, nil))
	agent, err := NewAgent(AgentConfig{Interval: time.Second, Key: keyA, UDPPort: base.UDPPort, Logger: log}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.r = &running{cfg: base, log: log, key: keyA, agent: agent,
		load: func() (config.Responder, string, error) { return fx.next, "responder.toml", nil },
		udp:  &UDPResponder{Judge: Judge{Key: keyA}, Blob: agent.Blob, Limit: newLimit(&base)}}
	return fx
}

func (fx *reloadFixture) agentKeyID() uint8 {
	fx.r.agent.keyMu.Lock()
	defer fx.r.agent.keyMu.Unlock()
	if fx.r.agent.cfg.Key == nil {
		return 0
	}
	return fx.r.agent.cfg.Key.ID
}

// TestReloadRollsBack: a reload whose eBPF program configuration fails,
// or whose push key is refused after the program took the new one, puts
// the parts already applied back on the running configuration (agent key,
// program key id), leaves the running configuration and key as they were
// and logs that nothing was applied; a rollback that fails too is logged
// as "partly applied", naming the part left on the new configuration.
func TestReloadRollsBack(t *testing.T) {
	check := func(t *testing.T, fx *reloadFixture) {
		t.Helper()
		if fx.r.cfg.KeyID != 2 || !SameKey(fx.r.key, fx.keyA) {
			t.Errorf("running configuration has key id %d (key %v), want the old one (2)", fx.r.cfg.KeyID, fx.r.key)
		}
		if id := fx.agentKeyID(); id != 2 {
			t.Errorf("the agent seals with key id %d, want 2 (rolled back)", id)
		}
		if l := fx.r.udp.live.Load(); l != nil && !SameKey(l.judge.Key, fx.keyA) {
			t.Errorf("the UDP responder judges with key id %d", l.judge.Key.ID)
		}
		if strings.Contains(fx.logs.String(), "reload: applied") {
			t.Errorf("logged as applied:\n%s", fx.logs.String())
		}
	}
	t.Run("program", func(t *testing.T) {
		fx := newReloadFixture(t)
		prog := &failingProg{failN: 1}
		fx.r.prog = prog
		fx.r.reload(context.Background())
		check(t, fx)
		if len(prog.got) != 2 || prog.got[0].KeyID != 3 || prog.got[1].KeyID != 2 {
			t.Errorf("program configured with %+v, want key id 3 then 2 (rolled back)", prog.got)
		}
		if !strings.Contains(fx.logs.String(), "reload: not applied, rolled back") || !strings.Contains(fx.logs.String(), "failed=ebpf_program") {
			t.Errorf("logs:\n%s", fx.logs.String())
		}
	})
	t.Run("push", func(t *testing.T) {
		fx := newReloadFixture(t)
		prog, pk := &failingProg{}, &failingPushKey{}
		fx.r.prog, fx.r.pushKey = prog, pk
		fx.r.reload(context.Background())
		check(t, fx)
		if pk.calls != 1 || len(prog.got) != 2 || prog.got[1].KeyID != 2 {
			t.Errorf("push key set %d times, program configured with %+v, want key id 3 then 2", pk.calls, prog.got)
		}
		if !strings.Contains(fx.logs.String(), "reload: not applied, rolled back") || !strings.Contains(fx.logs.String(), "failed=push_key") {
			t.Errorf("logs:\n%s", fx.logs.String())
		}
	})
	t.Run("rollback fails", func(t *testing.T) {
		fx := newReloadFixture(t)
		fx.r.prog = &failingProg{failN: 2}
		fx.r.reload(context.Background())
		if fx.r.cfg.KeyID != 2 {
			t.Errorf("running configuration has key id %d", fx.r.cfg.KeyID)
		}
		if !strings.Contains(fx.logs.String(), "reload: partly applied") || !strings.Contains(fx.logs.String(), "new=ebpf_program") {
			t.Errorf("logs:\n%s", fx.logs.String())
		}
	})
	t.Run("applied", func(t *testing.T) {
		fx := newReloadFixture(t)
		prog := &failingProg{}
		fx.r.prog = prog
		fx.r.reload(context.Background())
		if fx.r.cfg.KeyID != 3 || fx.agentKeyID() != 3 || len(prog.got) != 1 || prog.got[0].KeyID != 3 {
			t.Errorf("running key id %d, agent's %d, program's %+v: want 3", fx.r.cfg.KeyID, fx.agentKeyID(), prog.got)
		}
		if !strings.Contains(fx.logs.String(), "reload: applied") {
			t.Errorf("logs:\n%s", fx.logs.String())
		}
	})
}

// TestReloadKeepsRateBucket: a reload that leaves rate_limit and burst as
// they are keeps the UDP responder's bucket (what it has used stays used);
// a changed rate gets a new one.
func TestReloadKeepsRateBucket(t *testing.T) {
	fx := newReloadFixture(t)
	b := fx.r.udp.limit()
	if b == nil {
		t.Fatal("no bucket")
	}
	fx.next.SampleInterval = config.Duration(2 * time.Second)
	fx.r.reload(context.Background())
	if !strings.Contains(fx.logs.String(), "reload: applied") {
		t.Fatalf("logs:\n%s", fx.logs.String())
	}
	if got := fx.r.udp.limit(); got != b {
		t.Fatal("a reload with the same rate_limit and burst replaced (refilled) the bucket")
	}
	fx.next.RateLimit = 200
	fx.r.reload(context.Background())
	if got := fx.r.udp.limit(); got == b || got == nil {
		t.Fatalf("a changed rate_limit kept the old bucket (%v)", got)
	}
}
