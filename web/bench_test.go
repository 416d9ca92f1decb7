// SPDX-License-Identifier: MIT

package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard's benchmarks at 100k simulated hosts (docs/benchmarks.md):
//
//	go test ./web -run '^$' -bench . -benchtime 5x -timeout 20m

const benchHosts = 100_000

// BenchmarkPaint100k: time from navigation start to the overview's table
// (and to the host page's three charts) in headless Chromium, logged in as
// the admin, 100k hosts. ms/op figures come from the page's own
// performance marks; first-contentful-paint from the browser.
func BenchmarkPaint100k(b *testing.B) {
	d := startDaemon(b, benchHosts, true)
	d.fillFleet(b, benchHosts)
	ctx := browser(b)
	if err := chromedp.Do(ctx, login(d.url, "ada", adaPW)); err != nil {
		b.Fatal(err)
	}
	for _, pg := range []struct{ name, url, mark string }{
		{"overview", "/ui/", "hb-overview"},
		{"overview-filtered", "/ui/?state=down&label=site%3Ddc1&q=h0", "hb-overview"},
		{"host", "/ui/host?name=h000001", "hb-host"},
	} {
		b.Run(pg.name, func(b *testing.B) {
			var mark, fcp float64
			for i := 0; i < b.N; i++ {
				if err := chromedp.Do(ctx, chromedp.Navigate(d.url+pg.url)); err != nil {
					b.Fatal(err)
				}
				if err := waitJS(ctx, `performance.getEntriesByName("`+pg.mark+`").length > 0`, 30*time.Second); err != nil {
					b.Fatal(err)
				}
				m, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByName("`+pg.mark+`")[0].startTime`))
				if err != nil {
					b.Fatal(err)
				}
				f, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: 0}).startTime`))
				mark += m
				fcp += f
			}
			b.ReportMetric(mark/float64(b.N), "meaningful-ms")
			b.ReportMetric(fcp/float64(b.N), "fcp-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// churn flips hosts between down and up at rate changes per second until
// ctx ends (each change is two timeouts or one success).
func (d *daemon) churn(ctx context.Context, rate int) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	per := rate / 10
	down := false
	next := 2
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		for k := 0; k < per; k++ {
			h := name(next)
			if down {
				d.observe(h, false, 0, now)
				d.observe(h, false, 0, now.Add(time.Microsecond))
			} else {
				d.observe(h, true, 500*time.Microsecond, now)
			}
			if next++; next > 1+per*10 {
				next, down = 2, !down
			}
		}
	}
}

// BenchmarkStream20Clients: the daemon's CPU (process user+system time per
// wall second) with 100k hosts and 1,000 state changes a second, without
// stream clients and with 20 (curl processes, so the clients' own CPU is
// not counted), and the bytes each client received per second.
func BenchmarkStream20Clients(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("needs curl")
	}
	d := startDaemon(b, benchHosts, false)
	d.fillFleet(b, benchHosts)
	const window = 10 * time.Second
	measure := func(clients int) (cpu float64, bytesPerSec float64) {
		ctx, cancel := context.WithCancel(context.Background())
		var counts []*countingCmd
		for i := 0; i < clients; i++ {
			c := startCurl(b, d.url+"/ui/api/stream", adaToken)
			counts = append(counts, c)
		}
		time.Sleep(time.Second)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); d.churn(ctx, 1000) }()
		time.Sleep(time.Second)
		var before int64
		for _, c := range counts {
			before += c.n.Load()
		}
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		c1, t1 := cpuTime(), time.Now()
		var after int64
		for _, c := range counts {
			after += c.n.Load()
		}
		cancel()
		wg.Wait()
		for _, c := range counts {
			c.stop()
		}
		cpu = float64(c1-c0) / float64(t1.Sub(t0))
		if clients > 0 {
			bytesPerSec = float64(after-before) / t1.Sub(t0).Seconds() / float64(clients)
		}
		return
	}
	for i := 0; i < b.N; i++ {
		base, _ := measure(0)
		with, bps := measure(20)
		b.ReportMetric(100*base, "cpu%-0-clients")
		b.ReportMetric(100*with, "cpu%-20-clients")
		b.ReportMetric(bps, "B/s-per-client")
	}
	b.ReportMetric(0, "ns/op")
}

// countingCmd is a curl process whose output is counted.
type countingCmd struct {
	cmd *exec.Cmd
	n   atomic.Int64
}

func startCurl(b *testing.B, url, token string) *countingCmd {
	c := &countingCmd{cmd: exec.Command("curl", "-sN", "-H", "Authorization: Bearer "+token, url)}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := out.Read(buf)
			c.n.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *countingCmd) stop() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// BenchmarkOutage4096: 4,096 of 100k hosts go down at once; one stream
// client counts the bytes until it has seen all of them down, and how
// long that took.
func BenchmarkOutage4096(b *testing.B) {
	d := startDaemon(b, benchHosts, false)
	d.fillFleet(b, benchHosts)
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", d.url+"/ui/api/stream", nil)
		req.Header.Set("Authorization", "Bearer "+adaToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		r.ReadString('\n') // retry:
		// Hosts 4n+2 (never down in fillFleet's mix at these numbers? some
		// are): take 4,096 up hosts.
		var victims []string
		for h := 2; len(victims) < 4096; h++ {
			if h%50 != 7 && h%100 != 3 && h%200 != 11 {
				victims = append(victims, name(h))
			}
		}
		seen := map[string]bool{}
		var bytes int64
		t0 := time.Now()
		now := time.Now()
		for _, v := range victims {
			d.observe(v, false, 0, now)
			d.observe(v, false, 0, now.Add(time.Microsecond))
		}
		for len(seen) < len(victims) {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatalf("stream: %v after %d", err, len(seen))
			}
			bytes += int64(len(line))
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				for _, part := range strings.Split(data, `"host":"`)[1:] {
					h := part[:strings.IndexByte(part, '"')]
					if strings.Contains(part, `"host_state":"down"`) {
						seen[h] = true
					}
				}
			}
		}
		el := time.Since(t0)
		resp.Body.Close()
		b.ReportMetric(float64(bytes), "bytes")
		b.ReportMetric(float64(bytes)/float64(len(victims)), "B/host")
		b.ReportMetric(el.Seconds()*1000, "ms-to-all")
		b.ReportMetric(float64(bytes)/el.Seconds(), "B/s")
		// Bring them back for the next round.
		for _, v := range victims {
			d.observe(v, true, time.Millisecond, time.Now())
		}
		d.settle(b)
		time.Sleep(500 * time.Millisecond)
	}
	b.ReportMetric(0, "ns/op")
	_ = fmt.Sprint
}
