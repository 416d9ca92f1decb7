// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/obs"
)

// wtScript is a watchtower client as users write them: curl with the
// password header. Each call prints NAME, the HTTP status and the body.
const wtScript = `#!/bin/sh
set -eu
U="$1"
call() { name=$1; shift; printf '%s\t' "$name"; curl -sS -o /tmp/wt.$$ -w '%{http_code}' "$@"; printf '\t'; tr -d '\n' < /tmp/wt.$$; echo; }
P='password: s3cret'
J='Content-Type: application/json'
call nopass   -X POST "$U/" -H "$J" -d '{"service":"backup","alertType":"email","alertTarget":"ops@example.com","nextIn":60}'
call wrong    -X POST "$U/" -H "password: nope" -H "$J" -d '{"service":"backup","nextIn":60}'
call pulse    -X POST "$U/" -H "$P" -H "$J" -d '{"service":"backup","alertType":"email","alertTarget":"ops@example.com","nextIn":60}'
call pulse2   -X POST "$U/" -H "$P" -H "$J" -d '{"service":"etl","nextIn":"2m"}'
call list     "$U/" -H "$P"
call ev1      -X POST "$U/add-event" -H "$P" -H "$J" -d '{"service":"backup","level":"info","message":"backup started"}'
sleep 0.05
call ev2      -X POST "$U/add-event" -H "$P" -H "$J" -d '{"service":"backup","level":"error","message":"backup failed: disk full"}'
sleep 0.05
call ev3      -X POST "$U/add-event" -H "$P" -H "$J" -d '{"service":"etl","level":"warning","message":"etl slow"}'
call all      "$U/list-events" -H "$P"
call service  -G "$U/list-events" -H "$P" --data-urlencode service=backup
call level    -G "$U/list-events" -H "$P" --data-urlencode level=warning
call message  -G "$U/list-events" -H "$P" --data-urlencode message=disk
call from     -G "$U/list-events" -H "$P" --data-urlencode "from=$2"
call to       -G "$U/list-events" -H "$P" --data-urlencode "to=$2"
call badlevel -G "$U/list-events" -H "$P" --data-urlencode level=loud
call cancel   -X DELETE "$U/" -H "$P" -H "$J" -d '{"service":"backup"}'
call list2    "$U/" -H "$P"
rm -f /tmp/wt.$$
`

func TestWatchtowerWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (scripts/install-deps.sh installs it)")
	}
	dir := t.TempDir()
	p, s, _, _ := newTestPulses(t, false)
	p.now = time.Now
	l, err := OpenEventLog(filepath.Join(dir, "hb.db"), 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w := NewWatchtower(p, l, "s3cret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	script := filepath.Join(dir, "wt.sh")
	os.WriteFile(script, []byte(wtScript), 0o755)
	// The "from"/"to" split point: between ev1 and ev2 is hard to hit from
	// the outside, so split at a time before all events (from: all; to: none).
	split := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(10 * time.Millisecond)
	out, err := exec.Command(script, "http://"+ln.Addr().String(), split).CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	res := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("line %q", line)
		}
		res[f[0]] = [2]string{f[1], f[2]}
	}
	code := func(name, want string) {
		if res[name][0] != want {
			t.Errorf("%s: HTTP %s, want %s (%s)", name, res[name][0], want, res[name][1])
		}
	}
	events := func(name string) []string {
		var evs []wtEvent
		if err := json.Unmarshal([]byte(res[name][1]), &evs); err != nil {
			t.Fatalf("%s: %v: %s", name, err, res[name][1])
		}
		var m []string
		for _, e := range evs {
			m = append(m, e.Service+"/"+e.Level+"/"+e.Message)
		}
		return m
	}
	code("nopass", "401")
	code("wrong", "401")
	code("pulse", "200")
	code("pulse2", "200")
	code("list", "200")
	var list []PulseInfo
	json.Unmarshal([]byte(res["list"][1]), &list)
	if len(list) != 2 || list[0].Name != "backup" || list[0].AlertTarget != "ops@example.com" || list[0].Deadline == nil || list[1].Name != "etl" {
		t.Fatalf("list: %s", res["list"][1])
	}
	if d := list[1].Deadline.Sub(*list[1].LastPulse); d != 2*time.Minute {
		t.Errorf("etl nextIn \"2m\" gave a deadline %v after the pulse", d)
	}
	for name, want := range map[string]string{
		"all":     "etl/warning/etl slow,backup/error/backup failed: disk full,backup/info/backup started",
		"service": "backup/error/backup failed: disk full,backup/info/backup started",
		"level":   "etl/warning/etl slow,backup/error/backup failed: disk full",
		"message": "backup/error/backup failed: disk full",
		"from":    "etl/warning/etl slow,backup/error/backup failed: disk full,backup/info/backup started",
		"to":      "",
	} {
		code(name, "200")
		if got := strings.Join(events(name), ","); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// from (strictly after) and to (strictly before) at ev1's and ev2's own times.
	var all []wtEvent
	json.Unmarshal([]byte(res["all"][1]), &all)
	query := func(arg string) string {
		out, err := exec.Command(curl, "-sS", "-G", "http://"+ln.Addr().String()+"/list-events", "-H", "password: s3cret", "--data-urlencode", arg).Output()
		if err != nil {
			t.Fatal(err)
		}
		var evs []wtEvent
		json.Unmarshal(out, &evs)
		var m []string
		for _, e := range evs {
			m = append(m, e.Message)
		}
		return strings.Join(m, ",")
	}
	if got := query("from=" + all[2].Time); got != "etl slow,backup failed: disk full" {
		t.Errorf("from ev1: %q", got)
	}
	if got := query("to=" + all[1].Time); got != "backup started" {
		t.Errorf("to ev2: %q", got)
	}
	code("badlevel", "400")
	code("cancel", "200")
	json.Unmarshal([]byte(res["list2"][1]), &list)
	if list[0].Status != "cancelled" || list[0].Deadline != nil {
		t.Fatalf("after cancel: %+v", list[0])
	}
	// The pulses reached the source's sink: two OK pulses and the cancel.
	var oks int
	for _, g := range s.all() {
		if g.o.Outcome == obs.OK {
			oks++
		}
	}
	if oks != 3 {
		t.Fatalf("observations: %+v", s.all())
	}
}
