package store

import (
	"context"
	"database/sql"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// base is a recent minute: rows stamped around it are inside the default
// retention, so the periodic retention pass leaves them alone.
var base = time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)

func openTest(t *testing.T, path string, o *Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func flush(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "hb.db")
	s := openTest(t, path, nil)
	s.SetHosts([]Host{{Name: "a", Address: "198.18.0.1", Labels: map[string]string{"role": "db"}}, {Name: "b", Address: "198.18.0.2"}})
	h := &Health{CPU: 10, Mem: 50, Disk: 20, Load1: 1}
	// Minute 0: 3 OK (1, 2, 3 ms), 1 loss; two health samples.
	s.RecordProbe(Probe{Host: "a", At: base.Add(1 * time.Second), OK: true, RTT: time.Millisecond, Health: h})
	s.RecordProbe(Probe{Host: "a", At: base.Add(2 * time.Second), OK: true, RTT: 3 * time.Millisecond, Health: &Health{CPU: 30, Mem: 70, Disk: 20, Load1: 3}})
	s.RecordProbe(Probe{Host: "a", At: base.Add(3 * time.Second), OK: false})
	flush(t, s)
	// Same minute, after a commit: the row accumulates.
	s.RecordProbe(Probe{Host: "a", At: base.Add(59 * time.Second), OK: true, RTT: 2 * time.Millisecond})
	// Minute 1.
	s.RecordProbe(Probe{Host: "a", At: base.Add(61 * time.Second), OK: false})
	s.RecordTransition(Transition{Host: "a", At: base.Add(61 * time.Second), From: "up", To: "degraded", Count: 2})
	s.RecordProblem(Problem{Host: "a", At: base.Add(61 * time.Second), Kind: KindTimeout})
	s.RecordProblem(Problem{Host: "b", At: base.Add(62 * time.Second), Kind: KindICMPError, ICMPType: 3, ICMPCode: 1,
		From: netip.MustParseAddr("198.18.0.254"), Detail: "host unreachable"})
	flush(t, s)

	ctx := context.Background()
	hist, err := s.History(ctx, "a", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("history has %d minutes, want 2: %+v", len(hist), hist)
	}
	m0 := hist[0]
	if !m0.Minute.Equal(base) || m0.Probes != 4 || m0.Losses != 1 || m0.RTTSamples != 3 ||
		m0.RTTMin != time.Millisecond || m0.RTTAvg != 2*time.Millisecond || m0.RTTMax != 3*time.Millisecond {
		t.Errorf("minute 0 = %+v", m0)
	}
	if m0.HealthSamples != 2 || m0.CPU != 20 || m0.Mem != 60 || m0.Disk != 20 || m0.Load1 != 2 {
		t.Errorf("minute 0 health = %+v", m0)
	}
	if m1 := hist[1]; m1.Probes != 1 || m1.Losses != 1 || m1.RTTSamples != 0 || m1.RTTMax != 0 {
		t.Errorf("minute 1 = %+v", m1)
	}
	// from/to bound the minutes.
	if h, _ := s.History(ctx, "a", base.Add(time.Minute), time.Time{}); len(h) != 1 {
		t.Errorf("history from minute 1: %d rows", len(h))
	}
	if h, _ := s.History(ctx, "nobody", time.Time{}, time.Time{}); len(h) != 0 {
		t.Errorf("unknown host has history %v", h)
	}

	probs, err := s.Problems(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 2 || probs[0].Host != "b" || probs[0].Kind != KindICMPError || probs[0].ICMPType != 3 ||
		probs[0].ICMPCode != 1 || probs[0].From.String() != "198.18.0.254" || !probs[0].At.Equal(base.Add(62*time.Second)) {
		t.Fatalf("problems = %+v", probs)
	}
	if p, _ := s.Problems(ctx, Query{Host: "a"}); len(p) != 1 || p[0].Kind != KindTimeout || p[0].From.IsValid() {
		t.Errorf("problems of a = %+v", p)
	}
	if p, _ := s.Problems(ctx, Query{Limit: 1, Before: probs[0].ID}); len(p) != 1 || p[0].Host != "a" {
		t.Errorf("second page = %+v", p)
	}
	trs, err := s.Transitions(ctx, Query{Host: "a"})
	if err != nil || len(trs) != 1 || trs[0].From != "up" || trs[0].To != "degraded" {
		t.Fatalf("transitions = %+v, %v", trs, err)
	}

	// The last state survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, path, nil)
	hosts, err := s2.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 {
		t.Fatalf("hosts = %+v", hosts)
	}
	a := hosts[0]
	if a.Name != "a" || a.Address != "198.18.0.1" || a.Labels["role"] != "db" || a.State != "degraded" ||
		!a.StateSince.Equal(base.Add(61*time.Second)) || a.Transitions != 2 || !a.LastSeen.Equal(base.Add(59*time.Second)) {
		t.Errorf("host a = %+v", a)
	}
	if b := hosts[1]; b.State != "unknown" || !b.LastSeen.IsZero() || b.FirstSeen.IsZero() {
		t.Errorf("host b = %+v", b)
	}
	// The minute continues across the restart: the row is added to.
	s2.RecordProbe(Probe{Host: "a", At: base.Add(62 * time.Second), OK: true, RTT: 500 * time.Microsecond})
	flush(t, s2)
	hist, _ = s2.History(ctx, "a", base.Add(time.Minute), time.Time{})
	if len(hist) != 1 || hist[0].Probes != 2 || hist[0].RTTMin != 500*time.Microsecond {
		t.Errorf("minute 1 after restart = %+v", hist)
	}
	st := s2.Stats()
	if st.Committed != 1 || st.Commits != 1 || st.Dropped != 0 || st.Errors != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestLabelsUpdate(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), nil)
	s.SetHosts([]Host{{Name: "a", Address: "198.18.0.1", Labels: map[string]string{"x": "1"}}})
	flush(t, s)
	s.SetHosts([]Host{{Name: "a", Address: "198.18.0.9"}})
	flush(t, s)
	h, err := s.Hosts(context.Background())
	if err != nil || len(h) != 1 || h[0].Address != "198.18.0.9" || len(h[0].Labels) != 0 {
		t.Fatalf("hosts = %+v, %v", h, err)
	}
}

func TestRetention(t *testing.T) {
	now := base.Add(48 * time.Hour)
	s := openTest(t, filepath.Join(t.TempDir(), "hb.db"), &Options{
		Retention:   24 * time.Hour,
		DeleteBatch: 7, // several batches per table
		Now:         func() time.Time { return now },
	})
	const old, fresh = 50, 5
	for i := range old {
		at := base.Add(time.Duration(i) * time.Minute) // 2 days old
		s.RecordProbe(Probe{Host: "a", At: at, OK: true, RTT: time.Millisecond})
		s.RecordProblem(Problem{Host: "a", At: at, Kind: KindTimeout})
		s.RecordTransition(Transition{Host: "a", At: at, From: "up", To: "down"})
	}
	for i := range fresh {
		at := now.Add(-time.Duration(i+1) * time.Minute)
		s.RecordProbe(Probe{Host: "a", At: at, OK: true, RTT: time.Millisecond})
		s.RecordProblem(Problem{Host: "a", At: at, Kind: KindTimeout})
		s.RecordTransition(Transition{Host: "a", At: at, From: "up", To: "down"})
	}
	ctx := context.Background()
	if err := s.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"rollups", "problems", "transitions"} {
		var n int
		if err := s.r.QueryRow(`SELECT count(*) FROM ` + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != fresh {
			t.Errorf("%s: %d rows left, want %d", tbl, n, fresh)
		}
	}
	if d := s.Stats().Deleted; d != 3*old {
		t.Errorf("deleted %d rows, want %d", d, 3*old)
	}
	// Hosts stay.
	if h, _ := s.Hosts(ctx); len(h) != 1 {
		t.Errorf("hosts = %+v", h)
	}
}

func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, filepath.Join(dir, "hb.db"), &Options{CommitInterval: 10 * time.Millisecond})
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.RecordProbe(Probe{Host: "a", At: base.Add(time.Duration(i) * time.Second), OK: true, RTT: time.Millisecond})
			s.RecordProblem(Problem{Host: "a", At: base.Add(time.Duration(i) * time.Second), Kind: KindTimeout})
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for s.Stats().Committed < 1000 {
		time.Sleep(5 * time.Millisecond)
	}
	// From the open store, and from a second handle as `hb-probe backup`
	// does while the daemon runs.
	for _, tc := range []struct {
		name string
		run  func(dst string) error
	}{
		{"store", func(dst string) error { return s.Backup(ctx, dst) }},
		{"file", func(dst string) error { return Backup(ctx, s.Path(), dst) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(dir, tc.name+"-backup.db")
			if err := tc.run(dst); err != nil {
				t.Fatal(err)
			}
			checkBackup(t, dst)
			if err := tc.run(dst); err == nil {
				t.Error("backup overwrote an existing file")
			}
		})
	}
}

func checkBackup(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	var probes, problems, hosts int
	if err := db.QueryRow(`SELECT coalesce(sum(probes), 0) FROM rollups`).Scan(&probes); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM problems`).Scan(&problems); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM hosts`).Scan(&hosts); err != nil {
		t.Fatal(err)
	}
	if probes == 0 || problems == 0 || hosts != 1 {
		t.Fatalf("backup holds %d probes, %d problems, %d hosts", probes, problems, hosts)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("backup user_version = %d, %v", v, err)
	}
	t.Logf("backup: %d probes, %d problems", probes, problems)
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		state, xdg, home, want string
	}{
		{"/var/lib/hb-probe", "/x", "/h", "/var/lib/hb-probe/hb-probe.db"},
		{"/var/lib/a:/var/lib/b", "", "/h", "/var/lib/a/hb-probe.db"},
		{"", "/data", "/h", "/data/hb/hb-probe.db"},
		{"", "relative", "/h", "/h/.local/share/hb/hb-probe.db"},
		{"", "", "/h", "/h/.local/share/hb/hb-probe.db"},
	}
	for _, tt := range tests {
		t.Setenv("STATE_DIRECTORY", tt.state)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		got, err := DefaultPath()
		if err != nil || got != tt.want {
			t.Errorf("STATE_DIRECTORY=%q XDG_DATA_HOME=%q: %q, %v; want %q", tt.state, tt.xdg, got, err, tt.want)
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "hb.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.RecordProbe(Probe{Host: "a", At: base, OK: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != ErrClosed {
		t.Fatalf("Flush after Close = %v", err)
	}
	s.RecordProbe(Probe{Host: "a", At: base, OK: true}) // dropped, no panic
	if st := s.Stats(); st.Committed != 1 || st.Dropped != 1 {
		t.Fatalf("stats = %+v", st)
	}
}
