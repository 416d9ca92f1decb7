// SPDX-License-Identifier: MIT

package monitor

import (
	"bytes"
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

// targetList is one loaded target list: the hosts it resolved to and,
// when it has hostnames, the text of its sources (re-resolution parses it
// again: ~30 bytes a line where the parsed lines were ~300). Once the
// table holds the hosts, only a list with hostnames keeps them (the
// resolver needs them); the table's view is the hosts' one copy
// otherwise (trim).
type targetList struct {
	srcs      []targetText // nil without hostnames
	hostnames bool
	hosts     []targets.Host
}

// targetText is one source of a target list: the targets file, or the
// command-line targets (one a line).
type targetText struct {
	name string
	text []byte
}

// trim drops what only re-resolution needs when the list has no
// hostnames: at 100k hosts the resolved hosts are about three times the
// table's heap.
func (tl *targetList) trim() {
	if !tl.hostnames {
		tl.srcs, tl.hosts = nil, nil
	}
}

// loadTargets reads the targets file of c and the command-line targets,
// resolves and shards them.
func (m *Monitor) loadTargets(ctx context.Context, c *config.Probe) (*targetList, error) {
	if c.Targets == "" && len(m.opts.Args) == 0 {
		return nil, errors.New("no targets: set targets in the config file, or give --targets FILE or addresses as arguments")
	}
	var srcs []targetText
	if c.Targets != "" {
		var text []byte
		var err error
		switch {
		case c.Targets != "-":
			text, err = os.ReadFile(c.Targets)
		case m.opts.Stdin != nil:
			text, err = io.ReadAll(m.opts.Stdin)
		}
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, targetText{c.Targets, text})
	}
	if len(m.opts.Args) > 0 {
		srcs = append(srcs, targetText{"args", []byte(strings.Join(m.opts.Args, "\n"))})
	}
	// A first pass checks every line (an error names its line before any
	// lookup is made) and counts the hosts; the second resolves each line
	// as it is parsed: the parsed lines are never all in memory.
	n, hostnames := 0, false
	for _, src := range srcs {
		err := targets.ParseFunc(bytes.NewReader(src.text), src.name, m.parseOptions(c), func(l *targets.Line) error {
			n += l.Size()
			hostnames = hostnames || l.Hostname != ""
			return validateLine(l)
		})
		if err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hosts, err := m.resolve(rctx, c, srcs, n, nil)
	if err != nil {
		return nil, err
	}
	tl := &targetList{hostnames: hostnames, hosts: hosts}
	if hostnames {
		tl.srcs = srcs
	}
	return tl, nil
}

// parseOptions are the targets parser's options under c.
func (m *Monitor) parseOptions(c *config.Probe) targets.Options {
	return targets.Options{Max: c.MaxTargets, AddrKind: addrKind(c)}
}

// resolve parses and resolves the sources' lines (about n hosts; 0:
// unknown) and keeps c's shard.
func (m *Monitor) resolve(ctx context.Context, c *config.Probe, srcs []targetText, n int, prev map[string]netip.Addr) ([]targets.Host, error) {
	r := targets.NewResolver(m.lookup, prev, n)
	for _, src := range srcs {
		if err := targets.ParseFunc(bytes.NewReader(src.text), src.name, m.parseOptions(c), func(l *targets.Line) error {
			return r.Add(ctx, l)
		}); err != nil {
			return nil, err
		}
	}
	hosts, warns := r.Hosts()
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

// hostSpecs are resolved hosts as the table's specs (state.Specs), each
// converted when the table reads it: no []state.HostSpec of them all.
// Hosts sharing one label map (targets interns them) share one Labels
// slice. The conversions (the shared Labels) are made before the writer
// rebuilds the table with it (labels), off the writer.
type hostSpecs struct {
	hs     []targets.Host
	labels map[unsafe.Pointer]state.Labels
}

func newHostSpecs(hs []targets.Host) *hostSpecs {
	s := &hostSpecs{hs: hs, labels: map[unsafe.Pointer]state.Labels{}}
	for i := range hs {
		if m := hs[i].Labels; len(m) > 0 {
			p := reflect.ValueOf(m).UnsafePointer()
			if _, ok := s.labels[p]; !ok {
				s.labels[p] = state.LabelsFromMap(m)
			}
		}
	}
	return s
}

func (s *hostSpecs) Len() int { return len(s.hs) }

func (s *hostSpecs) Spec(i int) state.HostSpec {
	h := &s.hs[i]
	var ls state.Labels
	if len(h.Labels) > 0 {
		ls = s.labels[reflect.ValueOf(h.Labels).UnsafePointer()]
	}
	return state.HostSpec{Name: h.Name, Addr: h.Addr, Labels: ls, Parent: h.Parent, Checks: h.Checks}
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
	if every <= 0 || !tl.hostnames {
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
			next, err := m.resolve(rctx, &c, tl.srcs, len(cur), targets.HostAddrs(cur))
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
