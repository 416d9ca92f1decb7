// SPDX-License-Identifier: MIT

package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Push configures the heartbeat receiver, pulses and the event log
// (push/; docs/push.md). The receiver authenticates HBP1 heartbeats with
// hb-probe's key (key_file, key_id).
type Push struct {
	// Heartbeat receiver (HBP1 and legacy hbd datagrams over UDP).
	Enabled       bool     `toml:"enabled"`        // listen for heartbeats
	Listen        string   `toml:"listen"`         // UDP host:port
	Interval      Duration `toml:"interval"`       // expected heartbeat interval of a check that sets none
	Grace         Duration `toml:"grace"`          // overdue after interval + grace
	AcceptUnknown bool     `toml:"accept_unknown"` // register heartbeats from unconfigured hosts
	RequireKey    bool     `toml:"require_key"`    // drop unauthenticated HBP1 and legacy hbd datagrams
	Legacy        bool     `toml:"legacy"`         // accept hbd's "!HTB: " datagrams
	MaxSkew       Duration `toml:"max_skew"`       // drop HBP1 whose send time is further off the server's clock
	Batch         int      `toml:"batch"`          // datagrams per recvmmsg
	MaxHosts      int      `toml:"max_hosts"`      // at most this many auto-registered heartbeat hosts
	AckRate       float64  `toml:"ack_rate"`       // ACKs per second, all senders (over it: accepted, not answered)

	// Pulses.
	WatchtowerListen       string   `toml:"watchtower_listen"`        // watchtower-compatible API; "" = off
	WatchtowerPasswordFile string   `toml:"watchtower_password_file"` // file with the "password" header's value; "" = none
	PulseAutoCreate        bool     `toml:"pulse_auto_create"`        // POST /api/v1/pulse/NAME creates unknown pulses
	PulseGrace             Duration `toml:"pulse_grace"`              // grace of a pulse that sets none
	MaxPulses              int      `toml:"max_pulses"`               // limit of auto-created pulses

	// Event log.
	EventsDB          string   `toml:"events_db"`           // SQLite file; "" = the history database (store.db)
	EventsRetention   Duration `toml:"events_retention"`    // keep events this long; 0 = forever
	Journal           string   `toml:"journal"`             // JSONL message journal; "" = off
	JournalMaxSize    int64    `toml:"journal_max_size"`    // bytes before the journal rotates
	JournalMaxBackups int      `toml:"journal_max_backups"` // rotated journals kept

	// Dynamic DNS for pushing hosts whose source address changes.
	DynDNSHosts    []string `toml:"dyndns_hosts"`    // host names to keep updated
	Nsupdate       string   `toml:"nsupdate"`        // nsupdate binary
	DynDNSServer   string   `toml:"dyndns_server"`   // DNS server (host[:port]) nsupdate talks to
	DynDNSZone     string   `toml:"dyndns_zone"`     // zone the names live in
	DynDNSDomain   string   `toml:"dyndns_domain"`   // NAME becomes NAME.dyndns_domain
	DynDNSKeyFile  string   `toml:"dyndns_key_file"` // TSIG key file (nsupdate -k)
	DynDNSTTL      Duration `toml:"dyndns_ttl"`      // record TTL
	DynDNSQueue    int      `toml:"dyndns_queue"`    // pending updates; more are dropped and counted
	DynDNSDeadline Duration `toml:"dyndns_timeout"`  // per nsupdate run
	// DynDNSUnauthenticated lets heartbeats that carry no key (HBP1 key id
	// 0, legacy hbd) move DNS names too. Off: only keyed heartbeats do, so a
	// spoofed source address cannot redirect a name.
	DynDNSUnauthenticated bool `toml:"dyndns_unauthenticated"`
}

// DefaultPush returns the push section's defaults.
func DefaultPush() Push {
	return Push{
		Listen:            ":50003",
		Interval:          Duration(10 * time.Second),
		Grace:             Duration(20 * time.Second),
		Legacy:            true,
		MaxSkew:           Duration(5 * time.Minute),
		Batch:             64,
		MaxHosts:          100000,
		AckRate:           20000,
		PulseGrace:        Duration(time.Minute),
		MaxPulses:         10000,
		EventsRetention:   Duration(30 * 24 * time.Hour),
		JournalMaxSize:    10 << 20,
		JournalMaxBackups: 5,
		Nsupdate:          "/usr/bin/nsupdate",
		DynDNSTTL:         Duration(60 * time.Second),
		DynDNSQueue:       1024,
		DynDNSDeadline:    Duration(10 * time.Second),
	}
}

func validListen(l string) error {
	_, port, err := net.SplitHostPort(l)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", l)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port in %q", l)
	}
	return nil
}

func (p *Push) validate() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("push.%s: "+format, append([]any{key}, a...)...))
	}
	if p.Enabled {
		if err := validListen(p.Listen); err != nil {
			bad("listen", "%v", err)
		}
	}
	if p.Interval <= 0 {
		bad("interval", "must be positive, got %v", p.Interval)
	}
	if p.Grace < 0 {
		bad("grace", "must be >= 0, got %v", p.Grace)
	}
	if p.MaxSkew < 0 {
		bad("max_skew", "must be >= 0 (0: no check), got %v", p.MaxSkew)
	}
	if p.Batch < 1 || p.Batch > 1024 {
		bad("batch", "must be 1-1024, got %d", p.Batch)
	}
	if p.AckRate <= 0 {
		bad("ack_rate", "must be positive, got %v", p.AckRate)
	}
	if p.MaxHosts < 0 {
		bad("max_hosts", "must be >= 0, got %d", p.MaxHosts)
	}
	if p.WatchtowerListen != "" {
		if err := validListen(p.WatchtowerListen); err != nil {
			bad("watchtower_listen", "%v", err)
		}
	}
	if p.PulseGrace < 0 {
		bad("pulse_grace", "must be >= 0, got %v", p.PulseGrace)
	}
	if p.MaxPulses < 0 {
		bad("max_pulses", "must be >= 0, got %d", p.MaxPulses)
	}
	if p.EventsRetention < 0 {
		bad("events_retention", "must be >= 0 (0: forever), got %v", p.EventsRetention)
	}
	if p.JournalMaxSize < 4096 {
		bad("journal_max_size", "must be at least 4096 bytes, got %d", p.JournalMaxSize)
	}
	if p.JournalMaxBackups < 0 || p.JournalMaxBackups > 1000 {
		bad("journal_max_backups", "must be 0-1000, got %d", p.JournalMaxBackups)
	}
	if len(p.DynDNSHosts) > 0 {
		if !filepath.IsAbs(p.Nsupdate) {
			bad("nsupdate", "must be an absolute path, got %q", p.Nsupdate)
		}
		if p.DynDNSDomain == "" {
			bad("dyndns_domain", "required with dyndns_hosts")
		}
	}
	if p.DynDNSTTL < Duration(time.Second) {
		bad("dyndns_ttl", "must be at least 1s, got %v", p.DynDNSTTL)
	}
	if p.DynDNSQueue < 1 {
		bad("dyndns_queue", "must be at least 1, got %d", p.DynDNSQueue)
	}
	if p.DynDNSDeadline <= 0 {
		bad("dyndns_timeout", "must be positive, got %v", p.DynDNSDeadline)
	}
	return errs
}
