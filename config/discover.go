// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// EnvConfig names the environment variable that points at a config file.
// Like --config it is explicit: a file it names must exist.
const EnvConfig = "HB_CONFIG"

// ErrNotFound is wrapped by Discover when an explicitly named file (--config
// or $HB_CONFIG) does not exist.
var ErrNotFound = errors.New("config file not found")

// Candidate is one place Discover looks, in order.
type Candidate struct {
	Path   string // absolute or relative file path; empty if the source is unset
	Source string // where the path came from: "--config", "$HB_CONFIG", "$XDG_CONFIG_HOME", "~/.config", "./", "/etc/hb"
	// Explicit candidates were named by the user: a missing file is an
	// error instead of a reason to try the next one.
	Explicit bool
}

// env is what discovery reads from the process: the environment, the home
// directory and the system directory. Tests replace it.
type env struct {
	getenv func(string) string
	home   func() (string, error)
	etc    string // "/etc/hb"
}

var osEnv = env{getenv: os.Getenv, home: os.UserHomeDir, etc: "/etc/hb"}

// Candidates lists, in order, where Discover looks for a file called name
// (for example "hb-probe.toml"): explicit (the --config flag), $HB_CONFIG,
// $XDG_CONFIG_HOME/hb/NAME, ~/.config/hb/NAME, ./NAME, /etc/hb/NAME.
// Sources that are unset are left out.
func Candidates(explicit, name string) []Candidate {
	return osEnv.candidates(explicit, name)
}

func (e env) candidates(explicit, name string) []Candidate {
	var c []Candidate
	if explicit != "" {
		c = append(c, Candidate{Path: explicit, Source: "--config", Explicit: true})
	}
	if p := e.getenv(EnvConfig); p != "" {
		c = append(c, Candidate{Path: p, Source: "$" + EnvConfig, Explicit: true})
	}
	if x := e.getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		c = append(c, Candidate{Path: filepath.Join(x, "hb", name), Source: "$XDG_CONFIG_HOME"})
	}
	if h, err := e.home(); err == nil && h != "" {
		c = append(c, Candidate{Path: filepath.Join(h, ".config", "hb", name), Source: "~/.config"})
	}
	c = append(c, Candidate{Path: name, Source: "./"})
	c = append(c, Candidate{Path: filepath.Join(e.etc, name), Source: e.etc})
	return c
}

// Discover returns the config file to use: the first candidate (see
// Candidates) that exists. An explicit path (the --config flag, passed as
// explicit) or $HB_CONFIG that does not exist is an error wrapping
// ErrNotFound; the first explicit source decides, later ones are not tried.
// When no file exists anywhere Discover returns "" and a nil error: the
// caller runs on defaults.
func Discover(explicit, name string) (string, error) {
	return osEnv.discover(explicit, name)
}

func (e env) discover(explicit, name string) (string, error) {
	for _, c := range e.candidates(explicit, name) {
		st, err := os.Stat(c.Path)
		switch {
		case err == nil && st.IsDir():
			if c.Explicit {
				return "", fmt.Errorf("config %s (from %s) is a directory", c.Path, c.Source)
			}
		case err == nil:
			return c.Path, nil
		case c.Explicit && errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("config %s (from %s): %w", c.Path, c.Source, ErrNotFound)
		case c.Explicit:
			return "", fmt.Errorf("config %s (from %s): %w", c.Path, c.Source, err)
		case !errors.Is(err, fs.ErrNotExist):
			// A file that exists but cannot be inspected (permissions) is not
			// silently skipped: the user would run on the wrong config.
			return "", fmt.Errorf("config %s: %w", c.Path, err)
		}
	}
	return "", nil
}
