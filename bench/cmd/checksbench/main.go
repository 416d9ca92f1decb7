// SPDX-License-Identifier: MIT

// Command checksbench measures HTTP checks at scale: N HTTP checks at an
// interval against a local server, run by hb-probe's daemon and by
// blackbox_exporter driven by Prometheus (the multi-target pattern), each
// for the same window. It reports the checker's CPU and RSS (from /proc)
// and the latency error: the RTT each checker reports for a request minus
// the time the server itself spent on that request (handler entry to
// response written), matched per target by time; p50/p99 over targets.
// Everything runs on loopback (127.0.0.2-127.0.0.11). Prints a markdown
// section; bench/run.sh appends it to docs/benchmarks.md.
//
//	go run ./bench/cmd/checksbench -hb-probe bin/hb-probe -n 10000 -interval 30s -window 60s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hbmon/hb/bench"
)

var (
	n        = flag.Int("n", 10000, "HTTP checks")
	interval = flag.Duration("interval", 30*time.Second, "check interval")
	window   = flag.Duration("window", 60*time.Second, "measurement window (after one interval of warm-up)")
	delay    = flag.Duration("delay", time.Millisecond, "server time per request")
	hbBin    = flag.String("hb-probe", "bin/hb-probe", "hb-probe binary")
	only     = flag.String("only", "hb,blackbox", "which checkers")
	keep     = flag.Bool("keep", false, "keep the work directory (configs, logs)")
)

const servers = 10 // listen addresses 127.0.0.2 … 127.0.0.11 (spreads TIME_WAIT 4-tuples)

// record is one request as the server saw it.
type record struct{ start, end time.Time }

type server struct {
	mu   sync.Mutex
	last map[int][]record // per target: the last few requests
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/c/"))
	time.Sleep(*delay)
	w.Header().Set("Content-Length", "3")
	w.WriteHeader(200)
	io.WriteString(w, "OK\n")
	w.(http.Flusher).Flush()
	end := time.Now()
	s.mu.Lock()
	rs := append(s.last[id], record{start, end})
	if len(rs) > 4 {
		rs = rs[1:]
	}
	s.last[id] = rs
	s.mu.Unlock()
}

// serverTime is the server-side duration of target id's request nearest
// to at.
func (s *server) serverTime(id int, at time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, bestD := time.Duration(-1), time.Duration(math.MaxInt64)
	for _, r := range s.last[id] {
		d := r.start.Sub(at)
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = r.end.Sub(r.start), d
		}
	}
	return best, best >= 0 && bestD < 2*time.Second
}

func targetURL(i int) string {
	return fmt.Sprintf("http://127.0.0.%d:18080/c/%d", 2+i%servers, i)
}

type procSample struct {
	ticks uint64
	at    time.Time
}

func sample(pid int) procSample {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{at: time.Now()}
	}
	st, _ := bench.ParseProcStat(b)
	return procSample{st.UTime + st.STime, time.Now()}
}

func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	v, _ := bench.ParseStatusKB(f, "VmHWM")
	return v
}

func cpuPct(a, b procSample) float64 {
	return float64(b.ticks-a.ticks) / 100 / b.at.Sub(a.at).Seconds() * 100 // CLK_TCK = 100
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(math.Ceil(p*float64(len(xs))))-1)]
}

type row struct {
	name        string
	cpu         []float64 // per process
	procs       []string
	rss         []int64
	errs        []float64 // seconds
	matched, ok int
}

func start(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	lf, _ := os.Create(filepath.Join(dir, filepath.Base(name)+".log"))
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	return cmd
}

func stop(c *exec.Cmd) {
	c.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		c.Process.Kill()
		<-done
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func measure(pids []int) ([]float64, []int64) {
	time.Sleep(*interval) // warm-up: every check has run once
	a := make([]procSample, len(pids))
	for i, p := range pids {
		a[i] = sample(p)
	}
	time.Sleep(*window)
	cpu := make([]float64, len(pids))
	rs := make([]int64, len(pids))
	for i, p := range pids {
		cpu[i] = cpuPct(a[i], sample(p))
		rs[i] = rss(p)
	}
	return cpu, rs
}

func runHB(dir string, srv *server) row {
	var tf strings.Builder
	for i := range *n {
		fmt.Fprintf(&tf, "%s name=c%d\n", targetURL(i), i)
	}
	os.WriteFile(filepath.Join(dir, "targets"), []byte(tf.String()), 0o644)
	port := freePort()
	conc := 256 // the default
	cfg := fmt.Sprintf("targets = %q\nlog_level = \"warn\"\n[api]\nlisten = \"127.0.0.1:%d\"\n[store]\ndb = %q\n[checks]\ninterval = %q\ntimeout = \"5s\"\nconcurrency = %d\n",
		filepath.Join(dir, "targets"), port, filepath.Join(dir, "hb.db"), interval.String(), conc)
	os.WriteFile(filepath.Join(dir, "hb-probe.toml"), []byte(cfg), 0o644)
	c := start(dir, *hbBin, "--config", filepath.Join(dir, "hb-probe.toml"))
	defer stop(c)
	cpu, rs := measure([]int{c.Process.Pid})
	r := row{name: "hb-probe (checks source)", cpu: cpu, rss: rs, procs: []string{"hb-probe"}}
	// Per target: the last RTT hb reported, matched with the server's request.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/hosts?limit=10000", port))
	if err != nil {
		log.Fatal(err)
	}
	var hs struct {
		Hosts []struct {
			Name      string
			LastCheck *time.Time `json:"last_check"`
			RTT       struct {
				Last *float64 `json:"last_seconds"`
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&hs)
	resp.Body.Close()
	for _, h := range hs.Hosts {
		if h.RTT.Last == nil || h.LastCheck == nil {
			continue
		}
		r.ok++
		id, _ := strconv.Atoi(strings.TrimPrefix(h.Name, "c"))
		rtt := time.Duration(*h.RTT.Last * 1e9)
		// The result is decided after the body: its request started about
		// rtt + a little before LastCheck.
		if st, ok := srv.serverTime(id, h.LastCheck.Add(-rtt)); ok {
			r.matched++
			r.errs = append(r.errs, (rtt - st).Seconds())
		}
	}
	return r
}

func runBlackbox(dir string, srv *server) row {
	bb, err := exec.LookPath("prometheus-blackbox-exporter")
	if err != nil {
		return row{name: "blackbox_exporter: not installed"}
	}
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		return row{name: "blackbox_exporter: prometheus not installed"}
	}
	bbPort, promPort := freePort(), freePort()
	os.WriteFile(filepath.Join(dir, "blackbox.yml"), []byte("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n"), 0o644)
	var ts strings.Builder
	for i := range *n {
		fmt.Fprintf(&ts, "      - '%s'\n", targetURL(i))
	}
	pcfg := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
    - targets:
%s    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: '127.0.0.1:%d'
`, interval.String(), min(*interval, 10*time.Second).String(), ts.String(), bbPort)
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(pcfg), 0o644)
	b := start(dir, bb, "--config.file="+filepath.Join(dir, "blackbox.yml"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", bbPort), "--log.level=warn")
	defer stop(b)
	p := start(dir, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--log.level=warn")
	defer stop(p)
	cpu, rs := measure([]int{b.Process.Pid, p.Process.Pid})
	r := row{name: "blackbox_exporter + Prometheus", cpu: cpu, rss: rs, procs: []string{"blackbox_exporter", "prometheus"}}
	q := url.QueryEscape(`sum by (instance) (probe_http_duration_seconds{phase=~"connect|processing"})`)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", promPort, q))
	if err != nil {
		lg, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		log.Fatalf("%v\n%s", err, lg)
	}
	var res struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	// The sample is the last scrape's; its time is not in an instant
	// query's answer, so match the server's request nearest to the last
	// scrape via probe_success's timestamp.
	q2 := url.QueryEscape(`timestamp(probe_success)`)
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", promPort, q2))
	if err != nil {
		log.Fatal(err)
	}
	var tres struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&tres)
	resp.Body.Close()
	at := map[string]time.Time{}
	for _, s := range tres.Data.Result {
		f, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		at[s.Metric["instance"]] = time.Unix(0, int64(f*1e9))
	}
	for _, s := range res.Data.Result {
		inst := s.Metric["instance"]
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		r.ok++
		id, _ := strconv.Atoi(inst[strings.LastIndexByte(inst, '/')+1:])
		if st, ok := srv.serverTime(id, at[inst]); ok {
			r.matched++
			r.errs = append(r.errs, v-st.Seconds())
		}
	}
	return r
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "checksbench")
	if err != nil {
		log.Fatal(err)
	}
	if *keep {
		log.Printf("checksbench: work directory %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	srv := &server{last: map[int][]record{}}
	for i := range servers {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:18080", 2+i))
		if err != nil {
			log.Fatal(err)
		}
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Shutdown(context.Background())
	}
	var rows []row
	for _, which := range strings.Split(*only, ",") {
		log.Printf("checksbench: %s, %d checks every %v, window %v", which, *n, *interval, *window)
		switch which {
		case "hb":
			rows = append(rows, runHB(dir, srv))
		case "blackbox":
			rows = append(rows, runBlackbox(dir, srv))
		}
	}
	fmt.Printf("## HTTP checks: %d targets every %v\n\n", *n, *interval)
	fmt.Printf("`go run ./bench/cmd/checksbench -n %d -interval %v -window %v -delay %v` (as root, so hb-probe also opens its raw ICMP socket, unused here; %d CPUs, %s). "+
		"One local Go HTTP server on 127.0.0.2-11:18080 answers `OK` after %v; each checker runs alone for one interval of warm-up "+
		"and a %v window. CPU and peak RSS (VmHWM) of the checker's processes from /proc. *Latency error*: the RTT the checker "+
		"reports for a target's latest request (hb: connect start → first byte; blackbox: `connect`+`processing` phases) minus "+
		"the server's own time for that request (handler entry → response flushed), p50/p99 over targets.\n\n",
		*n, *interval, *window, *delay, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), *delay, *window)
	fmt.Println("| checker | CPU (% of one core) | peak RSS | targets with a result | latency error p50 | p99 |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		var cpu, rss []string
		for i := range r.cpu {
			cpu = append(cpu, fmt.Sprintf("%s %.1f", r.procs[i], r.cpu[i]))
			rss = append(rss, fmt.Sprintf("%s %.0f MiB", r.procs[i], float64(r.rss[i])/(1<<20)))
		}
		errs := slices.Clone(r.errs)
		fmt.Printf("| %s | %s | %s | %d (%d matched) | %.3f ms | %.3f ms |\n", r.name, strings.Join(cpu, ", "), strings.Join(rss, ", "),
			r.ok, r.matched, pct(errs, 0.5)*1e3, pct(r.errs, 0.99)*1e3)
	}
}
