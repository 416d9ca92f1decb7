// SPDX-License-Identifier: MIT

package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/store"
)

func testMessage(host string) *Message {
	v, th := 0.95, 0.9
	m := &Message{Time: time.Now().UTC(), Alerts: []Item{{
		ID: 42, Event: "firing", Status: "firing", Level: "CRITICAL", Host: host, Check: "icmp", Kind: "icmp",
		Rule: "cpu_busy_ratio", Metric: "cpu_busy_ratio", Value: &v, Threshold: &th, Op: ">",
		Text: host + " cpu_busy_ratio = 0.95 (> 0.9)", Labels: map[string]string{"role": "web", "bad-label": "x"},
		Since: time.Now().UTC(), StartsAt: time.Now().UTC(),
	}}}
	m.Finish(10)
	return m
}

// receiver is an HTTP server recording request bodies.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	paths  []string
	status int
	got    chan struct{}
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200, got: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.paths = append(r.paths, req.URL.RequestURI())
		st := r.status
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		w.Write([]byte(`{"id":1}`))
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(20 * time.Second):
			t.Fatalf("receiver got %d requests, want %d", len(r.bodies), n)
		}
	}
}

func (r *receiver) last() ([]byte, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[len(r.bodies)-1], r.paths[len(r.paths)-1]
}

func TestWebhookSchema(t *testing.T) {
	rc := newReceiver(t)
	w := &Webhook{URL: rc.srv.URL + "/hook", Headers: map[string]string{"X-Token": "t"}, Client: http.DefaultClient}
	if err := w.Send(context.Background(), testMessage("web1")); err != nil {
		t.Fatal(err)
	}
	body, path := rc.last()
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if path != "/hook" || m.Version != SchemaVersion || len(m.Alerts) != 1 || m.Alerts[0].Host != "web1" || *m.Alerts[0].Value != 0.95 || m.Counts.Critical != 1 {
		t.Errorf("webhook got %s %s", path, body)
	}
	rc.status = 500
	if err := w.Send(context.Background(), testMessage("web1")); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("500 answered: %v", err)
	}
}

// dbModes are the two ways the outbox's database is written: "own" (a
// file of its own, OpenDB) and "store" (the history database, through a
// real store's single writer, as the daemon does).
var dbModes = []string{"own", "store"}

// openModeDB opens path in mode; close closes the DB, then the store
// (which commits what was queued).
func openModeDB(path, mode string) (db *DB, close func(), err error) {
	if mode == "own" {
		if db, err = OpenDB(path); err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	st, err := store.Open(path, &store.Options{CommitInterval: 50 * time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	if db, err = OpenSharedDB(path, st); err != nil {
		st.Close()
		return nil, nil, err
	}
	return db, func() { db.Close(); st.Close() }, nil
}

func openTestOutbox(t *testing.T, path, mode string, chans map[string]*Spec) (*Outbox, func()) {
	t.Helper()
	db, closeDB, err := openModeDB(path, mode)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultAlerts().Outbox
	cfg.RetryMin = config.Duration(100 * time.Millisecond)
	cfg.RetryMax = config.Duration(200 * time.Millisecond)
	ob, err := NewOutbox(db, OutboxOptions{Config: cfg, Channels: chans})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	return ob, func() { cancel(); <-done; closeDB() }
}

// TestOutboxRetries: a failing receiver gets the message again with
// backoff until it accepts; failures are counted and visible.
func TestOutboxRetries(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) { testOutboxRetries(t, mode) })
	}
}

func testOutboxRetries(t *testing.T, mode string) {
	rc := newReceiver(t)
	rc.status = 503
	chans := map[string]*Spec{"hook": {Name: "hook", Type: "webhook", Timeout: 5 * time.Second, Channel: &Webhook{URL: rc.srv.URL, Client: http.DefaultClient}}}
	ob, stop := openTestOutbox(t, filepath.Join(t.TempDir(), "hb.db"), mode, chans)
	defer stop()
	if err := ob.Enqueue("hook", testMessage("web1")); err != nil {
		t.Fatal(err)
	}
	rc.wait(t, 2)
	var recs []Record
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for { // the failed attempt is recorded once the writer commits it
		recs, err = ob.List(context.Background(), "pending", 10)
		if err != nil || len(recs) == 1 && recs[0].Attempts >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || len(recs) != 1 || recs[0].Attempts < 1 || !strings.Contains(recs[0].LastError, "503") {
		t.Fatalf("pending %+v %v", recs, err)
	}
	rc.mu.Lock()
	rc.status = 200
	rc.mu.Unlock()
	rc.wait(t, 1)
	deadline = time.Now().Add(10 * time.Second)
	for {
		recs, _ = ob.List(context.Background(), "sent", 10)
		if len(recs) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(recs) != 1 {
		t.Fatalf("not marked sent")
	}
	st := ob.Stats()
	if len(st) != 1 || st[0].Sent != 1 || st[0].Failed < 2 {
		t.Errorf("stats %+v", st)
	}
	var sb strings.Builder
	ob.WriteMetrics(&sb)
	if !strings.Contains(sb.String(), `hb_notifications_sent_total{channel="hook"} 1`) {
		t.Errorf("metrics:\n%s", sb.String())
	}
	// Every attempt carried the same message id.
	var ids []string
	rc.mu.Lock()
	for _, b := range rc.bodies {
		var m Message
		json.Unmarshal(b, &m)
		ids = append(ids, m.ID)
	}
	rc.mu.Unlock()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Errorf("ids %v", ids)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 10: 10 * time.Minute} {
		if got := Backoff(5*time.Second, 10*time.Minute, n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestOutboxRateLimit: with rate_limit 1 a second message waits.
func TestOutboxRateLimit(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) { testOutboxRateLimit(t, mode) })
	}
}

func testOutboxRateLimit(t *testing.T, mode string) {
	rc := newReceiver(t)
	chans := map[string]*Spec{"hook": {Name: "hook", RateLimit: 1, Timeout: 5 * time.Second, Channel: &Webhook{URL: rc.srv.URL, Client: http.DefaultClient}}}
	ob, stop := openTestOutbox(t, filepath.Join(t.TempDir(), "hb.db"), mode, chans)
	defer stop()
	ob.Enqueue("hook", testMessage("a"))
	ob.Enqueue("hook", testMessage("b"))
	rc.wait(t, 1)
	time.Sleep(1500 * time.Millisecond)
	rc.mu.Lock()
	n := len(rc.bodies)
	rc.mu.Unlock()
	if n != 1 {
		t.Errorf("%d deliveries within the minute, want 1", n)
	}
	if st := ob.Stats(); st[0].Limited == 0 {
		t.Errorf("no rate-limited count: %+v", st)
	}
}

// TestOutboxCrash: the process delivering is killed (SIGKILL) while the
// receiver holds the request; after a restart the notification arrives.
func TestOutboxCrash(t *testing.T) {
	if os.Getenv("HB_OUTBOX_CHILD") != "" {
		outboxChild()
		return
	}
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) { testOutboxCrash(t, mode) })
	}
}

func testOutboxCrash(t *testing.T, mode string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hb.db")
	hold := make(chan struct{})
	var mu sync.Mutex
	var got []string
	arrived := make(chan string, 10)
	block := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m Message
		json.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, m.ID+" "+m.Alerts[0].Host)
		bl := block
		mu.Unlock()
		arrived <- m.ID
		if bl {
			<-hold // the child is killed while we hold its request
			return
		}
	}))
	defer srv.Close()
	defer close(hold)

	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxCrash$")
	cmd.Env = append(os.Environ(), "HB_OUTBOX_CHILD=1", "HB_OUTBOX_DB="+path, "HB_OUTBOX_MODE="+mode, "HB_OUTBOX_URL="+srv.URL)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	select {
	case id = <-arrived:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child never delivered")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL mid-delivery
		t.Fatal(err)
	}
	cmd.Wait()
	mu.Lock()
	block = false
	mu.Unlock()

	chans := map[string]*Spec{"hook": {Name: "hook", Timeout: 5 * time.Second, Channel: &Webhook{URL: srv.URL, Client: http.DefaultClient}}}
	ob, stop := openTestOutbox(t, path, mode, chans)
	defer stop()
	select {
	case id2 := <-arrived:
		if id2 != id {
			t.Errorf("after restart message %s arrived, want %s", id2, id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the notification did not arrive after the restart")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if recs, _ := ob.List(context.Background(), "sent", 10); len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not marked sent after restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != got[1] || !strings.HasSuffix(got[0], " crash1") {
		t.Errorf("deliveries %q", got)
	}
}

// outboxChild queues one message and delivers until killed.
func outboxChild() {
	db, _, err := openModeDB(os.Getenv("HB_OUTBOX_DB"), os.Getenv("HB_OUTBOX_MODE"))
	if err != nil {
		panic(err)
	}
	chans := map[string]*Spec{"hook": {Name: "hook", Timeout: time.Minute, Channel: &Webhook{URL: os.Getenv("HB_OUTBOX_URL"), Client: &http.Client{}}}}
	ob, err := NewOutbox(db, OutboxOptions{Config: config.DefaultAlerts().Outbox, Channels: chans})
	if err != nil {
		panic(err)
	}
	if err := ob.Enqueue("hook", testMessage("crash1")); err != nil {
		panic(err)
	}
	ob.Run(context.Background())
}

// TestExec: the hook gets the JSON on stdin and its arguments; a failing
// hook's stderr is in the error; a hung hook is killed at the timeout.
func TestExec(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncat > \"$1\"\necho \"$HB_CHANNEL\" > \"$1.chan\"\n[ \"$2\" = fail ] && { echo boom >&2; exit 3; }\n[ \"$2\" = hang ] && sleep 30\nexit 0\n"), 0o755)
	out := filepath.Join(dir, "out.json")
	e := &Exec{Path: script, Args: []string{out}, Timeout: 5 * time.Second}
	m := testMessage("web1")
	m.Channel = "hookch"
	if err := e.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	var got Message
	if err := json.Unmarshal(b, &got); err != nil || got.Alerts[0].Host != "web1" {
		t.Errorf("stdin %s %v", b, err)
	}
	if c, _ := os.ReadFile(out + ".chan"); strings.TrimSpace(string(c)) != "hookch" {
		t.Errorf("HB_CHANNEL %q", c)
	}
	e.Args = []string{out, "fail"}
	if err := e.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing hook: %v", err)
	}
	e.Args, e.Timeout = []string{out, "hang"}, 300*time.Millisecond
	if err := e.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("hung hook: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestAlertmanager: a real Alertmanager (Debian prometheus-alertmanager)
// receives the alert and lists it in its own API; a resolved one ends.
func TestAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if bin, err = exec.LookPath("alertmanager"); err != nil {
			t.Skip("prometheus-alertmanager not installed (scripts/install-deps.sh installs it)")
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "am.yml")
	os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o644)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.path="+dir, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	am := &Alertmanager{URL: base, Client: http.DefaultClient}
	if err := am.Send(ctx, testMessage("web1")); err != nil {
		t.Fatal(err)
	}
	type amOut struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Status      struct {
			State string `json:"state"`
		} `json:"status"`
	}
	var alerts []amOut
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(base + "/api/v2/alerts")
		if err != nil {
			t.Fatal(err)
		}
		alerts = nil
		json.NewDecoder(resp.Body).Decode(&alerts)
		resp.Body.Close()
		if len(alerts) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(alerts) != 1 {
		t.Fatalf("alertmanager lists %d alerts", len(alerts))
	}
	a := alerts[0]
	if a.Labels["alertname"] != "cpu_busy_ratio" || a.Labels["host"] != "web1" || a.Labels["severity"] != "critical" || a.Labels["role"] != "web" ||
		a.Status.State != "active" || !strings.Contains(a.Annotations["summary"], "0.95") {
		t.Errorf("alertmanager shows %+v", a)
	}
	if _, bad := a.Labels["bad-label"]; bad {
		t.Error("an invalid label name was sent")
	}
	// Resolve: endsAt now; the active list empties.
	m := testMessage("web1")
	m.Alerts[0].Status, m.Alerts[0].Event, m.Alerts[0].Prev, m.Alerts[0].Level = "resolved", "resolved", "CRITICAL", "OK"
	if err := am.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(base + "/api/v2/alerts?active=true")
		if err != nil {
			t.Fatal(err)
		}
		alerts = nil
		json.NewDecoder(resp.Body).Decode(&alerts)
		resp.Body.Close()
		if len(alerts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still active after resolve: %+v", alerts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestShoutrrrSMTP: shoutrrr's smtp service delivers to a real SMTP server
// (Debian python3-aiosmtpd) on loopback.
func TestShoutrrrSMTP(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("python3-aiosmtpd not installed (scripts/install-deps.sh installs it)")
	}
	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, py, "-m", "aiosmtpd", "-n", "-l", fmt.Sprintf("127.0.0.1:%d", port), "-c", "aiosmtpd.handlers.Mailbox", maildir)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp server not up: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	url := fmt.Sprintf("smtp://127.0.0.1:%d/?from=hb@example.test&to=ops@example.test&auth=None&encryption=None&usestarttls=No", port)
	sh, err := NewShoutrrr(url, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Send(context.Background(), testMessage("mailhost")); err != nil {
		t.Fatal(err)
	}
	var mail []byte
	for deadline := time.Now().Add(10 * time.Second); mail == nil; {
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		if len(files) > 0 {
			mail, _ = os.ReadFile(files[0])
		} else if time.Now().After(deadline) {
			t.Fatalf("no mail arrived: %s", logs.String())
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	s := string(mail)
	if !strings.Contains(s, "ops@example.test") || !strings.Contains(s, "mailhost cpu_busy_ratio") || !strings.Contains(s, "Subject: [CRITICAL]") {
		t.Errorf("mail:\n%s", s)
	}
}

// TestShoutrrrHTTPServices: services that allow a custom host post to a
// local server: generic webhook, ntfy, gotify, mattermost, signal (the
// signal-cli REST API).
func TestShoutrrrHTTPServices(t *testing.T) {
	rc := newReceiver(t)
	hostport := strings.TrimPrefix(rc.srv.URL, "http://")
	cases := []struct {
		url, path, want string
	}{
		{"generic://" + hostport + "/gen?disabletls=yes", "/gen", "mailhost cpu_busy_ratio"},
		{"ntfy://" + hostport + "/alerts?scheme=http", "/alerts", "mailhost cpu_busy_ratio"},
		{"gotify://" + hostport + "/Aaaaaaaaaaaaaaa?disabletls=yes", "/message", "mailhost cpu_busy_ratio"},
		{"mattermost://" + hostport + "/mmtoken/ops?disabletls=yes", "/hooks/mmtoken", "mailhost cpu_busy_ratio"},
		{"signal://" + hostport + "/+15145550100/+15145550101?disabletls=yes", "/v2/send", "mailhost cpu_busy_ratio"}, // a signal-cli REST server's API
	}
	for _, c := range cases {
		sh, err := NewShoutrrr(c.url, 5*time.Second)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if err := sh.Send(context.Background(), testMessage("mailhost")); err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		<-rc.got
		body, path := rc.last()
		if !strings.HasPrefix(path, c.path) || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: server got %s %s", c.url, path, body)
		}
	}
	if _, err := NewShoutrrr("nosuch://x", time.Second); err == nil {
		t.Error("unknown service accepted")
	}
}

// TestOutboxRetriesAcrossRestart: a message whose delivery failed is
// still pending after a clean restart, with its attempts, and the next
// daemon delivers it with the same id (both modes).
func TestOutboxRetriesAcrossRestart(t *testing.T) {
	for _, mode := range dbModes {
		t.Run(mode, func(t *testing.T) {
			rc := newReceiver(t)
			rc.status = 503
			path := filepath.Join(t.TempDir(), "hb.db")
			chans := map[string]*Spec{"hook": {Name: "hook", Timeout: 5 * time.Second, Channel: &Webhook{URL: rc.srv.URL, Client: http.DefaultClient}}}
			ob, stop := openTestOutbox(t, path, mode, chans)
			if err := ob.Enqueue("hook", testMessage("web1")); err != nil {
				t.Fatal(err)
			}
			rc.wait(t, 1)
			deadline := time.Now().Add(10 * time.Second)
			for { // the failed attempt is recorded
				recs, _ := ob.List(context.Background(), "pending", 10)
				if len(recs) == 1 && recs[0].Attempts == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("failed attempt not recorded: %+v", recs)
				}
				time.Sleep(5 * time.Millisecond)
			}
			stop()

			rc.mu.Lock()
			rc.status = 200
			rc.mu.Unlock()
			ob, stop = openTestOutbox(t, path, mode, chans)
			defer stop()
			deadline = time.Now().Add(10 * time.Second)
			var recs []Record
			for {
				recs, _ = ob.List(context.Background(), "sent", 10)
				if len(recs) == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(recs) != 1 || recs[0].Attempts < 2 {
				t.Fatalf("after the restart: %+v, want one message sent on attempt 2 or later", recs)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			var first, last Message
			json.Unmarshal(rc.bodies[0], &first)
			json.Unmarshal(rc.bodies[len(rc.bodies)-1], &last)
			if first.ID == "" || first.ID != last.ID {
				t.Errorf("ids %q then %q", first.ID, last.ID)
			}
		})
	}
}

// TestSharedOutboxCannotWriteOnItsOwn: in the history database the
// outbox's connection is read-only; its writes go through the store.
func TestSharedOutboxCannotWriteOnItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	db, closeDB, err := openModeDB(path, "store")
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if !db.Shared {
		t.Fatal("not shared")
	}
	ob, err := NewOutbox(db, OutboxOptions{Config: config.DefaultAlerts().Outbox})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Conn.Exec(`INSERT INTO notify_outbox(channel, created_ns, next_ns, body) VALUES('c', 1, 1, '{}')`); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("insert on the outbox's own connection: %v, want a read-only error", err)
	}
	if err := ob.Enqueue("c", testMessage("web1")); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.Pending(context.Background()); err != nil || n != 1 {
		t.Fatalf("pending %d %v, want 1 (committed when Enqueue returned)", n, err)
	}
}
