// SPDX-License-Identifier: MIT

package web

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// Certs holds the API listener's certificate, re-read by Reload (SIGHUP):
// new connections get the new one, open ones keep theirs.
type Certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCerts reads the PEM certificate (chain) and key.
func LoadCerts(certFile, keyFile string) (*Certs, error) {
	c := &Certs{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload re-reads the files; on error the previous certificate stays.
func (c *Certs) Reload() error {
	crt, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("web: tls: %w", err)
	}
	c.cur.Store(&crt)
	return nil
}

// Config is a server TLS configuration serving the current certificate
// (TLS 1.2 and later).
func (c *Certs) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}
