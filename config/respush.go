// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultPushPort is where hb-probe (and hbd) receive heartbeats.
const DefaultPushPort = 50003

// ResponderPush is hb-responder's [push] section: heartbeats to hb-probe
// (docs/push.md). Servers empty disables pushing.
type ResponderPush struct {
	Servers  []string      `toml:"servers"`  // HOST[:PORT] (IPv4, IPv6 "[::1]:50003", names resolved every 5 min); --push
	Interval Duration      `toml:"interval"` // default 10s
	Name     string        `toml:"name"`     // host name sent; "" = the hostname
	Seal     bool          `toml:"seal"`     // encrypt the body (XChaCha20-Poly1305); needs key_file
	Boot     bool          `toml:"boot"`     // send a boot message on start (-b)
	Checks   []NagiosCheck `toml:"checks"`   // allow-listed Nagios plugins; results travel in the heartbeat
}

// DefaultResponderPush returns the [push] defaults.
func DefaultResponderPush() ResponderPush {
	return ResponderPush{Interval: Duration(10 * time.Second), Boot: true}
}

// Validate checks the section and fills in the checks' defaults.
func (c *ResponderPush) Validate() error {
	var errs []error
	if c.Interval < Duration(time.Second) {
		errs = append(errs, fmt.Errorf("push.interval: must be at least 1s, got %v", c.Interval.D()))
	}
	for _, s := range c.Servers {
		if _, _, err := SplitPushServer(s); err != nil {
			errs = append(errs, fmt.Errorf("push.servers: %w", err))
		}
	}
	seen := map[string]bool{}
	for i := range c.Checks {
		if err := c.Checks[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("push.checks: %w", err))
		} else if seen[c.Checks[i].Name] {
			errs = append(errs, fmt.Errorf("push.checks: %q defined twice", c.Checks[i].Name))
		}
		seen[c.Checks[i].Name] = true
	}
	return errors.Join(errs...)
}

// SplitPushServer splits HOST[:PORT] (IPv6 literals bare or in brackets).
func SplitPushServer(s string) (string, int, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), DefaultPushPort, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") && s != "" {
			return strings.Trim(s, "[]"), DefaultPushPort, nil
		}
		return "", 0, fmt.Errorf("%q: want HOST[:PORT]", s)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || h == "" {
		return "", 0, fmt.Errorf("%q: bad port", s)
	}
	return h, n, nil
}

// NagiosCheck is one allow-listed Nagios-compatible plugin hb-responder
// runs (hbd's nagios_runner). Command is the argv, run without a shell;
// Command[0] must be an absolute path.
type NagiosCheck struct {
	Name     string   `toml:"name"`     // metric and event name: nagios_NAME_status
	Command  []string `toml:"command"`  // ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-p", "/"]
	Interval Duration `toml:"interval"` // default 60s
	Timeout  Duration `toml:"timeout"`  // default 10s (at most interval); a check that runs longer is killed and UNKNOWN
}

// Validate checks c and fills in its defaults.
func (c *NagiosCheck) Validate() error {
	if c.Name == "" || len(c.Name) > 64 {
		return errors.New("nagios check: name must be 1-64 characters")
	}
	if len(c.Command) == 0 || !filepath.IsAbs(c.Command[0]) {
		return fmt.Errorf("nagios check %q: command[0] must be an absolute path (no shell, no PATH lookup)", c.Name)
	}
	if c.Interval == 0 {
		c.Interval = Duration(time.Minute)
	}
	if c.Timeout == 0 {
		c.Timeout = min(Duration(10*time.Second), c.Interval)
	}
	if c.Interval < Duration(time.Second) || c.Timeout <= 0 || c.Timeout > c.Interval {
		return fmt.Errorf("nagios check %q: want interval >= 1s and 0 < timeout <= interval", c.Name)
	}
	return nil
}
