// SPDX-License-Identifier: MIT

package push

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hbmon/hb/config"
)

// DynDNS keeps DNS names of pushing hosts pointing at their heartbeats'
// source addresses: when a host in dyndns_hosts pushes from a new
// address, an update is queued and a background worker runs nsupdate
// (RFC 2136, TSIG-signed with dyndns_key_file) for NAME.dyndns_domain.
// Failures are logged and counted, never retried in a loop: the next
// address change (or restart) queues again.
type DynDNS struct {
	cfg   config.Push
	log   *slog.Logger
	hosts map[string]bool
	q     chan dnsUpdate

	Queued, Done, Failed, Dropped atomic.Uint64
}

type dnsUpdate struct {
	name string
	addr netip.Addr
}

// NewDynDNS returns the updater for c.DynDNSHosts (nil when there are
// none). Run must be running for updates to happen.
func NewDynDNS(c config.Push, log *slog.Logger) *DynDNS {
	if len(c.DynDNSHosts) == 0 {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	d := &DynDNS{cfg: c, log: log, hosts: map[string]bool{}, q: make(chan dnsUpdate, max(c.DynDNSQueue, 1))}
	for _, h := range c.DynDNSHosts {
		d.hosts[h] = true
	}
	return d
}

// Moved queues an update if host is one of ours. It never blocks: a full
// queue drops the update and counts it.
func (d *DynDNS) Moved(host string, addr netip.Addr) {
	if d == nil || !d.hosts[host] || !addr.IsValid() {
		return
	}
	select {
	case d.q <- dnsUpdate{host, addr}:
		d.Queued.Add(1)
	default:
		d.Dropped.Add(1)
	}
}

// Run applies queued updates one at a time until ctx ends.
func (d *DynDNS) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case u := <-d.q:
			if err := d.apply(ctx, u); err != nil {
				d.Failed.Add(1)
				d.log.Warn("dyndns: update failed", "host", u.name, "addr", u.addr, "err", err)
			} else {
				d.Done.Add(1)
				d.log.Info("dyndns: updated", "host", u.name, "addr", u.addr)
			}
		}
	}
}

// Script returns the nsupdate input that points host's name at addr.
func (d *DynDNS) Script(host string, addr netip.Addr) string {
	fqdn := host + "." + strings.TrimSuffix(d.cfg.DynDNSDomain, ".") + "."
	typ := "A"
	if addr.Is6() && !addr.Is4In6() {
		typ = "AAAA"
	}
	var b strings.Builder
	if s := d.cfg.DynDNSServer; s != "" {
		if h, p, ok := strings.Cut(s, ":"); ok && !strings.Contains(p, ":") {
			fmt.Fprintf(&b, "server %s %s\n", h, p)
		} else {
			fmt.Fprintf(&b, "server %s\n", s)
		}
	}
	if z := d.cfg.DynDNSZone; z != "" {
		fmt.Fprintf(&b, "zone %s\n", z)
	}
	fmt.Fprintf(&b, "update delete %s %s\n", fqdn, typ)
	fmt.Fprintf(&b, "update add %s %d %s %s\n", fqdn, int(time.Duration(d.cfg.DynDNSTTL)/time.Second), typ, addr.Unmap())
	b.WriteString("send\n")
	return b.String()
}

func (d *DynDNS) apply(ctx context.Context, u dnsUpdate) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d.cfg.DynDNSDeadline))
	defer cancel()
	var args []string
	if d.cfg.DynDNSKeyFile != "" {
		args = append(args, "-k", d.cfg.DynDNSKeyFile)
	}
	cmd := exec.CommandContext(ctx, d.cfg.Nsupdate, args...)
	cmd.Stdin = strings.NewReader(d.Script(u.name, u.addr))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", d.cfg.Nsupdate, err, strings.TrimSpace(out.String()))
	}
	return nil
}
