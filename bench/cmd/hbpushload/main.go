// SPDX-License-Identifier: MIT

//go:build linux

// Command hbpushload measures hb-probe's push receiver under a simulated
// fleet: N hosts each pushing a real, keyed HBP1 heartbeat every interval
// (health blob, per-core CPU, mounts, an interface, swap, process count,
// about 460 bytes), from a load generator in one network namespace to
// hb-probe in another (veth, 198.18.0.0/15). It reports hb-probe's CPU and
// RSS over the measured window, the ACK loss, and how many hosts the
// table holds up at the end. Needs root (namespaces).
//
//	go build -o /tmp/hb-probe ./cmd/hb-probe
//	go run ./bench/cmd/hbpushload -hb-probe /tmp/hb-probe -hosts 100000 -interval 10s -warmup 40s -measure 60s
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hbmon/hb/bench"
	"github.com/hbmon/hb/wire"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gen" {
		os.Exit(gen(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

type genResult struct {
	Sent, Acks, SendErrors uint64
	Seconds                float64
}

// run sets up the namespaces, hb-probe and the generator, and prints the
// figures as a markdown table row.
func run(args []string) int {
	fs := flag.NewFlagSet("hbpushload", flag.ExitOnError)
	probe := fs.String("hb-probe", "", "hb-probe binary (required)")
	hosts := fs.Int("hosts", 100000, "simulated pushing hosts")
	interval := fs.Duration("interval", 10*time.Second, "heartbeat interval per host")
	warmup := fs.Duration("warmup", 40*time.Second, "pushing before the measured window")
	measure := fs.Duration("measure", 60*time.Second, "measured window")
	seal := fs.Bool("seal", false, "seal the heartbeats (XChaCha20-Poly1305) instead of HMAC")
	verbose := fs.Bool("v", false, "print hb-probe's log (stderr) at the end")
	fs.Parse(args)
	if *probe == "" {
		fmt.Fprintln(os.Stderr, "hbpushload: -hb-probe is required")
		return 2
	}
	dir, err := os.MkdirTemp("", "hbpushload")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	nsP, nsG := fmt.Sprintf("hbpl%d-p", os.Getpid()), fmt.Sprintf("hbpl%d-g", os.Getpid())
	sh := func(args ...string) error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	defer sh("ip", "netns", "del", nsP)
	defer sh("ip", "netns", "del", nsG)
	for _, c := range [][]string{
		{"ip", "netns", "add", nsP}, {"ip", "netns", "add", nsG},
		{"ip", "-n", nsP, "link", "set", "lo", "up"}, {"ip", "-n", nsG, "link", "set", "lo", "up"},
		{"ip", "-n", nsP, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", nsG},
		{"ip", "-n", nsP, "addr", "add", "198.18.0.1/24", "dev", "veth0"},
		{"ip", "-n", nsG, "addr", "add", "198.18.0.2/24", "dev", "veth1"},
		{"ip", "-n", nsP, "link", "set", "veth0", "up"}, {"ip", "-n", nsG, "link", "set", "veth1", "up"},
	} {
		if err := sh(c...); err != nil {
			fmt.Fprintln(os.Stderr, "hbpushload:", err)
			return 1
		}
	}
	master := make([]byte, wire.KeyLen)
	rand.Read(master)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(hex.EncodeToString(master)), 0o600)
	var tb bytes.Buffer
	for i := range *hosts {
		fmt.Fprintf(&tb, "heartbeat://h%06d interval=%s grace=20s\n", i, *interval)
	}
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, tb.Bytes(), 0o644)
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("targets = %q\nkey_file = %q\nmax_targets = %d\nlog_level = \"warn\"\n[store]\ndb = %q\n[api]\nlisten = \"127.0.0.1:8787\"\n[push]\nenabled = true\nlisten = \"198.18.0.1:50003\"\nbatch = 64\nmax_hosts = 0\n",
		targets, keyFile, *hosts+10, filepath.Join(dir, "hb.db"))), 0o644)
	var plog bytes.Buffer
	p := exec.Command("ip", "netns", "exec", nsP, *probe, "--config", cfg)
	p.Stdout, p.Stderr = &plog, &plog
	p.Env = append(os.Environ(), "HB_CONFIG=")
	if err := p.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { p.Process.Kill(); p.Wait() }()
	pid := p.Process.Pid // ip netns exec execs the binary: same pid
	api := func(path string) ([]byte, error) {
		return exec.Command("ip", "netns", "exec", nsP, "curl", "-sf", "-m", "30", "http://127.0.0.1:8787"+path).Output()
	}
	for i := 0; ; i++ {
		if _, err := api("/healthz"); err == nil {
			break
		}
		if i > 600 {
			fmt.Fprintf(os.Stderr, "hbpushload: hb-probe did not come up:\n%s", plog.String())
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	self, _ := os.Executable()
	total := *warmup + *measure
	g := exec.Command("ip", "netns", "exec", nsG, self, "gen", "-addr", "198.18.0.1:50003", "-key", keyFile,
		"-hosts", strconv.Itoa(*hosts), "-interval", interval.String(), "-warmup", warmup.String(), "-duration", total.String(),
		"-seal="+strconv.FormatBool(*seal))
	var gout bytes.Buffer
	g.Stdout, g.Stderr = &gout, os.Stderr
	if err := g.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(*warmup)
	s0, _ := readStat(pid)
	t0 := time.Now()
	time.Sleep(*measure)
	s1, _ := readStat(pid)
	el := time.Since(t0).Seconds()
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	rss, _ := bench.ParseStatusKB(bytes.NewReader(status), "VmRSS")
	if err := g.Wait(); err != nil {
		fmt.Fprintf(os.Stderr, "hbpushload: generator: %v\n%s", err, gout.String())
		return 1
	}
	var gr genResult
	if err := json.Unmarshal(gout.Bytes(), &gr); err != nil {
		fmt.Fprintf(os.Stderr, "hbpushload: generator output %q: %v\n", gout.String(), err)
		return 1
	}
	var received float64
	if m, err := api("/metrics"); err == nil {
		for _, l := range strings.Split(string(m), "\n") {
			if v, ok := strings.CutPrefix(l, "hb_push_datagrams_total "); ok {
				received, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	// Where lost datagrams went: the receive queue of hb-probe's socket
	// (Udp RcvbufErrors in its namespace) or before it.
	var rcvbuf float64
	if snmp, err := exec.Command("ip", "netns", "exec", nsP, "cat", "/proc/net/snmp").Output(); err == nil {
		var names []string
		for _, l := range strings.Split(string(snmp), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] != "Udp:" {
				continue
			}
			if names == nil {
				names = f
				continue
			}
			for i := range f {
				if i < len(names) && names[i] == "RcvbufErrors" {
					rcvbuf, _ = strconv.ParseFloat(f[i], 64)
				}
			}
		}
	}
	if *verbose {
		fmt.Fprintf(os.Stderr, "sent %d, received by hb-probe %.0f, UDP RcvbufErrors %.0f\n", gr.Sent, received, rcvbuf)
	}
	up := 0
	if st, err := api("/state"); err == nil {
		var m map[string]string
		json.Unmarshal(st, &m)
		for _, v := range m {
			if v == "up" {
				up++
			}
		}
	}
	if *verbose {
		os.Stderr.Write(plog.Bytes())
	}
	cpu := float64((s1.UTime+s1.STime)-(s0.UTime+s0.STime)) / 100 / el * 100
	loss := 1 - float64(gr.Acks)/float64(max(gr.Sent, 1))
	mode := "HMAC"
	if *seal {
		mode = "sealed"
	}
	fmt.Printf("| %d | %s | %s | %.0f | %.1f%% | %.0f MiB | %.4f%% (%.4f%%) | %.4f%% | %d / %d |\n",
		*hosts, *interval, mode, float64(gr.Sent)/gr.Seconds, cpu, float64(rss)/(1<<20),
		(1-received/float64(max(gr.Sent, 1)))*100, rcvbuf/float64(max(gr.Sent, 1))*100, loss*100, up, *hosts)
	return 0
}

func readStat(pid int) (bench.ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return bench.ProcStat{}, err
	}
	return bench.ParseProcStat(b)
}

// gen pushes heartbeats for -hosts hosts, spread evenly over -interval,
// for -duration, counting ACKs, and prints a genResult as JSON. Hosts
// use one socket; each has its own boot id and sequence.
func gen(args []string) int {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	addr := fs.String("addr", "", "receiver")
	keyFile := fs.String("key", "", "key file")
	hosts := fs.Int("hosts", 1000, "hosts")
	interval := fs.Duration("interval", 10*time.Second, "interval")
	duration := fs.Duration("duration", time.Minute, "how long")
	fs.Duration("warmup", 0, "(informational)")
	seal := fs.Bool("seal", false, "seal")
	fs.Parse(args)
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	secret, err := wire.ParseSecret(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	key, _ := wire.NewPushKey(1, secret)
	c, err := net.Dial("udp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	uc := c.(*net.UDPConn)
	uc.SetWriteBuffer(8 << 20)
	if rc, err := uc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) })
	}
	var acks atomic.Uint64
	go func() {
		buf := make([]byte, 128)
		for {
			n, err := uc.Read(buf)
			if err != nil {
				if errors := err.Error(); strings.Contains(errors, "closed") {
					return
				}
				continue
			}
			if n == wire.AckLen {
				acks.Add(1)
			}
		}
	}()
	// Per host: a name, a boot id, a sequence; the body is rebuilt per
	// heartbeat like a real sender's (fresh numbers, new encoding).
	boots := make([]wire.BootID, *hosts)
	seqs := make([]uint64, *hosts)
	for i := range boots {
		rand.Read(boots[i][:])
	}
	blob := make([]byte, wire.BlobSize)
	body := make([]byte, 0, wire.PushMaxBody)
	out := make([]byte, 0, wire.PushMaxLen)
	var h wire.Health
	h.NumCPU, h.MemTotal, h.MemAvailable = 4, 8<<30, 4<<30
	var sent, sendErr uint64
	start := time.Now()
	const tick = 10 * time.Millisecond
	perTick := float64(*hosts) * float64(tick) / float64(*interval)
	next, due := 0, 0.0
	tk := time.NewTicker(tick)
	defer tk.Stop()
	w := bufio.NewWriter(os.Stdout)
	for now := range tk.C {
		if now.Sub(start) >= *duration {
			break
		}
		due += perTick
		for ; due >= 1; due-- {
			i := next
			next = (next + 1) % *hosts
			seqs[i]++
			name := "h" + fmt.Sprintf("%06d", i)
			h.Generation, h.CollectedAt, h.CPUBusy = seqs[i], now.UnixNano(), uint16(seqs[i]%1000)
			h.SetHostname(name)
			wire.EncodeBlob(blob, &h, nil)
			body = wire.AppendHost(body[:0], name)
			body = wire.AppendSection(body, wire.SecHealth, blob)
			body = wire.AppendCPU(body, []uint16{100, 200, 300, uint16(seqs[i] % 1000)})
			body = wire.AppendMount(body, 100<<30, 40<<30, "/")
			body = wire.AppendMount(body, 1<<40, 1<<39, "/srv")
			body = wire.AppendIface(body, wire.Iface{RxBytes: seqs[i] << 20, TxBytes: seqs[i] << 19, RxRate: 125000, TxRate: 64000}, "eth0")
			body = wire.AppendSwap(body, 2<<30, 1<<20)
			body = wire.AppendProcs(body, 321, 1024)
			out, err = wire.EncodePush(out[:0], wire.PushHeader{BootID: boots[i], Seq: seqs[i], SentAt: now.UnixNano()}, body, key, *seal)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if _, err := uc.Write(out); err != nil {
				sendErr++
			} else {
				sent++
			}
		}
	}
	el := time.Since(start).Seconds()
	time.Sleep(2 * time.Second) // the last ACKs
	c.Close()
	json.NewEncoder(w).Encode(genResult{Sent: sent, Acks: acks.Load(), SendErrors: sendErr, Seconds: el})
	w.Flush()
	return 0
}
