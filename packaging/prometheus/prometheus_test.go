// SPDX-License-Identifier: MIT

package prometheus

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian prometheus; scripts/install-deps.sh installs it)")
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRulesCheck(t *testing.T) {
	out := run(t, ".", promtool(t), "check", "rules", "hb-rules.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatal(out)
	}
}

func TestRulesUnitTests(t *testing.T) {
	out := run(t, ".", promtool(t), "test", "rules", "hb-rules.test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatal(out)
	}
}

// TestDashboardQueries: the dashboard is valid JSON with unique panel ids,
// and every query (template variables substituted) parses as PromQL,
// checked by promtool as recording rules.
func TestDashboardQueries(t *testing.T) {
	tool := promtool(t)
	b, err := os.ReadFile("hb-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string
		Panels []struct {
			ID      int
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || len(d.Panels) < 8 {
		t.Fatalf("dashboard uid %q with %d panels", d.UID, len(d.Panels))
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	ids := map[int]bool{}
	n := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			e := strings.NewReplacer("$host", ".*", "$location", ".*", "$__rate_interval", "5m").Replace(tg.Expr)
			q, _ := json.Marshal(e)
			n++
			fmt.Fprintf(&rules, "      - record: dashboard:q%d\n        expr: %s\n", n, q)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dash.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, tool, "check", "rules", "dash.yml")
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Fatal(out)
	}
}
