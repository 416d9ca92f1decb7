// SPDX-License-Identifier: MIT

package alert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hbmon/hb/config"
)

// TestExampleConfig: packaging/alerts.example.toml decodes strictly, is
// valid, and compiles.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "packaging", "alerts.example.toml")
	p, _, err := config.LoadProbe(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(&p.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Len() < 15 || !rs.HasProfile("bigbox") || len(p.Alerts.Channels) != 6 {
		t.Errorf("%d rules, %d channels", rs.Len(), len(p.Alerts.Channels))
	}
}

// TestConfigErrorsNameLine: a bad value inside [[alerts.rules]] names the
// file and the line of its table.
func TestConfigErrorsNameLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb-probe.toml")
	os.WriteFile(path, []byte(`[alerts]
default_channels = ["nope"]

[[alerts.rules]]
metric = "load5"
op = ">"
critical = 4.0

[[alerts.rules]]
metric = "load1"
op = "=>"
critical = 4.0

[[alerts.channels]]
name = "x"
type = "exec"
command = ["relative/path"]
`), 0o644)
	p, _, err := config.LoadProbe(path)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		path + `:9: alerts.rules[1].op: want one of`,
		path + `:14: alerts.channels[0].command: exec needs an absolute path`,
		`alerts.default_channels: no channel named "nope"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// An unknown key is the decoder's: FILE:LINE:COLUMN.
	os.WriteFile(path, []byte("[alerts]\n\n[[alerts.rules]]\nmetirc = \"x\"\n"), 0o644)
	if _, _, err := config.LoadProbe(path); err == nil || !strings.Contains(err.Error(), path+":4:1: unknown key") {
		t.Errorf("unknown key: %v", err)
	}
}
