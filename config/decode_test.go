// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Interval Duration `toml:"interval"`
	Count    int      `toml:"count"`
	API      struct {
		Listen string `toml:"listen"`
	} `toml:"api"`
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr []string // substrings, after "FILE"
	}{
		{"ok", "interval = \"2s\"\ncount = 3\n[api]\nlisten = \"127.0.0.1:1\"\n", nil},
		{"empty keeps defaults", "", nil},
		{"unknown top key", "count = 3\nbogus = 1\n", []string{":2:1: unknown key \"bogus\""}},
		{"unknown nested keys", "[api]\nlisten = \"x\"\nport = 1\nhost = 2\n",
			[]string{":3:1: unknown key \"api.port\"", ":4:1: unknown key \"api.host\""}},
		{"unknown table", "[nope]\na = 1\n", []string{":1:2: unknown key \"nope\""}},
		{"type error", "count = \"three\"\n", []string{":1:9: ", "\"count\""}},
		{"bad duration", "\n\ninterval = \"5 parsecs\"\n", []string{":3:12: ", "\"interval\""}},
		{"syntax error", "count = = 3\n", []string{":1:9: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.body)
			c := testConfig{Interval: Duration(time.Second), Count: 1}
			err := DecodeStrict(p, &c)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("DecodeStrict: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("DecodeStrict accepted a bad file")
			}
			msg := err.Error()
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if !strings.HasPrefix(msg, p+":") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			var pe *PosError
			if !errors.As(err, &pe) || pe.Line == 0 {
				t.Errorf("error %q carries no position", msg)
			}
		})
	}
}

func TestDecodeStrictValues(t *testing.T) {
	p := writeFile(t, "interval = \"250ms\"\n[api]\nlisten = \"127.0.0.1:9\"\n")
	c := testConfig{Interval: Duration(time.Second), Count: 7}
	if err := DecodeStrict(p, &c); err != nil {
		t.Fatal(err)
	}
	if c.Interval.D() != 250*time.Millisecond || c.Count != 7 || c.API.Listen != "127.0.0.1:9" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestDecodeStrictMissingFile(t *testing.T) {
	err := DecodeStrict(filepath.Join(t.TempDir(), "none.toml"), &testConfig{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// TestPrecedence: defaults < file < flags the user actually set.
func TestPrecedence(t *testing.T) {
	p := writeFile(t, "interval = \"2s\"\ncount = 3\n")
	c := testConfig{Interval: Duration(time.Second), Count: 1}
	c.API.Listen = "127.0.0.1:8787"
	if err := DecodeStrict(p, &c); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	interval := fs.Duration("interval", time.Second, "")
	count := fs.Int("count", 1, "")
	listen := fs.String("listen", "127.0.0.1:8787", "")
	if err := fs.Parse([]string{"-count", "5"}); err != nil {
		t.Fatal(err)
	}
	v := VisitedFlags(fs)
	Override(v, "interval", &c.Interval, Duration(*interval))
	Override(v, "count", &c.Count, *count)
	Override(v, "listen", &c.API.Listen, *listen)
	if c.Interval.D() != 2*time.Second {
		t.Errorf("interval = %v, want the file's 2s (flag not set)", c.Interval)
	}
	if c.Count != 5 {
		t.Errorf("count = %d, want the flag's 5", c.Count)
	}
	if c.API.Listen != "127.0.0.1:8787" {
		t.Errorf("listen = %q, want the default", c.API.Listen)
	}
	if !v.Has("count") || v.Has("interval") {
		t.Errorf("visited = %v", v)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.D() != 90*time.Second {
		t.Fatalf("UnmarshalText: %v %v", d, err)
	}
	b, _ := d.MarshalText()
	if string(b) != "1m30s" {
		t.Fatalf("MarshalText = %q", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Fatal("accepted a bad duration")
	}
}
