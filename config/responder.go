// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ResponderFile is hb-responder's config file name in the discovery
// directories.
const ResponderFile = "hb-responder.toml"

// Responder is hb-responder's configuration: TOML keys (documented in
// packaging/hb-responder.example.toml), their defaults in DefaultResponder,
// and the command-line flags that override them (named in each comment).
// The zero value of each field means what the file's zero means.
type Responder struct {
	Interfaces []string `toml:"interfaces"` // --interfaces: attach to these; empty: every up, non-loopback one
	IncludeLo  bool     `toml:"include_lo"` // --include-lo: attach to lo too
	Attach     []string `toml:"attach"`     // --attach: attach modes tried per interface, in order
	KeyFile    string   `toml:"key_file"`   // --key-file: shared secret; with it blobs are sealed and requests need a token
	KeyID      uint8    `toml:"key_id"`     // --key-id: 1-255
	// SampleInterval is how often health is sampled and published.
	SampleInterval Duration `toml:"sample_interval"` // --sample-interval
	// RateLimit is the replies per second for the whole host, one budget
	// shared by every CPU and by ICMP and UDP; 0 means no limit.
	RateLimit float64 `toml:"rate_limit"` // --rate-limit
	Burst     uint32  `toml:"burst"`      // --burst: replies that may go out at once
	UDPPort   uint16  `toml:"udp_port"`   // --udp-port: 0 turns UDP off
	// UserspaceOnly loads no eBPF program: only the UDP responder runs.
	UserspaceOnly bool `toml:"userspace_only"` // --userspace-only
	// AllowFrom, when not empty, lists the only prober addresses or
	// prefixes answered (enforced in the eBPF program and the userspace
	// responder).
	AllowFrom  []string        `toml:"allow_from"`  // --allow-from (comma-separated)
	StatusFile string          `toml:"status_file"` // --status-file: read by `hb-responder status`
	LogLevel   string          `toml:"log_level"`   // --log-level: debug, info, warn, error
	Compat     ResponderCompat `toml:"compat"`
	Push       ResponderPush   `toml:"push"` // heartbeats to hb-probe (config/respush.go; docs/push.md)
}

// ResponderCompat holds the compatibility switches.
type ResponderCompat struct {
	// HBM2 answers empty-payload echo requests with the legacy 28-byte HBM
	// v2 payload: the one reply longer than its request (2x at the IP
	// layer), bounded by rate_limit.
	HBM2 bool `toml:"hbm2"` // --hbm2
	// HBM2Unauthenticated must be true for HBM2 to work with a key: HBM v2
	// carries no token, so anyone may read the health it returns.
	HBM2Unauthenticated bool `toml:"hbm2_unauthenticated"` // --hbm2-unauthenticated
}

// AttachModes are the valid attach mode names.
var AttachModes = []string{"native", "generic", "tcx", "clsact"}

// DefaultResponder returns hb-responder's defaults; statusFile is the
// platform's default status path (responder.DefaultStatusPath).
func DefaultResponder(statusFile string) Responder {
	return Responder{
		Attach:         append([]string(nil), AttachModes...),
		KeyID:          1,
		SampleInterval: Duration(time.Second),
		RateLimit:      20000,
		Burst:          200,
		UDPPort:        50003,
		StatusFile:     statusFile,
		LogLevel:       "info",
		Push:           DefaultResponderPush(),
	}
}

// LoadResponder finds (see Discover) and reads hb-responder's config file
// over the defaults. It returns the file used ("" when none: defaults
// only) and an error naming FILE:LINE for bad keys. It does not validate:
// apply the command line first, then call Validate.
func LoadResponder(explicit string, defaults Responder) (Responder, string, error) {
	r := defaults
	path, err := Discover(explicit, ResponderFile)
	if err != nil || path == "" {
		return r, path, err
	}
	return r, path, DecodeStrict(path, &r)
}

// Validate checks every field and returns all problems at once, each
// naming its TOML key.
func (r *Responder) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
	}
	if len(r.Attach) == 0 {
		bad("attach", "needs at least one of %s", strings.Join(AttachModes, ", "))
	}
	for _, m := range r.Attach {
		if !slices.Contains(AttachModes, strings.ToLower(strings.TrimSpace(m))) {
			bad("attach", "unknown mode %q (want %s)", m, strings.Join(AttachModes, ", "))
		}
	}
	if r.KeyID == 0 {
		bad("key_id", "must be 1-255, got 0")
	}
	if r.SampleInterval.D() < 10*time.Millisecond {
		bad("sample_interval", "must be at least 10ms, got %v", r.SampleInterval.D())
	}
	if r.RateLimit < 0 || math.IsNaN(r.RateLimit) || math.IsInf(r.RateLimit, 0) {
		bad("rate_limit", "must be >= 0 replies per second (0: no limit), got %v", r.RateLimit)
	}
	if r.Burst < 1 {
		bad("burst", "must be at least 1, got %d", r.Burst)
	}
	if _, err := r.AllowPrefixes(); err != nil {
		bad("allow_from", "%v", err)
	}
	if _, err := ParseLogLevel(r.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if err := r.Push.Validate(); err != nil {
		errs = append(errs, err)
	}
	if r.Push.Seal && r.KeyFile == "" && len(r.Push.Servers) > 0 {
		bad("push.seal", "needs key_file")
	}
	if r.Compat.HBM2 && r.KeyFile != "" && !r.Compat.HBM2Unauthenticated {
		bad("compat.hbm2", "with key_file set, HBM v2 would hand this host's health to anyone without a token "+
			"(and answer 28-byte requests with 56 bytes); set compat.hbm2_unauthenticated = true to allow it for legacy clients, or turn hbm2 off")
	}
	return errors.Join(errs...)
}

// HBM2On reports whether HBM v2 compat answers: on, and either no key or
// unauthenticated legacy clients explicitly allowed.
func (r *Responder) HBM2On() bool {
	return r.Compat.HBM2 && (r.KeyFile == "" || r.Compat.HBM2Unauthenticated)
}

// AllowPrefixes parses AllowFrom: prefixes ("198.18.0.0/15") or single
// addresses ("198.18.0.2", "2001:db8::1"), at most 1024.
func (r *Responder) AllowPrefixes() ([]netip.Prefix, error) {
	if len(r.AllowFrom) > 1024 {
		return nil, fmt.Errorf("at most 1024 entries, got %d", len(r.AllowFrom))
	}
	var out []netip.Prefix
	for _, s := range r.AllowFrom {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an address or prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
