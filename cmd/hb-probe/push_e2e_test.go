// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/responder"
	"github.com/hbmon/hb/wire"
)

type heartbeatHost struct {
	Host     string             `json:"host"`
	State    string             `json:"state"`
	Checks   map[string]string  `json:"checks"`
	LastSeen *time.Time         `json:"last_seen"`
	Overdue  bool               `json:"overdue"`
	Metrics  map[string]float64 `json:"metrics"`
}

// freeUDP returns a loopback UDP address nothing listens on.
func freeUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestPushEndToEnd runs the real hb-probe binary with the push receiver
// on loopback. hb-responder's pusher (the library the responder runs)
// pushes sealed heartbeats for host web1, which hb-probe also pings: both
// checks come up; when the pusher stops, the heartbeat check goes down
// after interval + grace while ICMP stays up. A legacy hbd datagram from
// the golden file and one from an hbc_mini.py-style Python sender are
// ACKed and their metrics show in /api/v1/heartbeats.
func TestPushEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hb-probe binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hb-probe")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	master := make([]byte, wire.KeyLen)
	for i := range master {
		master[i] = byte(i * 7)
	}
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(hex.EncodeToString(master)+"\n"), 0o600)
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("127.0.0.1 name=web1\nheartbeat://web1 interval=1s grace=1s\nheartbeat://web-01.example interval=1h\n"), 0o644)
	pushAddr := freeUDP(t)
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("targets = %q\ninterval = \"500ms\"\ntimeout = \"400ms\"\nkey_file = %q\n[store]\ndb = %q\n[api]\nlisten = %q\n[push]\nenabled = true\nlisten = %q\naccept_unknown = true\n",
		targets, keyFile, filepath.Join(dir, "hb.db"), addr, pushAddr)), 0o644)

	var log syncBuffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "HB_CONFIG=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	base := "http://" + addr
	hb := func(name string) heartbeatHost {
		var h heartbeatHost
		getJSON(base+"/api/v1/heartbeats/"+name, &h)
		return h
	}
	waitFor(t, "the probe mode", &log, func() bool { return strings.Contains(log.String(), `msg="probe mode"`) })
	if strings.Contains(log.String(), "socket=udp") {
		t.Skip("no CAP_NET_RAW and no ping sockets: loopback ICMP cannot be probed; run as root")
	}

	key, err := wire.NewPushKey(1, master)
	if err != nil {
		t.Fatal(err)
	}
	pc := responder.DefaultPushConfig()
	pc.Servers = []string{pushAddr}
	pc.Interval = config.Duration(time.Second)
	pc.Name = "web1"
	pc.Seal = true
	p, err := responder.NewPusher(pc, key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer stop()

	waitFor(t, "web1's heartbeat and icmp checks up", &log, func() bool {
		h := hb("web1")
		return h.State == "up" && h.Checks["icmp"] == "up" && h.Metrics["swap_total_bytes"] >= 0 && len(h.Metrics) > 0
	})
	if st := p.Stats(); st.Acks == 0 || st.BadAcks != 0 {
		t.Fatalf("pusher: %+v", st)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, "the heartbeat check down while ICMP stays up", &log, func() bool {
		h := hb("web1")
		return h.State == "down" && h.Checks["icmp"] == "up" && h.Overdue
	})
	if waited := time.Since(stopped); waited < 2*time.Second {
		// interval 1s + grace 1s: down any earlier means the deadline is wrong.
		t.Errorf("down %v after the last heartbeat, before interval + grace", waited)
	}

	// Legacy hbd: the golden datagram, then an hbc_mini.py-style sender.
	golden := readGolden(t, "../../wire/testdata/hbd-htb.hex")
	c, err := net.Dial("udp", pushAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(golden)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ACK" {
		t.Fatalf("golden datagram answered %q, %v", buf[:n], err)
	}
	waitFor(t, "the golden datagram's metrics", &log, func() bool {
		h := hb("web-01.example")
		return h.Metrics["disk_root_percent"] == 73 && h.Metrics["cpu_1"] == 3.25 && h.State == "up"
	})

	py, err := exec.LookPath("python3")
	if err != nil {
		t.Log("python3 missing: hbc_mini-style sender not run (scripts/install-deps.sh installs it)")
		return
	}
	host, port, _ := net.SplitHostPort(pushAddr)
	script := `
import socket, sys, zlib
fields = {"hostname": "mini-1", "load1": 0.42, "mem_percent": 51.25, "online": True}
def enc(v):
    if isinstance(v, bool): return "1" if v else "0"
    if isinstance(v, float): return "%.5f" % v
    return str(v)
plain = ";".join("%s=%s" % (k, enc(v)) for k, v in fields.items())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"!HTB: " + zlib.compress(plain.encode()), (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(64)[0].decode())
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || !bytes.Equal(bytes.TrimSpace(out), []byte("ACK")) {
		t.Fatalf("python sender: %v %s", err, out)
	}
	waitFor(t, "the python sender's metrics", &log, func() bool {
		h := hb("mini-1")
		return h.Metrics["load1"] == 0.42 && h.Metrics["mem_percent"] == 51.25 && h.Metrics["online"] == 1
	})
}

func readGolden(t *testing.T, path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, l := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(l), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
