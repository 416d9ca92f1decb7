// SPDX-License-Identifier: MIT

package push

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/testutil"
)

// TestDynDNSWithBIND runs a real BIND (Debian bind9) in a network
// namespace, serving zone dyn.test and accepting TSIG-signed updates; the
// updater's nsupdate runs in the same namespace. A moved host gets its A
// and AAAA records; an update signed with the wrong key fails and is
// counted.
func TestDynDNSWithBIND(t *testing.T) {
	named, err := exec.LookPath("named")
	if err != nil {
		named = "/usr/sbin/named"
	}
	for _, b := range []string{named, "/usr/sbin/tsig-keygen", "/usr/bin/nsupdate", "/usr/bin/dig"} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("%s missing: apt-get install bind9 bind9-dnsutils (scripts/install-deps.sh)", b)
		}
	}
	ns := testutil.NewNetns(t)
	ns.MustIP(t, "addr", "add", "198.18.53.1/32", "dev", "lo")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	keygen := func(name string) string {
		out, err := exec.Command("/usr/sbin/tsig-keygen", "-a", "hmac-sha256", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".conf")
		os.WriteFile(p, out, 0o644)
		return p
	}
	key := keygen("hbkey")
	zone := `$TTL 60
@ IN SOA ns.dyn.test. admin.dyn.test. 1 60 60 3600 60
@ IN NS ns.dyn.test.
ns IN A 198.18.53.1
`
	os.WriteFile(filepath.Join(dir, "dyn.test.zone"), []byte(zone), 0o644)
	conf := fmt.Sprintf(`options {
	directory %q;
	pid-file %q;
	listen-on port 5353 { 198.18.53.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
};
include %q;
zone "dyn.test" {
	type primary;
	file %q;
	journal %q;
	allow-update { key hbkey; };
};
`, dir, filepath.Join(dir, "named.pid"), key, filepath.Join(dir, "dyn.test.zone"), filepath.Join(dir, "dyn.test.jnl"))
	confPath := filepath.Join(dir, "named.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	var log testutil.SyncBuffer // named writes while a failure path reads
	cmd := ns.Command(named, "-g", "-4", "-c", confPath, "-u", "root")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	dig := func(name, typ string) string {
		out, _ := ns.Command("/usr/bin/dig", "+short", "+time=1", "+tries=1", "-p", "5353", "@198.18.53.1", name, typ).Output()
		return strings.TrimSpace(string(out))
	}
	for i := 0; dig("ns.dyn.test", "A") != "198.18.53.1"; i++ {
		if i > 100 {
			t.Fatalf("named did not start:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	wrapper := filepath.Join(dir, "nsupdate")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+ns.Name+" /usr/bin/nsupdate \"$@\"\n"), 0o755)

	c := config.DefaultPush()
	c.DynDNSHosts = []string{"web1"}
	c.Nsupdate = wrapper
	c.DynDNSServer = "198.18.53.1:5353"
	c.DynDNSZone = "dyn.test"
	c.DynDNSDomain = "dyn.test"
	c.DynDNSKeyFile = key
	d := NewDynDNS(c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	wait := func(what string, cond func() bool) {
		t.Helper()
		for i := 0; !cond(); i++ {
			if i > 200 {
				t.Fatalf("%s; done %d failed %d\n%s", what, d.Done.Load(), d.Failed.Load(), log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	d.Moved("web1", netip.MustParseAddr("198.18.7.7"))
	d.Moved("not-ours", netip.MustParseAddr("198.18.7.8"))
	wait("A record", func() bool { return d.Done.Load() == 1 && dig("web1.dyn.test", "A") == "198.18.7.7" })
	d.Moved("web1", netip.MustParseAddr("198.18.7.9"))
	wait("A record moved", func() bool { return dig("web1.dyn.test", "A") == "198.18.7.9" })
	d.Moved("web1", netip.MustParseAddr("2001:db8::7"))
	wait("AAAA record", func() bool { return dig("web1.dyn.test", "AAAA") == "2001:db8::7" })
	if d.Queued.Load() != 3 || d.Failed.Load() != 0 {
		t.Fatalf("queued %d failed %d", d.Queued.Load(), d.Failed.Load())
	}

	// Signed with a key BIND does not know: refused, counted, no record.
	c.DynDNSKeyFile = keygen("otherkey")
	c.DynDNSHosts = []string{"web2"}
	bad := NewDynDNS(c, nil)
	go bad.Run(ctx)
	bad.Moved("web2", netip.MustParseAddr("198.18.7.10"))
	for i := 0; bad.Failed.Load() == 0; i++ {
		if i > 200 {
			t.Fatal("update with an unknown key did not fail")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := dig("web2.dyn.test", "A"); got != "" {
		t.Fatalf("unsigned update applied: %q", got)
	}
}

func TestDynDNSScriptAndQueue(t *testing.T) {
	c := config.DefaultPush()
	c.DynDNSHosts = []string{"h"}
	c.DynDNSDomain = "example.net."
	c.DynDNSServer = "198.18.0.53"
	c.DynDNSQueue = 1
	d := NewDynDNS(c, nil)
	want := "server 198.18.0.53\nupdate delete h.example.net. A\nupdate add h.example.net. 60 A 198.18.0.9\nsend\n"
	if got := d.Script("h", netip.MustParseAddr("::ffff:198.18.0.9")); got != want {
		t.Fatalf("script:\n%s\nwant:\n%s", got, want)
	}
	d.Moved("h", netip.MustParseAddr("198.18.0.9"))
	d.Moved("h", netip.MustParseAddr("198.18.0.10"))
	if d.Queued.Load() != 1 || d.Dropped.Load() != 1 {
		t.Fatalf("queue: queued %d dropped %d", d.Queued.Load(), d.Dropped.Load())
	}
	if NewDynDNS(config.DefaultPush(), nil) != nil {
		t.Fatal("updater without hosts")
	}
}
