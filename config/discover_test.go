// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fakeEnv builds a discovery environment rooted in a temporary directory:
// home, XDG dir, /etc/hb and the working directory are all inside it.
type fakeEnv struct {
	root, home, xdg, etc, cwd string
	vars                      map[string]string
}

func newFakeEnv(t *testing.T) *fakeEnv {
	t.Helper()
	r := t.TempDir()
	f := &fakeEnv{
		root: r,
		home: filepath.Join(r, "home"),
		xdg:  filepath.Join(r, "xdg"),
		etc:  filepath.Join(r, "etc", "hb"),
		cwd:  filepath.Join(r, "cwd"),
		vars: map[string]string{},
	}
	for _, d := range []string{f.home, f.xdg, f.etc, f.cwd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(f.cwd)
	return f
}

func (f *fakeEnv) env() env {
	return env{
		getenv: func(k string) string { return f.vars[k] },
		home:   func() (string, error) { return f.home, nil },
		etc:    f.etc,
	}
}

func touch(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("# test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const name = "hb-probe.toml"

func TestDiscover(t *testing.T) {
	type setup func(t *testing.T, f *fakeEnv) (explicit, want string)
	tests := []struct {
		name    string
		setup   setup
		wantErr error // nil: no error
	}{
		{"none: defaults", func(t *testing.T, f *fakeEnv) (string, string) {
			return "", ""
		}, nil},
		{"etc only", func(t *testing.T, f *fakeEnv) (string, string) {
			return "", touch(t, filepath.Join(f.etc, name))
		}, nil},
		{"cwd beats etc", func(t *testing.T, f *fakeEnv) (string, string) {
			touch(t, filepath.Join(f.etc, name))
			touch(t, filepath.Join(f.cwd, name))
			return "", name
		}, nil},
		{"home beats cwd", func(t *testing.T, f *fakeEnv) (string, string) {
			touch(t, filepath.Join(f.cwd, name))
			return "", touch(t, filepath.Join(f.home, ".config", "hb", name))
		}, nil},
		{"xdg beats home", func(t *testing.T, f *fakeEnv) (string, string) {
			f.vars["XDG_CONFIG_HOME"] = f.xdg
			touch(t, filepath.Join(f.home, ".config", "hb", name))
			return "", touch(t, filepath.Join(f.xdg, "hb", name))
		}, nil},
		{"relative xdg ignored", func(t *testing.T, f *fakeEnv) (string, string) {
			f.vars["XDG_CONFIG_HOME"] = "xdg"
			touch(t, filepath.Join(f.cwd, "xdg", "hb", name))
			return "", touch(t, filepath.Join(f.etc, name))
		}, nil},
		{"HB_CONFIG beats xdg", func(t *testing.T, f *fakeEnv) (string, string) {
			f.vars["XDG_CONFIG_HOME"] = f.xdg
			touch(t, filepath.Join(f.xdg, "hb", name))
			p := touch(t, filepath.Join(f.root, "elsewhere.toml"))
			f.vars[EnvConfig] = p
			return "", p
		}, nil},
		{"flag beats HB_CONFIG", func(t *testing.T, f *fakeEnv) (string, string) {
			f.vars[EnvConfig] = touch(t, filepath.Join(f.root, "env.toml"))
			p := touch(t, filepath.Join(f.root, "flag.toml"))
			return p, p
		}, nil},
		{"flag missing is an error", func(t *testing.T, f *fakeEnv) (string, string) {
			touch(t, filepath.Join(f.etc, name))
			return filepath.Join(f.root, "nope.toml"), ""
		}, ErrNotFound},
		{"HB_CONFIG missing is an error", func(t *testing.T, f *fakeEnv) (string, string) {
			touch(t, filepath.Join(f.etc, name))
			f.vars[EnvConfig] = filepath.Join(f.root, "nope.toml")
			return "", ""
		}, ErrNotFound},
		{"directory in the way is skipped", func(t *testing.T, f *fakeEnv) (string, string) {
			if err := os.MkdirAll(filepath.Join(f.cwd, name), 0o755); err != nil {
				t.Fatal(err)
			}
			return "", touch(t, filepath.Join(f.etc, name))
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEnv(t)
			explicit, want := tt.setup(t, f)
			got, err := f.env().discover(explicit, name)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("discover: err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("discover: %v", err)
			}
			if got != want {
				t.Fatalf("discover = %q, want %q", got, want)
			}
		})
	}
}

func TestDiscoverExplicitDirectory(t *testing.T) {
	f := newFakeEnv(t)
	if _, err := f.env().discover(f.root, name); err == nil {
		t.Fatal("a directory given as --config was accepted")
	}
}

func TestCandidatesOrder(t *testing.T) {
	f := newFakeEnv(t)
	f.vars["XDG_CONFIG_HOME"] = f.xdg
	f.vars[EnvConfig] = "/x/env.toml"
	var got []string
	for _, c := range f.env().candidates("/x/flag.toml", name) {
		got = append(got, c.Source)
	}
	want := []string{"--config", "$HB_CONFIG", "$XDG_CONFIG_HOME", "~/.config", "./", f.etc}
	if len(got) != len(want) {
		t.Fatalf("sources = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sources = %v, want %v", got, want)
		}
	}
}
