// SPDX-License-Identifier: MIT

package targets

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hbmon/hb/obs"
)

// DefaultMaxTargets caps how many addresses a target list may expand to.
const DefaultMaxTargets = 65536

// Keys are the option keys each kind of check takes on a targets line;
// they go to CheckSpec.Params (timeout= and interval= to the CheckSpec's
// fields). Every other key=value is a host label. A key that is known for
// another kind but not for the line's is an error, so a typo'd kind is not
// silently taken for a label. Packages adding a kind or an option add its
// keys here (one table for the whole grammar).
var Keys = map[obs.Kind][]string{
	obs.KindICMP:      {"legacy"},
	obs.KindUDP:       {"legacy"},
	obs.KindTCP:       {"check", "timeout", "interval", "ip"},
	obs.KindHTTP:      {"check", "timeout", "interval", "method", "host_header", "no_verify_tls", "ip"},
	obs.KindHeartbeat: {"grace", "interval", "legacy"},
	obs.KindPulse:     {"grace", "interval"},
}

// Flags are the option keys that may be given bare ("no_verify_tls"), as
// if written key=true.
var Flags = []string{"no_verify_tls"}

// Repeatable are the option keys that may be given more than once on a
// line; their values are joined with obs.ParamSep (read them back with
// obs.ParamList).
var Repeatable = []string{"check"}

// Host is one host of a resolved target list: its checks and what the
// API reports about it.
type Host struct {
	Name     string
	Addr     netip.Addr        // primary address: the first check's that has one
	Labels   map[string]string // nil when none; read-only, shared among hosts with the same labels
	Parent   string            // parent=NAME
	Pos      string            // FILE:LINE where it was first declared
	Hostname string            // the hostname its address was resolved from ("" for literals)
	Checks   []obs.CheckSpec
	// Resolved maps each hostname looked up for this host's checks to the
	// address used: the prev argument of the next Resolve (HostAddrs).
	Resolved map[string]netip.Addr

	poses []string // FILE:LINE of each check but the first (Pos), while resolving
}

// Line is one parsed line of a target list, before resolution and CIDR
// expansion.
type Line struct {
	Pos  string // FILE:LINE
	Kind obs.Kind
	// Address lines and the host part of tcp:// and http(s):// lines:
	// exactly one of Addr, Prefix (address lines only) and Hostname.
	Addr     netip.Addr
	Prefix   netip.Prefix
	Hostname string
	Push     string // heartbeat://NAME, pulse://NAME: NAME
	Check    string // the check's name: "icmp", "tcp:22", "http:/health", "heartbeat"
	Target   string // the first field, as written

	Name     string // name=
	Parent   string // parent=
	Labels   map[string]string
	Params   map[string]string
	Interval time.Duration
	Timeout  time.Duration
}

// LineError is a target-list line that does not parse, or that clashes
// with another.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ErrTooMany is wrapped by the error for a list past its cap.
var ErrTooMany = errors.New("too many targets")

// Options tune Parse.
type Options struct {
	// Max caps the addresses the list expands to (0: DefaultMaxTargets).
	Max int
	// AddrKind is the kind of the check of an address line: icmp (the
	// default) or udp (the prober's proto).
	AddrKind obs.Kind
}

// Parse reads a target list (grammar: docs/prober.md). file names the
// source in errors ("-" for stdin).
func Parse(r io.Reader, file string, o Options) ([]Line, error) {
	var lines []Line
	err := ParseFunc(r, file, o, func(l *Line) error {
		lines = append(lines, *l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lines, nil
}

// ParseFunc is Parse handing each line to fn as it is read, without
// keeping them (fn may keep *l: each line is a new one); an error from fn
// ends it with that error. With a Resolver as fn, a list becomes hosts
// without all its lines in memory at once.
func ParseFunc(r io.Reader, file string, o Options, fn func(*Line) error) error {
	if o.Max <= 0 {
		o.Max = DefaultMaxTargets
	}
	if o.AddrKind == obs.KindInvalid {
		o.AddrKind = obs.KindICMP
	}
	total := 0
	in := interner{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l, err := ParseLine(sc.Text(), file, n, o.AddrKind)
		if err != nil {
			return err
		}
		if l == nil {
			continue
		}
		total += l.size(o.Max)
		if total > o.Max {
			return &LineError{file, n, fmt.Sprintf("%v: the list expands past the cap of %d addresses (split it, or raise --max-targets)", ErrTooMany, o.Max)}
		}
		l.Labels, l.Params = in.get(l.Labels), in.get(l.Params)
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// interner shares one map among the lines whose labels (or options) are
// the same: a list of 100k hosts with "site=dc1" keeps a few maps, not
// 100k. The maps of Parse's lines are read-only.
type interner map[string]map[string]string

// get returns the shared map equal to m (nil for an empty m).
func (in interner) get(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	if s, ok := in[b.String()]; ok {
		return s
	}
	in[b.String()] = m
	return m
}

// ParseLine parses one line; it returns nil for a blank or comment line.
// addrKind is the kind of an address line's check (icmp or udp).
func ParseLine(line, file string, n int, addrKind obs.Kind) (*Line, error) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil, nil
	}
	bad := func(format string, a ...any) error { return &LineError{file, n, fmt.Sprintf(format, a...)} }
	l := &Line{Pos: file + ":" + strconv.Itoa(n), Target: fields[0]}
	t := fields[0]
	if scheme, rest, ok := strings.Cut(t, "://"); ok {
		if err := l.parseURL(scheme, rest, t); err != nil {
			return nil, bad("%s", err)
		}
	} else if err := l.parseAddr(t, addrKind); err != nil {
		return nil, bad("%s", err)
	}
	known := Keys[l.Kind]
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok && slices.Contains(Flags, f) && slices.Contains(known, f) {
			k, v, ok = f, "true", true
		}
		switch {
		case !ok:
			return nil, bad("%q: expected key=value after the target", f)
		case k == "":
			return nil, bad("%q: empty label key", f)
		case !validKey(k):
			return nil, bad("label key %q: use letters, digits, '_', '-' and '.'", k)
		case v == "":
			return nil, bad("label %q has an empty value", k)
		case k == "name":
			if l.Name != "" {
				return nil, bad("name given twice")
			}
			if err := validName(v); err != nil {
				return nil, bad("name %q: %v", v, err)
			}
			l.Name = v
		case k == "parent":
			if l.Parent != "" {
				return nil, bad("parent given twice")
			}
			l.Parent = v
		case slices.Contains(known, k):
			if err := l.setParam(k, v); err != nil {
				return nil, bad("%s", err)
			}
		case knownElsewhere(k):
			return nil, bad("%s= does not apply to %s checks (it is for %s)", k, l.Kind, kindsOf(k))
		default:
			if _, dup := l.Labels[k]; dup {
				return nil, bad("label %q given twice", k)
			}
			if l.Labels == nil {
				l.Labels = map[string]string{}
			}
			l.Labels[k] = v
		}
	}
	if l.Name != "" && l.Prefix.IsValid() && l.size(2) > 1 {
		return nil, bad("name= on CIDR %v would name many hosts alike; use labels instead", l.Prefix)
	}
	if l.Parent != "" && l.Parent == l.Name {
		return nil, bad("host %q is its own parent", l.Name)
	}
	return l, nil
}

func (l *Line) setParam(k, v string) error {
	switch k {
	case "timeout", "interval":
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s=%s: want a positive duration such as 5s", k, v)
		}
		if k == "timeout" {
			if l.Timeout != 0 {
				return fmt.Errorf("timeout given twice")
			}
			l.Timeout = d
		} else {
			if l.Interval != 0 {
				return fmt.Errorf("interval given twice")
			}
			l.Interval = d
		}
		return nil
	}
	if k == "legacy" && (l.Kind == obs.KindICMP || l.Kind == obs.KindUDP) && v != "hbm2" {
		return fmt.Errorf("legacy=%s: the one legacy protocol of %s checks is hbm2 (legacy=hbm2)", v, l.Kind)
	}
	if l.Params == nil {
		l.Params = map[string]string{}
	}
	if old, dup := l.Params[k]; dup {
		if !slices.Contains(Repeatable, k) {
			return fmt.Errorf("%s given twice", k)
		}
		v = old + obs.ParamSep + v
	}
	l.Params[k] = v
	return nil
}

func knownElsewhere(k string) bool {
	for _, ks := range Keys {
		if slices.Contains(ks, k) {
			return true
		}
	}
	return false
}

func kindsOf(k string) string {
	var out []string
	for kind := obs.Kind(1); kind < obs.NumKinds; kind++ {
		if slices.Contains(Keys[kind], k) {
			out = append(out, kind.String())
		}
	}
	return strings.Join(out, ", ")
}

// parseAddr reads an address line's first field: an address, a CIDR or
// a hostname.
func (l *Line) parseAddr(t string, kind obs.Kind) error {
	l.Kind, l.Check = kind, kind.String()
	switch {
	case strings.Contains(t, "="):
		return fmt.Errorf("%q: the line must start with an address, hostname, CIDR or URL", t)
	case strings.Contains(t, "/"):
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return fmt.Errorf("bad CIDR %q: %v", t, err)
		}
		if p != p.Masked() {
			return fmt.Errorf("CIDR %q has host bits set (did you mean %v?)", t, p.Masked())
		}
		l.Prefix = p
		return nil
	}
	return l.parseHost(t)
}

// parseHost reads an address or a hostname.
func (l *Line) parseHost(t string) error {
	if a, err := netip.ParseAddr(t); err == nil {
		l.Addr = a.Unmap()
		if l.Addr != a {
			l.Target = l.Addr.String()
		}
		return nil
	} else if looksNumeric(t) {
		return fmt.Errorf("bad address %q: %v", t, err)
	}
	if !validHostname(t) {
		return fmt.Errorf("bad hostname %q", t)
	}
	l.Hostname = strings.TrimSuffix(strings.ToLower(t), ".")
	return nil
}

// parseURL reads tcp://HOST:PORT, http(s)://HOST[:PORT]/PATH,
// heartbeat://NAME and pulse://NAME.
func (l *Line) parseURL(scheme, rest, t string) error {
	switch scheme {
	case "tcp":
		host, port, err := splitHostPort(rest)
		if err != nil {
			return fmt.Errorf("%q: want tcp://HOST:PORT (%v)", t, err)
		}
		l.Kind, l.Check = obs.KindTCP, "tcp:"+strconv.Itoa(port)
		return l.parseHost(host)
	case "http", "https":
		u, err := url.Parse(t)
		if err != nil || u.Host == "" || u.User != nil {
			return fmt.Errorf("%q: want %s://HOST[:PORT]/PATH", t, scheme)
		}
		if u.Port() != "" {
			if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
				return fmt.Errorf("%q: bad port", t)
			}
		}
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		l.Kind, l.Check = obs.KindHTTP, "http:"+path
		return l.parseHost(u.Hostname())
	case "heartbeat", "pulse":
		if err := validName(rest); err != nil || rest == "" {
			return fmt.Errorf("%q: want %s://NAME (%v)", t, scheme, orErr(err))
		}
		l.Kind, _ = obs.ParseKind(scheme)
		l.Check, l.Push = scheme, rest
		return nil
	}
	return fmt.Errorf("%q: unknown scheme %q (want tcp, http, https, heartbeat or pulse)", t, scheme)
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	host, ps := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	if host == "" {
		return "", 0, errors.New("no host")
	}
	return host, p, nil
}

// Size is how many addresses (hosts at most) l expands to, saturating
// past 1<<22: a size hint for NewResolver.
func (l *Line) Size() int { return l.size(1 << 22) }

// size is how many addresses l expands to, saturating at max+1.
func (l *Line) size(max int) int {
	if !l.Prefix.IsValid() {
		return 1
	}
	host := l.Prefix.Addr().BitLen() - l.Prefix.Bits()
	if host >= 31 || 1<<host > max+2 {
		return max + 1
	}
	n := 1 << host
	if l.Prefix.Addr().Is4() && host >= 2 {
		n -= 2 // network and broadcast, as fping -g does
	}
	return n
}

func looksNumeric(s string) bool {
	if strings.Contains(s, ":") {
		return true
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validKey(k string) bool {
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validName accepts any printable name of up to 255 bytes. Names with
// '/', '%' or spaces are served by the API percent-encoded.
func validName(s string) error {
	if len(s) > 255 {
		return errors.New("longer than 255 bytes")
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return errors.New("control character")
		}
	}
	return nil
}

func orErr(err error) error {
	if err == nil {
		return errors.New("empty name")
	}
	return err
}

// LookupFunc resolves a hostname; net.DefaultResolver.LookupNetIP with
// network "ip" fits after a closure.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// HasHostnames reports whether any line needs a lookup.
func HasHostnames(lines []Line) bool {
	return slices.ContainsFunc(lines, func(l Line) bool { return l.Hostname != "" })
}

// Resolve turns lines into hosts. CIDRs become one host per address (IPv4
// prefixes of /30 and wider without network and broadcast); hostnames are
// looked up (the first address returned is used, IPv4 preferred). Lines
// with the same name= are one host with several checks (labels merged; a
// label given two values, two parents, or the same check twice is an error
// naming both lines). Lines without name= whose address is already a
// host's are merged into that host (and reported in warnings). prev, when
// not nil, supplies the last known address of a hostname whose lookup
// fails now (re-resolution keeps the old address and warns); without it a
// failed lookup is an error naming the line.
func Resolve(ctx context.Context, lines []Line, lookup LookupFunc, prev map[string]netip.Addr) (hosts []Host, warnings []string, err error) {
	// Sized for the addresses the lines expand to: 100k hosts grown by
	// appending allocate ~5 times their size (and the maps twice theirs).
	n := 0
	for i := range lines {
		n += lines[i].size(1 << 22)
	}
	r := NewResolver(lookup, prev, n)
	for i := range lines {
		if err := r.Add(ctx, &lines[i]); err != nil {
			return nil, nil, err
		}
	}
	hosts, warnings = r.Hosts()
	return hosts, warnings, nil
}

// Resolver is Resolve a line at a time (Add, then Hosts): fed by
// ParseFunc, the lines need not all be in memory.
type Resolver struct {
	lookup   LookupFunc
	prev     map[string]netip.Addr
	hosts    []Host
	warnings []string
	byName   map[string]int
	byAddr   map[checkKey]int // host of each check with an address
}

// NewResolver returns a Resolver sized for about n hosts (0: unknown).
func NewResolver(lookup LookupFunc, prev map[string]netip.Addr, n int) *Resolver {
	n = min(n, 1<<22)
	return &Resolver{lookup: lookup, prev: prev, hosts: make([]Host, 0, n),
		byName: make(map[string]int, n), byAddr: make(map[checkKey]int, n)}
}

// Hosts returns the hosts of the lines added and the warnings; the
// Resolver is done.
func (r *Resolver) Hosts() ([]Host, []string) {
	hosts, warnings := r.hosts, r.warnings
	for i := range hosts {
		hosts[i].poses = nil
	}
	*r = Resolver{}
	return hosts, warnings
}

// Add resolves one line into the hosts (Resolve's rules).
func (r *Resolver) Add(ctx context.Context, l *Line) error {
	addrs, err := l.addrs(ctx, r.lookup, r.prev, &r.warnings)
	if err != nil {
		return err
	}
	hosts, byName, byAddr := r.hosts, r.byName, r.byAddr
	defer func() { r.hosts = hosts }()
	for _, a := range addrs {
		name := l.Name
		if name == "" {
			switch {
			case l.Push != "":
				name = l.Push
			case l.Hostname != "":
				name = l.Hostname
			default:
				name = a.String()
			}
		}
		target := l.Target
		if l.Prefix.IsValid() {
			target = a.String()
		}
		cs := obs.CheckSpec{Host: name, Name: l.Check, Kind: l.Kind, Addr: a, Target: target,
			Interval: l.Interval, Timeout: l.Timeout, Params: l.Params}
		if cs.Target == name {
			cs.Target = name // share one string (the line's text can go)
		}
		// A line for a check some host already has at this address
		// (same kind and detail) merges into it, as fping's
		// duplicates do.
		if a.IsValid() {
			k := checkKey{l.Check, a}
			if j, dup := byAddr[k]; dup {
				r.warnings = append(r.warnings, fmt.Sprintf("%s: %v duplicates %s; merged", l.Pos, a, hosts[j].checkPos(l.Check)))
				mergeLabels(&hosts[j], l.Labels)
				continue
			}
			byAddr[k] = len(hosts)
			if hi, ok := byName[name]; ok {
				byAddr[k] = hi
			}
		}
		hi, named := byName[name]
		if !named {
			hi = len(hosts)
			byName[name] = hi
			hosts = append(hosts, Host{Name: name, Pos: l.Pos})
		}
		h := &hosts[hi]
		if c := h.CheckNamed(l.Check); c != nil {
			return lineErr(l.Pos, fmt.Sprintf("host %q has check %q already (declared at %s): give this line another name=", name, l.Check, h.checkPos(l.Check)))
		}
		if l.Parent != "" {
			if h.Parent != "" && h.Parent != l.Parent {
				return lineErr(l.Pos, fmt.Sprintf("host %q: parent %q, but %s says %q", name, l.Parent, h.Pos, h.Parent))
			}
			h.Parent = l.Parent
		}
		for k, v := range l.Labels {
			if old, ok := h.Labels[k]; ok && old != v {
				return lineErr(l.Pos, fmt.Sprintf("host %q: label %s=%s, but %s says %s=%s", name, k, v, h.Pos, k, old))
			}
		}
		mergeLabels(h, l.Labels)
		if !h.Addr.IsValid() && a.IsValid() {
			h.Addr = a
			h.Hostname = l.Hostname
		}
		if l.Hostname != "" {
			if h.Resolved == nil {
				h.Resolved = map[string]netip.Addr{}
			}
			h.Resolved[l.Hostname] = a
		}
		if len(h.Checks) > 0 { // the first check's is h.Pos
			h.poses = append(h.poses, l.Pos)
		}
		h.Checks = append(h.Checks, cs)
	}
	return nil
}

type checkKey struct {
	check string
	addr  netip.Addr
}

// CheckNamed returns h's check called name, or nil.
func (h *Host) CheckNamed(name string) *obs.CheckSpec {
	for i := range h.Checks {
		if h.Checks[i].Name == name {
			return &h.Checks[i]
		}
	}
	return nil
}

func (h *Host) checkPos(name string) string {
	for i := range h.Checks {
		if h.Checks[i].Name == name && i > 0 && i <= len(h.poses) {
			return h.poses[i-1]
		}
	}
	return h.Pos
}

// lineErr makes a LineError from a FILE:LINE position (FILE may itself
// contain ':').
func lineErr(pos, msg string) error {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return &LineError{File: pos, Msg: msg}
	}
	n, _ := strconv.Atoi(pos[i+1:])
	return &LineError{File: pos[:i], Line: n, Msg: msg}
}

// mergeLabels adds the labels of m that h lacks. Label maps may be shared
// (a line's with its hosts, Parse's interned ones): h's map is replaced,
// never modified.
func mergeLabels(h *Host, m map[string]string) {
	if len(m) == 0 {
		return
	}
	if h.Labels == nil {
		h.Labels = m
		return
	}
	var n map[string]string
	for k, v := range m {
		if _, ok := h.Labels[k]; !ok {
			if n == nil {
				n = maps.Clone(h.Labels)
			}
			n[k] = v
		}
	}
	if n != nil {
		h.Labels = n
	}
}

// addrs returns the addresses l stands for: one, the CIDR's, or the
// invalid address for push lines.
func (l *Line) addrs(ctx context.Context, lookup LookupFunc, prev map[string]netip.Addr, warnings *[]string) ([]netip.Addr, error) {
	switch {
	case l.Push != "":
		return []netip.Addr{{}}, nil
	case l.Addr.IsValid():
		return []netip.Addr{l.Addr}, nil
	case l.Prefix.IsValid():
		a, last := HostRange(l.Prefix)
		var out []netip.Addr
		for ; ; a = a.Next() {
			out = append(out, a)
			if a == last {
				break
			}
		}
		return out, nil
	}
	if lookup == nil {
		return nil, fmt.Errorf("%s: hostname %q but no resolver", l.Pos, l.Hostname)
	}
	addrs, lerr := lookup(ctx, l.Hostname)
	a, ok := PickAddr(addrs)
	if lerr != nil || !ok {
		if lerr == nil {
			lerr = errors.New("no address")
		}
		old, had := prev[l.Hostname]
		if !had {
			return nil, fmt.Errorf("%s: resolving %s: %w", l.Pos, l.Hostname, lerr)
		}
		*warnings = append(*warnings, fmt.Sprintf("%s: resolving %s failed (%v); keeping %v", l.Pos, l.Hostname, lerr, old))
		a = old
	}
	return []netip.Addr{a}, nil
}

// PickAddr picks the address of a hostname from a lookup's answer: the
// first IPv4 one (unmapped), else the first valid one.
func PickAddr(addrs []netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), true
		}
	}
	for _, a := range addrs {
		if a.IsValid() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// HostRange returns the first and last address a CIDR line stands for:
// every address of the prefix, less the network and broadcast addresses of
// an IPv4 prefix of /30 or wider.
func HostRange(p netip.Prefix) (first, last netip.Addr) {
	first, last = p.Addr(), lastAddr(p)
	if first.Is4() && first.BitLen()-p.Bits() >= 2 {
		first, last = first.Next(), last.Prev()
	}
	return first, last
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// HostAddrs returns hostname → address of every check resolved from a
// hostname: the prev argument of the next Resolve.
func HostAddrs(hosts []Host) map[string]netip.Addr {
	m := map[string]netip.Addr{}
	for _, h := range hosts {
		for n, a := range h.Resolved {
			m[n] = a
		}
	}
	return m
}

// SameAddrs reports whether a and b are the same hosts with the same
// check addresses (what re-resolution compares).
func SameAddrs(a, b []Host) bool {
	return slices.EqualFunc(a, b, func(x, y Host) bool {
		return x.Name == y.Name && slices.EqualFunc(x.Checks, y.Checks, func(c, d obs.CheckSpec) bool { return c.Name == d.Name && c.Addr == d.Addr })
	})
}
