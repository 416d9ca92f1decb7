// SPDX-License-Identifier: MIT

package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbmon/hb/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with serial
// and returns it.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "hb test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestTLS: with tls_cert and tls_key the API listener speaks HTTPS only,
// login cookies are Secure, and a reload (SIGHUP) serves a new
// certificate to new connections.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := writeCert(t, certFile, keyFile, 1)
	d := startDaemon(t, 2, false, func(c *config.Probe) { c.Web.TLSCert, c.Web.TLSKey = certFile, keyFile })
	url := strings.Replace(d.url, "http://", "https://", 1)

	client := func(want *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(want)
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	}
	body := strings.NewReader(`{"user":"ada","password":"` + adaPW + `"}`)
	req, _ := http.NewRequest("POST", url+"/ui/api/login", body)
	req.Header.Set("Content-Type", "application/json")
	r, err := client(c1).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("login over TLS: %d", r.StatusCode)
	}
	sc := r.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "secure") && !strings.Contains(sc, "Secure") {
		t.Fatalf("cookie over TLS not Secure: %s", sc)
	}
	// Plain HTTP on the same port is not served.
	if r, err := http.Get(d.url + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
	}

	// New certificate, SIGHUP: new connections get it.
	c2 := writeCert(t, certFile, keyFile, 2)
	d.reload <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := client(c2).Get(url + "/healthz")
		if err == nil {
			r.Body.Close()
			if r.TLS == nil || r.TLS.PeerCertificates[0].SerialNumber.Int64() != 2 {
				t.Fatal("served certificate is not the new one")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new certificate not served after reload: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := client(c1).Get(url + "/healthz"); err == nil {
		t.Fatal("old certificate still served after reload")
	}
}
