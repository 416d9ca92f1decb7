// SPDX-License-Identifier: MIT

package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
)

func f(x float64) *float64 { return &x }

func mustRule(t *testing.T, c config.AlertRule) *Rule {
	t.Helper()
	r, err := compileRule(&c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAssessOperators: every operator, with warning and critical levels.
func TestAssessOperators(t *testing.T) {
	cases := []struct {
		op         string
		warn, crit float64
		v          float64
		want       Level
	}{
		{">", 80, 90, 79, OK}, {">", 80, 90, 80, OK}, {">", 80, 90, 80.5, Warning}, {">", 80, 90, 90, Warning}, {">", 80, 90, 90.1, Critical},
		{">=", 80, 90, 79.9, OK}, {">=", 80, 90, 80, Warning}, {">=", 80, 90, 90, Critical},
		{"<", 20, 10, 21, OK}, {"<", 20, 10, 20, OK}, {"<", 20, 10, 19, Warning}, {"<", 20, 10, 10, Warning}, {"<", 20, 10, 9, Critical},
		{"<=", 20, 10, 20, Warning}, {"<=", 20, 10, 10, Critical}, {"<=", 20, 10, 20.1, OK},
		{"==", 1, 2, 1, Warning}, {"==", 1, 2, 2, Critical}, {"==", 1, 2, 3, OK},
		{"!=", 0, 5, 0, Critical}, {"!=", 5, 0, 0, Warning}, {"!=", 5, 0, 5, Critical},
	}
	for _, c := range cases {
		r := mustRule(t, config.AlertRule{Metric: "m", Op: c.op, Warning: f(c.warn), Critical: f(c.crit)})
		if got, _ := r.Assess(c.v, OK); got != c.want {
			t.Errorf("%v %s (w %v c %v): %v, want %v", c.v, c.op, c.warn, c.crit, got, c.want)
		}
	}
	// Only one level configured.
	r := mustRule(t, config.AlertRule{Metric: "m", Op: ">", Critical: f(5)})
	if l, thr := r.Assess(6, OK); l != Critical || thr != 5 {
		t.Errorf("critical only: %v %v", l, thr)
	}
	if l, _ := r.Assess(4, OK); l != OK {
		t.Errorf("critical only below: %v", l)
	}
}

func TestAssessNagios(t *testing.T) {
	r := mustRule(t, config.AlertRule{Metric: "nagios.exit", Op: "nagios"})
	for v, want := range map[float64]Level{0: OK, 1: Warning, 2: Critical, 3: Unknown, 4: Unknown, -1: Unknown} {
		if got, _ := r.Assess(v, OK); got != want {
			t.Errorf("exit %v: %v, want %v", v, got, want)
		}
	}
}

// TestHysteresis: hbd's example, 0.1 with critical 90 recovers at 81.
func TestHysteresis(t *testing.T) {
	r := mustRule(t, config.AlertRule{Metric: "cpu", Op: ">", Warning: f(70), Critical: f(90), Hysteresis: 0.1})
	cases := []struct {
		cur  Level
		v    float64
		want Level
	}{
		{OK, 89, Warning},        // not yet critical
		{OK, 90.5, Critical},     // crosses
		{Critical, 85, Critical}, // in the band: stays
		{Critical, 81.01, Critical},
		{Critical, 81, Warning}, // recovers from critical at 81 (still above warning 70)
		{Warning, 64, Warning},  // warning band: 70 - 7 = 63
		{Warning, 63, OK},
		{OK, 69, OK}, // no band from OK
		{Critical, 50, OK},
	}
	for _, c := range cases {
		if got, _ := r.Assess(c.v, c.cur); got != c.want {
			t.Errorf("from %v at %v: %v, want %v", c.cur, c.v, got, c.want)
		}
	}
	lo := mustRule(t, config.AlertRule{Metric: "free", Op: "<", Critical: f(10), Hysteresis: 0.2})
	if got, _ := lo.Assess(11.9, Critical); got != Critical {
		t.Errorf("< band: %v", got)
	}
	if got, _ := lo.Assess(12, Critical); got != OK {
		t.Errorf("< recovery at 12: %v", got)
	}
}

// TestStepCountFor: count consecutive breaches, for duration, immediate
// improvement.
func TestStepCountFor(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	r := mustRule(t, config.AlertRule{Metric: "m", Op: ">", Critical: f(1), Count: 3})
	var tr Track
	for i, want := range []bool{false, false, true} {
		if got := r.Step(&tr, Critical, t0.Add(time.Duration(i)*time.Second)); got != want {
			t.Fatalf("breach %d: changed %v", i+1, got)
		}
	}
	if tr.Level != Critical {
		t.Fatalf("level %v", tr.Level)
	}
	// A good value in between restarts the count.
	tr = Track{}
	r.Step(&tr, Critical, t0)
	r.Step(&tr, Critical, t0)
	r.Step(&tr, OK, t0)
	r.Step(&tr, Critical, t0)
	if r.Step(&tr, Critical, t0); tr.Level != OK {
		t.Fatal("count did not restart after a good value")
	}
	// for: the level is taken once the breach has lasted, even by a tick.
	rf := mustRule(t, config.AlertRule{State: "down", For: config.Duration(30 * time.Second)})
	tr = Track{}
	if rf.Step(&tr, Critical, t0) || rf.Step(&tr, Critical, t0.Add(29*time.Second)) {
		t.Fatal("fired before for elapsed")
	}
	if !rf.Due(&tr, t0.Add(30*time.Second)) || tr.Level != Critical {
		t.Fatal("not fired when for elapsed")
	}
	// Better levels apply at once.
	if !rf.Step(&tr, OK, t0.Add(31*time.Second)) || tr.Level != OK {
		t.Fatal("recovery is not immediate")
	}
}

func TestTemplate(t *testing.T) {
	tp, err := ParseTemplate("{check_name}: {metric_name} {value} {op_symbol} {threshold_value} ({nope})")
	if err != nil {
		t.Fatal(err)
	}
	got := tp.Render(func(k string) (string, bool) {
		m := map[string]string{"check_name": "mysql", "metric_name": "conns", "value": "12", "op_symbol": ">", "threshold_value": "10"}
		v, ok := m[k]
		return v, ok
	})
	if got != "mysql: conns 12 > 10 ({nope})" {
		t.Errorf("render %q", got)
	}
	for _, bad := range []string{"{", "}", "{}", "a {b"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) accepted", bad)
		}
	}
	if FormatValue(0.812345) != "0.8123" || FormatValue(90) != "90" {
		t.Errorf("FormatValue: %s %s", FormatValue(0.812345), FormatValue(90))
	}
}

// TestGenericMatchingAndProfiles: stripping leading segments; profiles
// applied left to right; disabled rules removed.
func TestGenericMatchingAndProfiles(t *testing.T) {
	cfg := config.DefaultAlerts()
	cfg.Rules = []config.AlertRule{
		{Metric: "used_ratio", Op: ">", Critical: f(0.9)},
		{Metric: "mysql.connections", Op: ">", Critical: f(100)},
		{Metric: "load5", Op: ">", Critical: f(4)},
		{Profile: "big", Metric: "load5", Op: ">", Critical: f(32)},
		{Profile: "huge", Metric: "load5", Op: ">", Critical: f(64)},
		{Profile: "quiet", Metric: "load5", Disabled: true},
	}
	rs, err := Compile(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	all := func(*Rule) bool { return true }
	base := rs.For("")
	cases := []struct{ metric, rule, prefix string }{
		{"used_ratio", "used_ratio", ""},
		{"disk./var.used_ratio", "used_ratio", "disk./var"},
		{"plugins.mysql.connections", "mysql.connections", "plugins"},
		{"disk_srv_data_used_ratio", "used_ratio", "disk_srv_data"}, // push's names
		{"nagios_check_disk_status", "", ""},
		{"mysql.connections", "mysql.connections", ""},
		{"connections", "", ""},
		{"other", "", ""},
	}
	for _, c := range cases {
		r, prefix := base.Lookup(c.metric, all)
		name := ""
		if r != nil {
			name = r.Name
		}
		if name != c.rule || prefix != c.prefix {
			t.Errorf("Lookup(%q) = %q, %q; want %q, %q", c.metric, name, prefix, c.rule, c.prefix)
		}
	}
	crit := func(profiles string) float64 {
		r, _ := rs.For(profiles).Lookup("load5", all)
		if r == nil {
			return -1
		}
		return r.Crit
	}
	if crit("") != 4 || crit("big") != 32 || crit("big,huge") != 64 || crit("huge,big") != 32 || crit("big,quiet") != -1 || crit("nosuch") != 4 {
		t.Errorf("profiles: %v %v %v %v %v", crit(""), crit("big"), crit("big,huge"), crit("huge,big"), crit("big,quiet"))
	}
}

func TestCompileErrorsNamePosition(t *testing.T) {
	cfg := config.DefaultAlerts()
	cfg.Rules = []config.AlertRule{{Metric: "m", Op: "=>", Critical: f(1)}}
	_, err := Compile(&cfg)
	if err == nil || !strings.Contains(err.Error(), "alerts.rules[0]") || !strings.Contains(err.Error(), `"=>"`) {
		t.Fatalf("err %v", err)
	}
}

// FuzzTemplate: no panic; rendering with every placeholder known leaves no
// braces the template did not have as literals.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{host} {value}", "{", "}", "a{b}c", "{{x}}", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTemplate(s)
		if err != nil {
			return
		}
		out := tp.Render(func(string) (string, bool) { return "V", true })
		if strings.ContainsAny(out, "{}") {
			t.Fatalf("%q rendered %q", s, out)
		}
	})
}
