// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// push runs bench/cmd/hbpushload: simulated hosts pushing real, keyed
// HBP1 heartbeats every 10 s from a namespace into hb-probe's push
// receiver (its own two namespaces, not the probing fleet), HMAC and
// sealed, one run each.
func (e *env) push() string {
	var b strings.Builder
	b.WriteString("## Push heartbeats: hosts pushing HBP1 into one hb-probe\n\n")
	hosts, warm, meas := "100000", "35s", "30s"
	if e.quick {
		hosts, warm, meas = "2000", "12s", "10s"
	}
	fmt.Fprintf(&b, "`hbpushload` (bench/cmd/hbpushload) sends, from a load-generator namespace over a veth, one real HBP1\n"+
		"heartbeat per simulated host every 10 s (spread evenly; health blob, 4 cores, 2 mounts, an interface, swap, processes:\n"+
		"about 460 bytes, keyed with HMAC-SHA256 or sealed with XChaCha20-Poly1305) to `hb-probe` in daemon mode in another namespace\n"+
		"(`[push] enabled`, one `heartbeat://hNNNNNN` target per host, history database in a temp dir). After a %s warm-up,\n"+
		"a %s window: *CPU %%* = hb-probe's utime+stime from `/proc/PID/stat` over the window ÷ its length; *RSS* =\n"+
		"`VmRSS` at its end; over the whole run, *not received* = 1 − hb-probe's `hb_push_datagrams_total` ÷ heartbeats sent\n"+
		"(in parentheses: the part its socket's full receive queue dropped, `Udp RcvbufErrors` in its namespace),\n"+
		"*not ACKed* = 1 − ACKs the generator received ÷ heartbeats sent (a lost ACK counts too);\n"+
		"*up* = hosts in state up at the end (`/state`).\n\n", warm, meas)
	bin := filepath.Join(e.tmp, "hbpushload")
	if out, err := exec.Command("go", "build", "-o", bin, "./bench/cmd/hbpushload").CombinedOutput(); err != nil {
		fmt.Fprintf(&b, "hbpushload did not build: %v\n\n```\n%s```\n\n", err, out)
		return b.String()
	}
	if e.probeDaemon != "" {
		fmt.Fprintf(&b, "Not run: %s\n\n", e.probeDaemon)
		return b.String()
	}
	b.WriteString("| hosts | interval | auth | heartbeats/s sent | CPU % of one core | RSS | not received | not ACKed | up at end | command |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, seal := range []bool{false, true} {
		args := []string{"-hb-probe", e.hbProbe, "-hosts", hosts, "-interval", "10s", "-warmup", warm, "-measure", meas}
		if seal {
			args = append(args, "-seal")
		}
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		line := strings.TrimSpace(string(out))
		cmdline := "`go run ./bench/cmd/hbpushload " + strings.Join(quoteArgs(args), " ") + "`"
		cmdline = strings.ReplaceAll(cmdline, e.hbProbe, "HB-PROBE")
		if err != nil || !strings.HasPrefix(line, "|") {
			fmt.Fprintf(&b, "| %s | 10s | seal=%v | failed: %v | | | | | | %s |\n", hosts, seal, err, cmdline)
			continue
		}
		fmt.Fprintf(&b, "%s %s |\n", line, cmdline)
	}
	b.WriteString("\nThe receive path alone (verify, replay window, decode, metrics, observation, ACK; no socket) is\n" +
		"`BenchmarkHandle` in the Go benchmarks below.\n\n")
	return b.String()
}
