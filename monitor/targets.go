// SPDX-License-Identifier: MIT

package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/hbmon/hb/config"
	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/state"
	"github.com/hbmon/hb/targets"
)

// lookup resolves hostnames with the system resolver.
func lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// addrKind is the kind of an address line's check under c's proto.
func addrKind(c *config.Probe) obs.Kind {
	if c.Proto == "udp" {
		return obs.KindUDP
	}
	return obs.KindICMP
}

// targetList is one loaded target list: the parsed lines (for
// re-resolution) and the hosts they resolved to. Once the table holds the
// hosts, only a list with hostnames keeps them (the resolver needs them);
// the table's view is the hosts' one copy otherwise (trim).
type targetList struct {
	lines []targets.Line
	hosts []targets.Host
}

// trim drops what only re-resolution needs when the list has no
// hostnames: at 100k hosts the lines and the resolved hosts are about as
// big as the table itself.
func (tl *targetList) trim() {
	if !targets.HasHostnames(tl.lines) {
		tl.lines, tl.hosts = nil, nil
	}
}

// trimLines drops the parsed lines once the hosts are resolved, unless
// there are hostnames to re-resolve: at 100k lines they are ~25 MB that
// would otherwise stay until the store has the hosts too.
func (tl *targetList) trimLines() {
	if !targets.HasHostnames(tl.lines) {
		tl.lines = nil
	}
}

// loadTargets reads the targets file of c and the command-line targets,
// resolves and shards them.
func (m *Monitor) loadTargets(ctx context.Context, c *config.Probe) (*targetList, error) {
	if c.Targets == "" && len(m.opts.Args) == 0 {
		return nil, errors.New("no targets: set targets in the config file, or give --targets FILE or addresses as arguments")
	}
	po := targets.Options{Max: c.MaxTargets, AddrKind: addrKind(c)}
	var lines []targets.Line
	if c.Targets != "" {
		var r io.Reader = m.opts.Stdin
		name := "-"
		if c.Targets != "-" {
			f, err := os.Open(c.Targets)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r, name = f, c.Targets
		}
		if r == nil {
			r = strings.NewReader("")
		}
		ls, err := targets.Parse(r, name, po)
		if err == nil {
			err = validateLines(ls)
		}
		if err != nil {
			return nil, err
		}
		lines = ls
	}
	if len(m.opts.Args) > 0 {
		ls, err := targets.Parse(strings.NewReader(strings.Join(m.opts.Args, "\n")), "args", po)
		if err == nil {
			err = validateLines(ls)
		}
		if err != nil {
			return nil, err
		}
		lines = append(lines, ls...)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hosts, err := m.resolve(rctx, c, lines, nil)
	if err != nil {
		return nil, err
	}
	return &targetList{lines: lines, hosts: hosts}, nil
}

// resolve resolves lines and keeps c's shard.
func (m *Monitor) resolve(ctx context.Context, c *config.Probe, lines []targets.Line, prev map[string]netip.Addr) ([]targets.Host, error) {
	hosts, warns, err := targets.Resolve(ctx, lines, m.lookup, prev)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		m.log.Warn(w)
	}
	if len(hosts) > c.MaxTargets {
		return nil, fmt.Errorf("%d hosts: past max_targets %d", len(hosts), c.MaxTargets)
	}
	if len(hosts) == 0 {
		return nil, errors.New("the target list is empty")
	}
	sh, _ := config.ParseShard(c.Shard)
	if sh.N > 1 {
		kept := hosts[:0:0]
		for _, h := range hosts {
			if sh.Keep(h.Name) {
				kept = append(kept, h)
			}
		}
		m.log.Info("shard", "shard", sh.String(), "hosts", len(kept), "of", len(hosts))
		hosts = kept
	}
	return hosts, nil
}

// hostSpecs turns resolved hosts into the table's specs. Hosts sharing
// one label map (targets interns them) share one Labels slice.
func hostSpecs(hs []targets.Host) []state.HostSpec {
	out := make([]state.HostSpec, len(hs))
	shared := map[unsafe.Pointer]state.Labels{}
	for i, h := range hs {
		var ls state.Labels
		if len(h.Labels) > 0 {
			p := reflect.ValueOf(h.Labels).UnsafePointer()
			var ok bool
			if ls, ok = shared[p]; !ok {
				ls = state.LabelsFromMap(h.Labels)
				shared[p] = ls
			}
		}
		out[i] = state.HostSpec{Name: h.Name, Addr: h.Addr, Labels: ls, Parent: h.Parent, Checks: h.Checks}
	}
	return out
}

// viewSpecs returns the specs of v's hosts (with their checks' specs), in
// id order: the table's own content, for a rebuild that adds to it.
func viewSpecs(v *state.View) []state.HostSpec {
	out := make([]state.HostSpec, v.Len())
	checks := make([]obs.CheckSpec, v.NumChecks())
	for i, h := range v.Hosts() {
		out[i] = h.Spec()
		n := h.NumChecks()
		cs := checks[:n:n]
		checks = checks[n:]
		for j := range n {
			cs[j] = h.Check(j).Spec()
		}
		out[i].Checks = cs
	}
	return out
}

// startResolver re-resolves the hostnames of tl every `every`, applying
// the targets again when an address changed. A SIGHUP reload replaces it.
func (m *Monitor) startResolver(ctx context.Context, c config.Probe, tl *targetList) {
	if m.resolveCancel != nil {
		m.resolveCancel()
		m.resolveCancel = nil
	}
	every := c.ResolveEvery.D()
	if every <= 0 || !targets.HasHostnames(tl.lines) {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	m.resolveCancel = cancel
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		cur := tl.hosts
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
			}
			next, err := m.resolve(rctx, &c, tl.lines, targets.HostAddrs(cur))
			if err != nil {
				m.log.Warn("re-resolve", "err", err)
				continue
			}
			if targets.SameAddrs(cur, next) {
				continue
			}
			cur = next
			m.reloadMu.Lock()
			if rctx.Err() == nil { // else a SIGHUP reload replaced this list
				// Checks registered at run time stay.
				m.applyTargets(rctx, withRegistered(slices.Clone(next), m.registered), "re-resolve")
			}
			m.reloadMu.Unlock()
		}
	}()
}
