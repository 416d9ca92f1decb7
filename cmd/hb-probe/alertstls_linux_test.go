// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/internal/testutil"
	"github.com/hbmon/hb/monitor"
	"github.com/hbmon/hb/obs"
)

// writeCA writes a CA certificate (caFile) and a server certificate it
// signs for 127.0.0.1, ::1 and hb.test (certFile, keyFile).
func writeCA(t *testing.T, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hb test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "hb.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"hb.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	for f, b := range map[string][]byte{
		caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// feed is a source the test drives through the monitor's sink.
type feed struct {
	mu     sync.Mutex
	gen    uint64
	checks []obs.Check
	sink   chan obs.Sink
}

func (f *feed) Name() string      { return "feed" }
func (f *feed) Kinds() []obs.Kind { return []obs.Kind{obs.KindICMP} }
func (f *feed) SetChecks(gen uint64, cs []obs.Check) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen, f.checks = gen, append([]obs.Check(nil), cs...)
}
func (f *feed) Run(ctx context.Context, s obs.Sink) error {
	f.sink <- s
	<-ctx.Done()
	return nil
}

// TestAlertsCommandTLS: the real daemon serves its API over TLS (a
// certificate from a CA the test makes) on the unspecified address [::]
// inside a network namespace of the test's; `hb-probe alerts` with the
// daemon's config connects to https://[::1]:PORT (and, for a config
// saying 0.0.0.0, to https://127.0.0.1:PORT, which the dual-stack
// socket also answers), checks the certificate against --ca, lists,
// acknowledges, silences (the alert is then listed as muted), extends and
// lifts the silence; without --ca, over plain HTTP, for the wrong name or
// with nothing listening it fails with exit 2 and an error naming the URL
// and what to change.
func TestAlertsCommandTLS(t *testing.T) {
	ns := testutil.NewNetns(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCA(t, caFile, certFile, keyFile)
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte("198.18.0.1 name=web1\n"), 0o644)

	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "[::]:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	cfg := config.DefaultProbe()
	cfg.Targets = targets
	cfg.API.Listen, cfg.API.TokenFile = "[::]:"+port, tok
	cfg.Web.Enabled, cfg.Web.TLSCert, cfg.Web.TLSKey = false, certFile, keyFile
	cfg.Alerts.Rules = []config.AlertRule{{Name: "down", State: "down"}}
	cfg.Alerts.GroupWait = 0
	f := &feed{sink: make(chan obs.Sink, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := monitor.New(ctx, cfg, "", monitor.Options{Sources: []obs.Source{f}, Listener: ln, NoStore: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	sink := <-f.sink
	f.mu.Lock()
	if len(f.checks) != 1 {
		t.Fatalf("checks: %+v", f.checks)
	}
	c, gen := f.checks[0], f.gen
	f.mu.Unlock()
	now := time.Now()
	for i := range 3 {
		sink.Observe(gen, c.ID, obs.Observation{At: now.Add(time.Duration(i) * time.Millisecond), Outcome: obs.Timeout, Problem: "timeout"})
	}

	// The CLI dials inside the namespace (where [::1] and 127.0.0.1 are
	// the daemon's loopback).
	alertsDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	defer func() { alertsDial = nil }()
	writeCfg := func(name, listen string, tls bool) string {
		p := filepath.Join(dir, name)
		s := fmt.Sprintf("[api]\nlisten = %q\ntoken_file = %q\n", listen, tok)
		if tls {
			s += fmt.Sprintf("[web]\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile)
		}
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	v6, v4 := writeCfg("v6.toml", "[::]:"+port, true), writeCfg("v4.toml", "0.0.0.0:"+port, true)
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"alerts"}, args...), nil, &out, &errb)
		return code, out.String(), errb.String()
	}

	// Listed over TLS, once the alert has fired.
	var out, errs string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var code int
		code, out, errs = cli("--config", v6, "--ca", caFile)
		if code != exitOK {
			t.Fatalf("alerts over TLS on [::]: exit %d: %s", code, errs)
		}
		if strings.Contains(out, "web1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert for web1 listed:\n%s", out)
		}
	}
	if !strings.Contains(out, "CRITICAL") {
		t.Errorf("listing:\n%s", out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out, errs := cli("--config", v4, "--ca", caFile, "--ack", id, "--by", "alice"); code != exitOK || !strings.Contains(out, "acknowledged "+id) || !strings.Contains(out, "by alice") {
		t.Fatalf("ack over TLS via 0.0.0.0: exit %d: %s %s", code, out, errs)
	}
	if code, out, errs := cli("--config", v6, "--ca", caFile, "--servername", "hb.test", "--query", "acked=true"); code != exitOK || !strings.Contains(out, "acked by alice") {
		t.Fatalf("list with --servername hb.test: exit %d: %s %s", code, out, errs)
	}

	// Silence web1 over TLS, extend the silence by an hour, lift it.
	until := func(out, sep string) time.Time {
		t.Helper()
		_, after, _ := strings.Cut(strings.TrimSpace(out), sep)
		at, err := time.Parse(time.RFC3339, strings.Fields(after)[0])
		if err != nil {
			t.Fatalf("no time after %q in %q", sep, out)
		}
		return at
	}
	code, out, errs := cli("--config", v6, "--ca", caFile, "--silence", "host=web1", "--for", "30m", "--by", "alice", "--comment", "reboot")
	if code != exitOK || !strings.HasPrefix(out, "silence ") || !strings.Contains(out, "host=web1") || !strings.Contains(out, "by alice") {
		t.Fatalf("--silence: exit %d: %s %s", code, out, errs)
	}
	sid := strings.TrimSuffix(strings.Fields(out)[1], ":")
	end := until(out, " until ")
	if d := time.Until(end); d < 25*time.Minute || d > 31*time.Minute {
		t.Errorf("--silence --for 30m ends %v", end)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, out, _ = cli("--config", v6, "--ca", caFile)
		if strings.Contains(out, "silence "+sid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web1's alert not muted by silence %s:\n%s", sid, out)
		}
	}
	code, out, errs = cli("--config", v4, "--ca", caFile, "--extend", sid, "--for", "1h")
	if code != exitOK || !until(out, " now until ").Equal(end.Add(time.Hour)) {
		t.Fatalf("--extend %s --for 1h: exit %d: %s %s (was until %v)", sid, code, out, errs, end)
	}
	if code, out, errs := cli("--config", v6, "--ca", caFile, "--lift", sid); code != exitOK || out != "silence "+sid+" lifted\n" {
		t.Fatalf("--lift: exit %d: %q %s", code, out, errs)
	}
	if code, _, errs := cli("--config", v6, "--ca", caFile, "--lift", sid); code != exitSetup || !strings.Contains(errs, "HTTP 404") {
		t.Errorf("--lift again: exit %d: %s", code, errs)
	}
	if code, _, errs := cli("--config", v6, "--ca", caFile, "--lift", sid, "--ack", id); code != exitSetup || !strings.Contains(errs, "one of") {
		t.Errorf("--lift with --ack: exit %d: %s", code, errs)
	}

	// Failures: exit 2, the URL named, the way out said.
	url6 := "https://[::1]:" + port
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"system roots only", []string{"--config", v6}, []string{"cannot connect to " + url6 + "/api/v1/alerts", "--ca FILE"}},
		{"wrong name", []string{"--config", v6, "--ca", caFile, "--servername", "other.test"}, []string{"cannot connect to " + url6, "--servername"}},
		{"plain HTTP to a TLS daemon", []string{"--config", writeCfg("plain.toml", "[::]:"+port, false)}, []string{"cannot connect to http://[::1]:" + port, "does not speak plain HTTP"}},
		{"nobody listening", []string{"--config", writeCfg("closed.toml", "0.0.0.0:1", true), "--ca", caFile}, []string{"cannot connect to https://127.0.0.1:1/api/v1/alerts", "connection refused", `api.listen "0.0.0.0:1"`}},
		{"unreadable --ca", []string{"--config", v6, "--ca", filepath.Join(dir, "none.pem")}, []string{"--ca", "no such file"}},
		{"no PEM in --ca", []string{"--config", v6, "--ca", tok}, []string{"no PEM certificate"}},
	} {
		code, _, errs := cli(tc.args...)
		t.Logf("%s: %s", tc.name, strings.TrimSpace(errs))
		if code != exitSetup {
			t.Errorf("%s: exit %d, want %d: %s", tc.name, code, exitSetup, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, errs)
			}
		}
	}
}

// TestDaemonURL: the API's URL from api.listen and the TLS settings.
func TestDaemonURL(t *testing.T) {
	for _, tc := range []struct {
		listen string
		tls    bool
		want   string
	}{
		{"127.0.0.1:8787", false, "http://127.0.0.1:8787"},
		{"0.0.0.0:8787", false, "http://127.0.0.1:8787"},
		{":8787", true, "https://127.0.0.1:8787"},
		{"[::]:8787", true, "https://[::1]:8787"},
		{"[::1]:9", false, "http://[::1]:9"},
		{"192.0.2.7:443", true, "https://192.0.2.7:443"},
		{"hb.example:8787", true, "https://hb.example:8787"},
	} {
		c := config.DefaultProbe()
		c.API.Listen = tc.listen
		if tc.tls {
			c.Web.TLSCert, c.Web.TLSKey = "c", "k"
		}
		if got, err := daemonURL(c); err != nil || got != tc.want {
			t.Errorf("listen %q tls %v: %q %v, want %q", tc.listen, tc.tls, got, err, tc.want)
		}
	}
	c := config.DefaultProbe()
	c.API.Listen = "8787"
	if _, err := daemonURL(c); err == nil || !strings.Contains(err.Error(), `api.listen "8787"`) {
		t.Errorf("listen 8787: %v", err)
	}
}
