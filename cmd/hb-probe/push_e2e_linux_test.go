// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbmon/hb/internal/testutil"
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

// TestPushEndToEnd runs the real hb-probe and hb-responder binaries in
// two network namespaces joined by a veth pair. hb-responder pushes sealed heartbeats for host web1, which
// hb-probe also pings: both checks come up; `hb-responder push -m` lands
// in the event log; after SIGTERM (shutdown heartbeat) the heartbeat check
// goes down after interval + grace while ICMP stays up. A legacy hbd datagram from
// the golden file and one from an hbc_mini.py-style Python sender are
// ACKed and their metrics show in /api/v1/heartbeats.
func TestPushEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hb-probe binary")
	}
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, dir, ".")
	master := make([]byte, wire.KeyLen)
	for i := range master {
		master[i] = byte(i * 7)
	}
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(hex.EncodeToString(master)+"\n"), 0o600)
	// Two namespaces: hb-probe in one, the pushing host in the other.
	probeNS, hostNS := testutil.NewNetns(t), testutil.NewNetns(t)
	testutil.NewVeth(t, probeNS, "veth0", netip.MustParsePrefix("198.18.1.1/24"), hostNS, "veth1", netip.MustParsePrefix("198.18.1.2/24"))
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("198.18.1.2 name=web1\nheartbeat://web1 interval=1s grace=1s\nheartbeat://web-01.example interval=1h\n"), 0o644)
	pushAddr := "198.18.1.1:50003"
	addr := "127.0.0.1:8787" // inside probeNS
	cfg := filepath.Join(dir, "hb-probe.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("targets = %q\ninterval = \"500ms\"\ntimeout = \"400ms\"\nkey_file = %q\n[store]\ndb = %q\n[api]\nlisten = %q\n[push]\nenabled = true\nlisten = %q\naccept_unknown = true\npulse_auto_create = true\npulse_grace = \"1s\"\n",
		targets, keyFile, filepath.Join(dir, "hb.db"), addr, pushAddr)), 0o644)

	var log testutil.SyncBuffer
	cmd := probeNS.Command(bin, "--config", cfg)
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
	// The API is reached from inside hb-probe's namespace.
	getJSON := func(url string, v any) {
		out, err := probeNS.Command("curl", "-sf", "-m", "5", url).Output()
		if err == nil && v != nil {
			json.Unmarshal(out, v)
		}
	}
	hb := func(name string) heartbeatHost {
		var h heartbeatHost
		getJSON(base+"/api/v1/heartbeats/"+name, &h)
		return h
	}
	waitFor(t, "the probe mode", &log, func() bool { return strings.Contains(log.String(), `msg="probe mode"`) })
	if strings.Contains(log.String(), "socket=udp") {
		t.Skip("no CAP_NET_RAW and no ping sockets: loopback ICMP cannot be probed; run as root")
	}

	// The real hb-responder, userspace only (no eBPF needed), pushing
	// sealed heartbeats as web1 every second.
	rbin := testutil.BuildBinary(t, dir, "../hb-responder")
	rcfg := filepath.Join(dir, "hb-responder.toml")
	os.WriteFile(rcfg, []byte(fmt.Sprintf("key_file = %q\nuserspace_only = true\nudp_port = 0\nstatus_file = %q\n[push]\nname = \"web1\"\ninterval = \"1s\"\nseal = true\n",
		keyFile, filepath.Join(dir, "responder.json"))), 0o644)
	var rlog testutil.SyncBuffer
	rsp := hostNS.Command(rbin, "--config", rcfg, "--push", pushAddr)
	rsp.Stdout, rsp.Stderr = &rlog, &rlog
	rsp.Env = append(os.Environ(), "HB_CONFIG=")
	if err := rsp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		rsp.Process.Kill()
		rsp.Wait()
	}()
	waitFor(t, "web1's heartbeat and icmp checks up", &log, func() bool {
		h := hb("web1")
		return h.State == "up" && h.Checks["icmp"] == "up" && len(h.Metrics) > 0
	})
	// The one-off message mode.
	out, err := hostNS.Command(rbin, "push", "--config", rcfg, "-m", "maintenance starting", pushAddr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "acknowledged by 1 of 1") {
		t.Fatalf("hb-responder push -m: %v\n%s", err, out)
	}
	waitFor(t, "the message in /api/v1/events", &log, func() bool {
		var r struct{ Events []struct{ Message string } }
		getJSON(base+"/api/v1/events?source=web1&message=maintenance", &r)
		return len(r.Events) == 1 && r.Events[0].Message == "maintenance starting"
	})
	// SIGTERM: the shutdown heartbeat goes out, then the check goes down.
	// The heartbeat leaves after the signal, so the check may not go down
	// before signalled + interval + grace. (Not from when the message shows
	// in /api/v1/events: the event log commits with the store, up to
	// seconds after the heartbeat arrived.)
	signalled := time.Now()
	rsp.Process.Signal(syscall.SIGTERM)
	if err := rsp.Wait(); err != nil {
		t.Fatalf("hb-responder exit: %v\n%s", err, rlog.String())
	}
	waitFor(t, "the shutdown message", &log, func() bool {
		var r struct{ Events []struct{ Message string } }
		getJSON(base+"/api/v1/events?source=web1&message=shutdown", &r)
		return len(r.Events) == 1
	})
	waitFor(t, "the heartbeat check down while ICMP stays up", &log, func() bool {
		h := hb("web1")
		return h.State == "down" && h.Checks["icmp"] == "up" && h.Overdue
	})
	if waited := time.Since(signalled); waited < 2*time.Second {
		// interval 1s + grace 1s after the shutdown heartbeat: down any
		// earlier means the deadline is wrong.
		t.Errorf("down %v after the last heartbeat, before interval + grace", waited)
	}

	// The state change is in the event log.
	waitFor(t, "the heartbeat's state change in /api/v1/events", &log, func() bool {
		var r struct {
			Events []struct{ Type, Message, Level string }
		}
		getJSON(base+"/api/v1/events?source=web1&level=error", &r)
		for _, e := range r.Events {
			if e.Type == "state_change" && strings.Contains(e.Message, "web1 heartbeat") && strings.Contains(e.Message, "-> down") {
				return true
			}
		}
		return false
	})

	// A native pulse, auto-created: up, then down once overdue.
	if out, err := probeNS.Command("curl", "-sf", "-X", "POST", base+"/api/v1/pulse/nightly?next_in=1s").CombinedOutput(); err != nil {
		t.Fatalf("pulse: %v %s", err, out)
	}
	pulseState := func() string {
		m := map[string]any{}
		getJSON(base+"/state", &m)
		s, _ := m["nightly"].(string)
		return s
	}
	waitFor(t, "the pulse overdue", &log, func() bool { return pulseState() == "down" })

	// Legacy hbd: the golden datagram, then an hbc_mini.py-style sender.
	golden := readGolden(t, "../../wire/testdata/hbd-htb.hex")
	var c net.Conn
	if err := hostNS.Do(func() (err error) { c, err = net.Dial("udp", pushAddr); return err }); err != nil {
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
	out, err = hostNS.Command(py, "-c", script, host, port).CombinedOutput()
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
