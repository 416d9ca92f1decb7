// SPDX-License-Identifier: MIT

package prober

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/targets"
)

// DefaultMaxTargets caps how many addresses a target list may expand to.
const DefaultMaxTargets = 65536

// Target is one address to probe, with its labels.
type Target struct {
	Addr   netip.Addr
	Name   string            // the name= label, else the hostname, else the address
	Host   string            // the hostname it was resolved from; "" for literals and CIDRs
	Labels map[string]string // key=value labels other than name; nil when none
	Pos    string            // FILE:LINE where it was declared
	// Legacy (legacy=hbm2): the host runs the legacy monitor's responder,
	// whose HBM v2 replies carry no cookie; they are accepted from it
	// alone (docs/security.md).
	Legacy bool
	// ID is the caller's name for the target (the daemon's check id),
	// kept by the engine and handed back in Result.ID. It must fit in
	// 32 bits (0 <= ID < 1<<31).
	ID int
}

// Spec is one parsed line of a target list, before resolution and CIDR
// expansion. Exactly one of Addr, Prefix and Host is set.
type Spec struct {
	Addr   netip.Addr
	Prefix netip.Prefix
	Host   string
	Name   string
	Labels map[string]string
	Pos    string // FILE:LINE
	Legacy bool   // legacy=hbm2 (the value is checked by package targets)
}

// LineError is a target-list line that does not parse (targets.LineError:
// one grammar for the daemon and --once).
type LineError = targets.LineError

// ErrTooMany is wrapped by the error for a list past its cap.
var ErrTooMany = targets.ErrTooMany

// ParseSpecs reads a target list: one target per line — an IPv4 or IPv6
// address, a hostname, or a CIDR prefix — followed by optional name=NAME
// and key=value labels; '#' starts a comment. file names the source in
// errors ("-" for stdin). max caps the addresses the list expands to (0:
// DefaultMaxTargets).
func ParseSpecs(r io.Reader, file string, max int) ([]Spec, error) {
	if max <= 0 {
		max = DefaultMaxTargets
	}
	var specs []Spec
	// A regular file's size bounds its lines (the shortest address line,
	// "1.2.3.4\n", is 8 bytes): one allocation up front instead of a
	// dozen doublings, each copied and faulted in (a fresh allocation's
	// pages that stay unused cost nothing).
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > 64*8 {
			specs = make([]Spec, 0, min(st.Size()/8+1, int64(max)))
		}
	}
	total := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var pos strArena
	for n := 1; sc.Scan(); n++ {
		// The bare fast path reads the scanner's bytes in place (the
		// line is not kept; a Pos is built in the arena).
		if s, ok := bareAddrSpec(unsafe.String(unsafe.SliceData(sc.Bytes()), len(sc.Bytes())), file, n, &pos); ok {
			if total += s.size(max); total > max {
				return nil, &LineError{File: file, Line: n, Msg: fmt.Sprintf("%v: the list expands past the cap of %d addresses (split it, or raise --max-targets)", ErrTooMany, max)}
			}
			if len(specs) == cap(specs) { // double: append grows big slices by 1.25×
				specs = slices.Grow(specs, len(specs)+64)
			}
			specs = append(specs, s)
			continue
		}
		s, err := ParseSpec(sc.Text(), file, n)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		total += s.size(max)
		if total > max {
			return nil, &LineError{File: file, Line: n, Msg: fmt.Sprintf("%v: the list expands past the cap of %d addresses (split it, or raise --max-targets)", ErrTooMany, max)}
		}
		specs = append(specs, *s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return specs, nil
}

// bareAddrSpec is ParseSpec's result for a line that is one address and
// nothing else (generated lists of many thousand lines), without the
// grammar's allocations; ok is false for any other line, which then takes
// the grammar's path. Zoned addresses take it too.
func bareAddrSpec(line, file string, n int, pos *strArena) (Spec, bool) {
	t := strings.TrimSpace(line)
	if strings.IndexByte(t, '/') >= 0 { // a bare CIDR (zmap's allow-list format)
		p, err := netip.ParsePrefix(t)
		if err != nil || p != p.Masked() || p.Addr().Is4In6() {
			return Spec{}, false // the grammar's path names the error
		}
		return Spec{Prefix: p, Pos: pos.filePos(file, n)}, true
	}
	a, err := netip.ParseAddr(t)
	if err != nil || a.Zone() != "" {
		return Spec{}, false
	}
	return Spec{Addr: a.Unmap(), Pos: pos.filePos(file, n)}, true
}

// strArena builds many small strings that live as long as each other (a
// list's FILE:LINE positions, its targets' names) in shared chunks: one
// allocation per chunk instead of one or two per string. Bytes once
// handed out are never written again.
type strArena struct{ buf []byte }

const strArenaChunk = 32 << 10

// add returns the string that f appends to an empty buffer (f must
// append at most 256 bytes; longer strings get their own allocation).
func (a *strArena) add(f func([]byte) []byte) string {
	if cap(a.buf)-len(a.buf) < 256 {
		a.buf = make([]byte, 0, strArenaChunk)
	}
	start := len(a.buf)
	a.buf = f(a.buf)
	if cap(a.buf) != strArenaChunk || len(a.buf)-start > 256 {
		// f outgrew the chunk (append moved it): keep this string, start
		// a fresh chunk next time.
		s := string(a.buf[start:])
		a.buf = nil
		return s
	}
	b := a.buf[start:]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// filePos is "file:n".
func (a *strArena) filePos(file string, n int) string {
	if len(file) > 200 {
		return file + ":" + strconv.Itoa(n)
	}
	return a.add(func(b []byte) []byte { return strconv.AppendInt(append(append(b, file...), ':'), int64(n), 10) })
}

// addr is a.String().
func (a *strArena) addr(x netip.Addr) string {
	if x.Zone() != "" {
		return x.String()
	}
	return a.add(x.AppendTo)
}

// ParseSpec parses one line with the daemon's grammar (package targets);
// it returns nil for a blank or comment line. Only address lines (an
// address, hostname or CIDR) are probe targets: tcp://, http(s)://,
// heartbeat:// and pulse:// lines are an error here, as are their options.
func ParseSpec(line, file string, n int) (*Spec, error) {
	l, err := targets.ParseLine(line, file, n, obs.KindICMP)
	if err != nil || l == nil {
		return nil, err
	}
	if l.Kind != obs.KindICMP {
		return nil, &LineError{File: file, Line: n, Msg: fmt.Sprintf("%q: a %s check; only addresses, hostnames and CIDRs are probed here", l.Target, l.Kind)}
	}
	if l.Parent != "" {
		return nil, &LineError{File: file, Line: n, Msg: "parent= is for the daemon's targets"}
	}
	labels := l.Labels
	for k, v := range l.Params { // icmp options other than legacy= stay labels here
		if k == "legacy" {
			continue
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[k] = v
	}
	return &Spec{Addr: l.Addr, Prefix: l.Prefix, Host: l.Hostname, Name: l.Name, Labels: labels, Pos: l.Pos,
		Legacy: l.Params["legacy"] == "hbm2"}, nil
}

// size is how many addresses s expands to, saturating at max+1.
func (s *Spec) size(max int) int {
	if !s.Prefix.IsValid() {
		return 1
	}
	host := s.Prefix.Addr().BitLen() - s.Prefix.Bits()
	if host >= 31 || 1<<host > max+2 {
		return max + 1
	}
	n := 1 << host
	if s.Prefix.Addr().Is4() && host >= 2 {
		n -= 2 // network and broadcast, as fping -g does
	}
	return n
}

// LookupFunc resolves a hostname; net.DefaultResolver.LookupNetIP with
// network "ip" fits after a closure.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// Resolve expands specs into targets: CIDRs become their addresses (IPv4
// prefixes of /30 and wider without network and broadcast), hostnames are
// looked up (the first address returned is used, IPv4 preferred).
// Duplicate addresses are merged into the first declaration; each merge is
// reported in warnings. prev, when not nil, supplies the last known address
// of a hostname whose lookup fails now (re-resolution keeps the old
// address and warns); without it a failed lookup is an error naming the
// line.
func Resolve(ctx context.Context, specs []Spec, lookup LookupFunc, prev map[string]netip.Addr) (out []Target, warnings []string, err error) {
	n := 0 // room for the expansion, bounded (a caller may pass unchecked specs)
	for i := range specs {
		n = min(n+specs[i].size(1<<20), 1<<20)
	}
	out = make([]Target, 0, n)
	// While addresses come in ascending order (generated lists, CIDRs)
	// none can repeat an earlier one, and no map is needed; the first
	// address out of order builds it from what came before.
	var seen map[netip.Addr]int
	var names strArena // the address names of literal and CIDR targets
	add := func(t Target) {
		if seen == nil {
			if len(out) == 0 || out[len(out)-1].Addr.Less(t.Addr) {
				out = append(out, t)
				return
			}
			seen = make(map[netip.Addr]int, n)
			for i := range out {
				seen[out[i].Addr] = i
			}
		}
		if i, dup := seen[t.Addr]; dup {
			warnings = append(warnings, fmt.Sprintf("%s: %v duplicates %s; merged", t.Pos, t.Addr, out[i].Pos))
			out[i].Legacy = out[i].Legacy || t.Legacy
			for k, v := range t.Labels {
				if _, ok := out[i].Labels[k]; !ok {
					if out[i].Labels == nil {
						out[i].Labels = map[string]string{}
					}
					out[i].Labels[k] = v
				}
			}
			return
		}
		seen[t.Addr] = len(out)
		out = append(out, t)
	}
	for _, s := range specs {
		switch {
		case s.Addr.IsValid():
			name := s.Name
			if name == "" {
				name = names.addr(s.Addr)
			}
			add(Target{Addr: s.Addr, Name: name, Labels: cloneLabels(s.Labels), Pos: s.Pos, Legacy: s.Legacy})
		case s.Prefix.IsValid():
			a, last := targets.HostRange(s.Prefix)
			for ; ; a = a.Next() {
				name := s.Name
				if name == "" {
					name = names.addr(a)
				}
				add(Target{Addr: a, Name: name, Labels: cloneLabels(s.Labels), Pos: s.Pos, Legacy: s.Legacy})
				if a == last {
					break
				}
			}
		default:
			if lookup == nil {
				return nil, nil, fmt.Errorf("%s: hostname %q but no resolver", s.Pos, s.Host)
			}
			addrs, lerr := lookup(ctx, s.Host)
			a, ok := targets.PickAddr(addrs)
			if lerr != nil || !ok {
				if old, had := prev[s.Host]; had {
					warnings = append(warnings, fmt.Sprintf("%s: resolving %s failed (%v); keeping %v", s.Pos, s.Host, orErr(lerr), old))
					a = old
				} else {
					return nil, nil, fmt.Errorf("%s: resolving %s: %v", s.Pos, s.Host, orErr(lerr))
				}
			}
			add(Target{Addr: a, Name: orDefault(s.Name, s.Host), Host: s.Host, Labels: cloneLabels(s.Labels), Pos: s.Pos, Legacy: s.Legacy})
		}
	}
	return out, warnings, nil
}

func orErr(err error) error {
	if err == nil {
		return errors.New("no address")
	}
	return err
}

func orDefault(s, d string) string {
	if s != "" {
		return s
	}
	return d
}

func cloneLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// HostAddrs returns hostname → address for the targets resolved from a
// hostname: the prev argument of the next Resolve.
func HostAddrs(ts []Target) map[string]netip.Addr {
	m := map[string]netip.Addr{}
	for _, t := range ts {
		if t.Host != "" {
			m[t.Host] = t.Addr
		}
	}
	return m
}

// HasHostnames reports whether any spec needs a lookup.
func HasHostnames(specs []Spec) bool {
	return slices.ContainsFunc(specs, func(s Spec) bool { return s.Host != "" })
}

// Reresolve resolves specs again every period until ctx ends, and calls
// apply with the new target list whenever an address changed. A failed
// lookup keeps the previous address. It returns at once when no spec is a
// hostname. warn receives Resolve's warnings.
func Reresolve(ctx context.Context, specs []Spec, current []Target, every time.Duration, lookup LookupFunc, apply func([]Target), warn func(string)) {
	if !HasHostnames(specs) || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next, warns, err := Resolve(ctx, specs, lookup, HostAddrs(current))
		for _, w := range warns {
			warn(w)
		}
		if err != nil {
			warn(err.Error())
			continue
		}
		if !sameAddrs(current, next) {
			current = next
			apply(next)
		}
	}
}

func sameAddrs(a, b []Target) bool {
	return slices.EqualFunc(a, b, func(x, y Target) bool { return x.Addr == y.Addr })
}
