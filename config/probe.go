// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// ProbeFile is hb-probe's config file name in the discovery directories.
const ProbeFile = "hb-probe.toml"

// Probe is hb-probe's configuration: TOML keys, their defaults in
// DefaultProbe, and the command-line flags that override them (named in
// each comment). Paths are used as written; relative ones are relative to
// the working directory.
type Probe struct {
	Targets      string   `toml:"targets"`       // --targets: target list file
	Interval     Duration `toml:"interval"`      // --interval: how often each target is probed
	Timeout      Duration `toml:"timeout"`       // --timeout: how long a probe waits for its reply
	Count        int      `toml:"count"`         // --count: probes per target with --once
	Rate         int      `toml:"rate"`          // --rate: global probes/s (0: unlimited)
	Batch        int      `toml:"batch"`         // --batch: sendmmsg/recvmmsg batch size
	Proto        string   `toml:"proto"`         // --proto: auto, icmp or udp
	UDPPort      int      `toml:"udp_port"`      // --udp-port: responder port for proto udp
	KeyFile      string   `toml:"key_file"`      // --key: shared key file
	KeyID        int      `toml:"key_id"`        // --key-id
	AcceptClear  bool     `toml:"accept_clear"`  // --accept-clear: with a key, still accept clear blobs
	NoKernelTx   bool     `toml:"no_kernel_tx"`  // --no-kernel-tx
	TX           string   `toml:"tx"`            // --tx: auto, packet or raw (raw ICMP/ICMPv6 transmit path)
	RX           string   `toml:"rx"`            // --rx: auto, ring or raw (raw ICMP/ICMPv6 receive path)
	MaxTargets   int      `toml:"max_targets"`   // --max-targets
	ResolveEvery Duration `toml:"resolve_every"` // --resolve-every: re-resolve hostnames (0: never)
	StaleAfter   Duration `toml:"stale_after"`   // --stale-after: health older than this is stale
	Shard        string   `toml:"shard"`         // --shard: "k/n", probe only shard k of n (1-based); "" all
	LogLevel     string   `toml:"log_level"`     // --log-level: debug, info, warn, error
	GCPercent    int      `toml:"gc_percent"`    // --gc-percent: the Go collector's GOGC for the daemon (GOGC in the environment wins)

	Store ProbeStore `toml:"store"`
	API   ProbeAPI   `toml:"api"`
	FSM   ProbeFSM   `toml:"fsm"`

	// Sections owned by other packages (config/sections.go and the files
	// named there).
	Alerts Alerts `toml:"alerts"`
	Push   Push   `toml:"push"`
	Checks Checks `toml:"checks"`
	Web    Web    `toml:"web"`
	Users  []User `toml:"users,omitempty"`
}

// ProbeStore configures the history database.
type ProbeStore struct {
	DB        string   `toml:"db"`        // --db: database file; "" = the default location
	Retention Duration `toml:"retention"` // --retention: keep history this long (0: forever)
}

// ProbeAPI configures the HTTP API.
type ProbeAPI struct {
	Listen      string `toml:"listen"`       // --listen: host:port; "" or "off" disables the API
	TokenFile   string `toml:"token_file"`   // --token-file: bearer token file; "" = no auth
	OpenMetrics bool   `toml:"open_metrics"` // /metrics without the token
	Pprof       bool   `toml:"pprof"`        // Go profiles under /debug/pprof/ (behind the token)
}

// ProbeFSM configures the per-host state machine.
type ProbeFSM struct {
	FailuresToDown int     `toml:"failures_to_down"` // consecutive failures from up to down
	SuccessesToUp  int     `toml:"successes_to_up"`  // consecutive successes to up
	EWMAAlpha      float64 `toml:"ewma_alpha"`       // weight of a new RTT in the smoothed RTT
}

// DefaultGCPercent is the daemon's default gc_percent: the heap may grow
// this many percent past what is live before the collector runs (the Go
// runtime's own default is 100). docs/operations.md ("Memory") gives the
// measured trade between memory and CPU.
const DefaultGCPercent = 100

// DefaultProbe returns hb-probe's defaults. The flags' defaults are the
// same values.
func DefaultProbe() Probe {
	return Probe{
		Interval:     Duration(10 * time.Second),
		Timeout:      Duration(time.Second),
		Count:        1,
		Rate:         10000,
		Batch:        64,
		Proto:        "auto",
		TX:           "auto",
		RX:           "auto",
		UDPPort:      50003,
		KeyID:        1,
		MaxTargets:   65536,
		ResolveEvery: Duration(5 * time.Minute),
		StaleAfter:   Duration(30 * time.Second),
		LogLevel:     "info",
		GCPercent:    DefaultGCPercent,
		Store:        ProbeStore{Retention: Duration(30 * 24 * time.Hour)},
		API:          ProbeAPI{Listen: "127.0.0.1:8787"},
		FSM:          ProbeFSM{FailuresToDown: 2, SuccessesToUp: 1, EWMAAlpha: 0.125},
		Alerts:       DefaultAlerts(),
		Push:         DefaultPush(),
		Checks:       DefaultChecks(),
		Web:          DefaultWeb(),
	}
}

// Validate checks every field and returns all problems at once, each
// naming its TOML key.
func (p *Probe) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
	}
	if p.Interval <= 0 {
		bad("interval", "must be positive, got %v", p.Interval)
	}
	if p.Timeout <= 0 {
		bad("timeout", "must be positive, got %v", p.Timeout)
	}
	if p.Count < 1 {
		bad("count", "must be at least 1, got %d", p.Count)
	}
	if p.Rate < 0 {
		bad("rate", "must be >= 0 (0: unlimited), got %d", p.Rate)
	}
	if p.Batch < 1 || p.Batch > 1024 {
		bad("batch", "must be 1-1024, got %d", p.Batch)
	}
	switch p.Proto {
	case "auto", "icmp", "udp":
	default:
		bad("proto", "must be auto, icmp or udp, got %q", p.Proto)
	}
	switch p.TX {
	case "auto", "packet", "raw":
	default:
		bad("tx", "must be auto, packet or raw, got %q", p.TX)
	}
	switch p.RX {
	case "auto", "ring", "raw":
	default:
		bad("rx", "must be auto, ring or raw, got %q", p.RX)
	}
	if p.UDPPort < 1 || p.UDPPort > 65535 {
		bad("udp_port", "must be 1-65535, got %d", p.UDPPort)
	}
	if p.KeyID < 1 || p.KeyID > 255 {
		bad("key_id", "must be 1-255, got %d", p.KeyID)
	}
	if p.MaxTargets < 1 {
		bad("max_targets", "must be at least 1, got %d", p.MaxTargets)
	}
	if p.ResolveEvery < 0 {
		bad("resolve_every", "must be >= 0, got %v", p.ResolveEvery)
	}
	if p.StaleAfter <= 0 { // no "never stale": the engine's zero would be its own default
		bad("stale_after", "must be positive, got %v", p.StaleAfter)
	}
	if _, err := ParseShard(p.Shard); err != nil {
		bad("shard", "%v", err)
	}
	if p.GCPercent < 10 || p.GCPercent > 1000 {
		bad("gc_percent", "must be 10-1000, got %d", p.GCPercent)
	}
	if _, err := ParseLogLevel(p.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if p.Store.Retention < 0 {
		bad("store.retention", "must be >= 0 (0: forever), got %v", p.Store.Retention)
	}
	if l := p.API.Listen; l != "" && l != "off" {
		if _, port, err := net.SplitHostPort(l); err != nil {
			bad("api.listen", "want host:port, got %q", l)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("api.listen", "bad port in %q", l)
		}
	}
	if p.FSM.FailuresToDown < 1 || p.FSM.FailuresToDown > 1000 {
		bad("fsm.failures_to_down", "must be 1-1000, got %d", p.FSM.FailuresToDown)
	}
	if p.FSM.SuccessesToUp < 1 || p.FSM.SuccessesToUp > 1000 {
		bad("fsm.successes_to_up", "must be 1-1000, got %d", p.FSM.SuccessesToUp)
	}
	if !(p.FSM.EWMAAlpha > 0 && p.FSM.EWMAAlpha <= 1) {
		bad("fsm.ewma_alpha", "must be in (0, 1], got %g", p.FSM.EWMAAlpha)
	}
	errs = append(errs, p.Alerts.validate()...)
	errs = append(errs, p.Push.validate()...)
	errs = append(errs, p.Checks.validate()...)
	errs = append(errs, p.Web.validate()...)
	errs = append(errs, validateUsers(p.Users, &p.Alerts)...)
	errs = append(errs, validateLogins(p.Users)...)
	return errors.Join(errs...)
}

// APIEnabled reports whether the API should listen.
func (a ProbeAPI) APIEnabled() bool { return a.Listen != "" && a.Listen != "off" }

// Shard selects one of N disjoint parts of a target list (DESIGN §7): a
// target belongs to shard K (1-based) when a stable hash of its key
// (the target's name) modulo N is K−1. The zero Shard keeps everything.
type Shard struct{ K, N int }

// ParseShard parses "k/n" (1 <= k <= n); "" is the zero Shard.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("want k/n with 1 <= k <= n, got %q", s)
	}
	return Shard{K: k, N: n}, nil
}

// Keep reports whether the target with this key belongs to the shard.
func (s Shard) Keep(key string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()%uint64(s.N) == uint64(s.K-1)
}

func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// ParseLogLevel maps debug, info, warn and error to slog levels.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("want debug, info, warn or error, got %q", s)
}

// LoadProbe finds (see Discover) and reads hb-probe's config file over the
// defaults. It returns the config, the file it came from ("" when none
// exists: defaults only) and an error naming FILE:LINE for bad keys. It
// does not validate: apply the command line first, then call Validate.
func LoadProbe(explicit string) (Probe, string, error) {
	p := DefaultProbe()
	path, err := Discover(explicit, ProbeFile)
	if err != nil || path == "" {
		return p, path, err
	}
	if err := DecodeStrict(path, &p); err != nil {
		return p, path, err
	}
	p.Alerts.Locate(path)
	return p, path, nil
}
