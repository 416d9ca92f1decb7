// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

func TestDefaultProbeValid(t *testing.T) {
	p := DefaultProbe()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestProbeValidate(t *testing.T) {
	tests := []struct {
		key string
		mod func(*Probe)
	}{
		{"interval", func(p *Probe) { p.Interval = 0 }},
		{"timeout", func(p *Probe) { p.Timeout = -1 }},
		{"count", func(p *Probe) { p.Count = 0 }},
		{"rate", func(p *Probe) { p.Rate = -1 }},
		{"batch", func(p *Probe) { p.Batch = 2000 }},
		{"proto", func(p *Probe) { p.Proto = "tcp" }},
		{"udp_port", func(p *Probe) { p.UDPPort = 70000 }},
		{"key_id", func(p *Probe) { p.KeyID = 0 }},
		{"max_targets", func(p *Probe) { p.MaxTargets = 0 }},
		{"shard", func(p *Probe) { p.Shard = "3/2" }},
		{"log_level", func(p *Probe) { p.LogLevel = "loud" }},
		{"gc_percent", func(p *Probe) { p.GCPercent = 0 }},
		{"gc_percent", func(p *Probe) { p.GCPercent = 5000 }},
		{"store.retention", func(p *Probe) { p.Store.Retention = -1 }},
		{"api.listen", func(p *Probe) { p.API.Listen = "8787" }},
		{"fsm.failures_to_down", func(p *Probe) { p.FSM.FailuresToDown = 0 }},
		{"fsm.successes_to_up", func(p *Probe) { p.FSM.SuccessesToUp = 0 }},
		{"fsm.ewma_alpha", func(p *Probe) { p.FSM.EWMAAlpha = 1.5 }},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			p := DefaultProbe()
			tt.mod(&p)
			err := p.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.key)
			}
		})
	}
}

func TestShard(t *testing.T) {
	for _, bad := range []string{"1", "0/2", "3/2", "a/b", "1/0", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	// Every key lands in exactly one of n shards, and the split is even-ish.
	const n, keys = 4, 4000
	count := make([]int, n)
	for i := range keys {
		key := "host-" + strconv.Itoa(i)
		in := 0
		for k := 1; k <= n; k++ {
			s, err := ParseShard(fmt.Sprintf("%d/%d", k, n))
			if err != nil {
				t.Fatal(err)
			}
			if s.Keep(key) {
				in++
				count[k-1]++
			}
		}
		if in != 1 {
			t.Fatalf("key %q is in %d shards", key, in)
		}
	}
	for k, c := range count {
		if c < keys/n/2 {
			t.Errorf("shard %d/%d has %d of %d keys", k+1, n, c, keys)
		}
	}
	if !(Shard{}).Keep("x") {
		t.Error("the zero shard drops targets")
	}
}

// TestExampleConfig: packaging/hb-probe.example.toml decodes strictly, is
// valid, and mentions every key the struct has (so the example never
// falls behind).
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "packaging", "hb-probe.example.toml")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no example config: %v", err)
	}
	p := DefaultProbe()
	if err := DecodeStrict(path, &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// Every key of the defaults, as TOML, must appear (commented or not).
	var buf bytes.Buffer
	d := DefaultProbe()
	if err := toml.NewEncoder(&buf).Encode(&d); err != nil {
		t.Fatal(err)
	}
	example, _ := os.ReadFile(path)
	for _, line := range strings.Split(buf.String(), "\n") {
		line = strings.TrimSpace(line)
		k, _, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		if !bytes.Contains(example, []byte(k+" = ")) {
			t.Errorf("example config lacks key %q", k)
		}
	}
}

func TestLoadProbe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(path, []byte("interval = \"3s\"\n[api]\nlisten = \"127.0.0.1:9999\"\n[fsm]\nfailures_to_down = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, from, err := LoadProbe(path)
	if err != nil || from != path {
		t.Fatalf("LoadProbe = %q, %v", from, err)
	}
	if p.Interval.D() != 3*time.Second || p.API.Listen != "127.0.0.1:9999" || p.FSM.FailuresToDown != 3 || p.Timeout.D() != time.Second {
		t.Fatalf("loaded %+v", p)
	}
	if err := os.WriteFile(path, []byte("[fsm]\nfailures_to_down = 3\nfailure_to_up = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadProbe(path); err == nil || !strings.Contains(err.Error(), path+":3:1: unknown key \"fsm.failure_to_up\"") {
		t.Fatalf("LoadProbe with a typo = %v", err)
	}
}
