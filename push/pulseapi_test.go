// SPDX-License-Identifier: MIT

package push

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/hbmon/hb/obs"
)

// TestCronWrapperOneLiner runs docs/push.md's cron wrapper with a job that
// succeeds and one that exits 3, against the native pulse API (served
// here by the route's own handler, as the API server would).
func TestCronWrapperOneLiner(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (scripts/install-deps.sh installs it)")
	}
	p, s, _, reg := newTestPulses(t, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: p.Routes()[0].Handler}
	go srv.Serve(ln)
	defer srv.Shutdown()
	run := func(job string) {
		line := `curl -fsS -m 10 -X POST -H "$AUTH" "$HB/api/v1/pulse/backup/start"; ` + job +
			`; curl -fsS -m 10 -X POST -H "$AUTH" "$HB/api/v1/pulse/backup/$??schedule=0+3+*+*+*"`
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HB=http://" + ln.Addr().String(), "AUTH=Authorization: Bearer x"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", job, err, out)
		}
	}
	run("true")
	run("sh -c 'exit 3'")
	o := s.all()
	if len(reg.specs) != 1 || len(o) != 2 || o[0].o.Outcome != obs.OK || o[1].o.Outcome != obs.Error || o[1].o.Problem != "pulse reported exit code 3" {
		t.Fatalf("observations %+v", o)
	}
	l := p.List()
	if l[0].Schedule != "0 3 * * *" || l[0].Deadline == nil || l[0].Deadline.Hour() != 3 {
		t.Fatalf("%+v", l[0])
	}
	// Bad requests answer 4xx with a JSON error.
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/api/v1/pulse/backup?next_in=soon", "400"},
		{"POST", "/api/v1/pulse/backup/300", "404"},
		{"PUT", "/api/v1/pulse/backup", "405"},
		{"GET", "/api/v1/pulse/nope", "404"},
	} {
		out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", c.method, "http://"+ln.Addr().String()+c.path).Output()
		if strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, out, c.want)
		}
	}
}
