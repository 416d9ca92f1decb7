// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigIsDefaults(t *testing.T) {
	cfg, _, _, err := load([]string{"--config", "../../packaging/hb-responder.example.toml"})
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.StatusFile = "/run/hb/hb-responder.json"
	want.Interfaces = []string{}
	want.AllowFrom = []string{}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("example config differs from the defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hb-responder.toml")
	os.WriteFile(path, []byte("interfaces = [\"eth9\"]\nudp_port = 6000\nsample_interval = \"2s\"\n[compat]\nhbm2 = true\n"), 0o644)
	t.Setenv("HB_CONFIG", path)
	cfg, got, _, err := load([]string{"--udp-port", "7000"})
	if err != nil {
		t.Fatal(err)
	}
	if got != path || cfg.UDPPort != 7000 || cfg.SampleInterval.D() != 2*time.Second || !cfg.Compat.HBM2 || cfg.Interfaces[0] != "eth9" || cfg.RateLimit != defaults().RateLimit {
		t.Fatalf("precedence wrong: %+v (file %s)", cfg, got)
	}
}

func TestConfigUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(path, []byte("udp_port = 1\n\nintefaces = [\"x\"]\n"), 0o644)
	_, _, _, err := load([]string{"--config", path})
	if err == nil || !strings.Contains(err.Error(), path+":3:") || !strings.Contains(err.Error(), "intefaces") {
		t.Fatalf("want an error naming %s:3 and the key, got %v", path, err)
	}
}

func TestFlagsValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--key-id", "300"}, {"--key-id", "0"}, {"--sample-interval", "1ms"}, {"extra"},
		{"--rate-limit", "-1"}, {"--burst", "0"}, {"--attach", "bogus"}, {"--allow-from", "198.18.0.0/33"},
		{"--hbm2", "--key-file", "/etc/hb/key"}, // HBM v2 with a key needs hbm2_unauthenticated
	} {
		if _, _, _, err := load(append([]string{"--config", "/dev/null"}, args...)); err == nil {
			t.Errorf("load(%q) accepted", args)
		}
	}
	if _, _, v, err := load([]string{"--version"}); err != nil || !v {
		t.Fatalf("--version: %v %v", v, err)
	}
}

func TestConfigRejectsNegativeRate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.toml")
	os.WriteFile(path, []byte("rate_limit = -5.0\n"), 0o644)
	_, _, _, err := load([]string{"--config", path})
	if err == nil || !strings.Contains(err.Error(), "rate_limit") {
		t.Fatalf("negative rate_limit: %v", err)
	}
}

func TestHBM2WithKey(t *testing.T) {
	cfg, _, _, err := load([]string{"--config", "/dev/null", "--hbm2", "--key-file", "/etc/hb/key", "--hbm2-unauthenticated"})
	if err != nil || !cfg.HBM2On() {
		t.Fatalf("hbm2 with key and hbm2_unauthenticated: on=%v %v", cfg.HBM2On(), err)
	}
	cfg, _, _, err = load([]string{"--config", "/dev/null", "--hbm2"})
	if err != nil || !cfg.HBM2On() {
		t.Fatalf("hbm2 without a key: on=%v %v", cfg.HBM2On(), err)
	}
	_, _, _, err = load([]string{"--config", "/dev/null", "--hbm2", "--key-file", "/etc/hb/key"})
	if err == nil || !strings.Contains(err.Error(), "hbm2_unauthenticated") {
		t.Fatalf("hbm2 with a key alone: %v", err)
	}
}
