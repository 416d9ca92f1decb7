// SPDX-License-Identifier: MIT

package config

import (
	"fmt"
	"slices"
	"time"
)

// Checks configures the TCP and HTTP(S) checks (checks/) and hb-probe's
// Prometheus fit: the RTT histograms, the target labels exported on
// per-host series and the blackbox-style /probe endpoint
// (docs/checks.md, docs/api.md).
type Checks struct {
	Interval     Duration `toml:"interval"`       // default interval of tcp/http checks
	Timeout      Duration `toml:"timeout"`        // default timeout of tcp/http checks
	Concurrency  int      `toml:"concurrency"`    // tcp/http checks in flight at once, at most
	MaxBodyBytes int64    `toml:"max_body_bytes"` // HTTP body bytes read (and searched by body_contains)

	// Prometheus fit.
	ExportLabels []string  `toml:"export_labels"` // target-file labels added to per-host series
	RTTBuckets   []float64 `toml:"rtt_buckets"`   // RTT histogram upper bounds, seconds, ascending
	// RTTNativeFactor is the growth factor between adjacent native
	// histogram buckets, served to scrapers that negotiate the protobuf
	// exposition (client_golang's NativeHistogramBucketFactor: 1.1 is
	// schema 3, 8 buckets per octave); 0: no native buckets.
	RTTNativeFactor float64 `toml:"rtt_native_factor"`
	ProbeRoute      bool    `toml:"probe_route"` // serve GET /probe?target=…&module=…
	ProbeOpen       bool    `toml:"probe_open"`  // /probe without the bearer token
	ProbeLimit      int     `toml:"probe_limit"` // /probe requests running at once (more get 503)
	ProbeRate       float64 `toml:"probe_rate"`  // /probe requests per second, burst probe_limit (more get 429); 0: no limit
}

// DefaultRTTBuckets are the RTT histogram's classic buckets: 1-2.5-5 steps
// from 10 µs to 10 s (19 bounds plus +Inf), covering loopback to
// intercontinental paths and slow HTTP.
var DefaultRTTBuckets = []float64{
	10e-6, 25e-6, 50e-6,
	100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3,
	10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10,
}

// DefaultChecks returns the [checks] defaults.
func DefaultChecks() Checks {
	return Checks{
		Interval:        Duration(10 * time.Second),
		Timeout:         Duration(5 * time.Second),
		Concurrency:     256,
		MaxBodyBytes:    64 << 10,
		ExportLabels:    []string{},
		RTTBuckets:      slices.Clone(DefaultRTTBuckets),
		RTTNativeFactor: 1.1,
		ProbeRoute:      true,
		ProbeLimit:      16,
		ProbeRate:       50,
	}
}

// reservedLabels are label names the per-host series already carry.
var reservedLabels = []string{"host", "addr", "check", "kind", "le", "state", "instance", "job"}

func (c *Checks) validate() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("checks.%s: "+format, append([]any{key}, a...)...))
	}
	if c.Interval <= 0 {
		bad("interval", "must be positive, got %v", c.Interval)
	}
	if c.Timeout <= 0 || c.Timeout.D() > 10*time.Minute {
		bad("timeout", "must be in (0, 10m], got %v", c.Timeout)
	}
	if c.Concurrency < 1 || c.Concurrency > 65536 {
		bad("concurrency", "must be 1-65536, got %d", c.Concurrency)
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > 64<<20 {
		bad("max_body_bytes", "must be 1-%d, got %d", 64<<20, c.MaxBodyBytes)
	}
	seen := map[string]bool{}
	for _, l := range c.ExportLabels {
		switch {
		case !validPromLabel(l):
			bad("export_labels", "%q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)", l)
		case slices.Contains(reservedLabels, l):
			bad("export_labels", "%q is already used by hb's series", l)
		case seen[l]:
			bad("export_labels", "%q given twice", l)
		}
		seen[l] = true
	}
	if len(c.RTTBuckets) == 0 || len(c.RTTBuckets) > 64 {
		bad("rtt_buckets", "want 1-64 bounds, got %d", len(c.RTTBuckets))
	}
	for i, b := range c.RTTBuckets {
		if !(b > 0) || (i > 0 && b <= c.RTTBuckets[i-1]) {
			bad("rtt_buckets", "bounds must be positive and strictly ascending (bound %d is %g)", i+1, b)
			break
		}
	}
	if f := c.RTTNativeFactor; f != 0 && !(f > 1 && f <= 65536) {
		bad("rtt_native_factor", "must be 0 (no native histogram) or in (1, 65536], got %g", f)
	}
	if c.ProbeRate < 0 || c.ProbeRate > 1e6 {
		bad("probe_rate", "must be 0 (no limit) to 1000000, got %g", c.ProbeRate)
	}
	if c.ProbeLimit < 1 || c.ProbeLimit > 1024 {
		bad("probe_limit", "must be 1-1024, got %d", c.ProbeLimit)
	}
	return errs
}

func validPromLabel(s string) bool {
	if s == "" || len(s) > 64 || (len(s) >= 2 && s[:2] == "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
