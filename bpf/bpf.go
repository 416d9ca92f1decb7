// SPDX-License-Identifier: MIT

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/hbmon/hb/internal/bucket"
	"github.com/hbmon/hb/wire"
)

// Config is what the program enforces; the agent sets it once at start.
type Config struct {
	// KeyID, when not 0, makes the program answer only requests carrying
	// this key id and one of the tokens set with SetTokens.
	KeyID uint8
	// HBM2 answers empty-payload echo requests with the 28-byte HBM v2
	// payload (the one reply longer than its request; docs/responder.md).
	// It carries no token: the caller enables it with a key only when
	// unauthenticated legacy clients are explicitly allowed.
	HBM2 bool
	// UDPPort is where UDP probes are answered; 0 turns UDP off.
	UDPPort uint16
	// Rate is the replies per second for the whole host: one token bucket
	// shared by every CPU (a spin lock), so it holds however the traffic
	// is spread. 0 means no limit.
	Rate float64
	// Burst is how many replies may go out at once (at least 1).
	Burst uint32
	// AllowFrom, when not empty, is the only sources the program answers
	// (up to 1024 prefixes); others get what the kernel gives them.
	AllowFrom []netip.Prefix
}

// Local is an address of this host the program answers for, with the
// tokens valid for requests to it (wire.Key.ValidTokens: previous,
// current, next minute); zeros without a key.
type Local struct {
	Addr   netip.Addr
	Tokens [3]wire.Token
}

// Iface is an interface the program may run on. Frames are answered only
// when their destination MAC is the interface's; on a loopback interface
// loopback and own-address sources are normal.
type Iface struct {
	Index    int
	MAC      [6]byte
	Loopback bool
}

// Counters are the program's counters summed over all CPUs. Every packet
// the program sees increments exactly one of them.
type Counters struct {
	Answered    uint64 // HBQ1 request answered with a blob
	HBM2        uint64 // empty echo request answered with HBM v2
	Passed      uint64 // not a probe, not for this host, … (kernel path)
	Denied      uint64 // wrong key id or token
	TooSmall    uint64 // room cannot hold a blob
	RateLimited uint64 // over the rate (ICMP: passed to the kernel; UDP: dropped)
	Reach       uint64 // UDP request answered without health (not asked, no blob yet)
}

// Objects is the loaded program and its maps. Its methods are safe for
// concurrent use; one Objects may be attached to many interfaces.
type Objects struct {
	objs hbObjects

	mu  sync.Mutex // guards ctl, the Go copy of the hb_ctl map value
	ctl hbCtl
}

// ErrPermission wraps a load or attach refused for lack of privileges.
var ErrPermission = errors.New("needs CAP_BPF and CAP_NET_ADMIN (and CAP_NET_RAW for the UDP/raw fallbacks): " +
	"run as root, or `setcap cap_bpf,cap_net_admin,cap_net_raw+ep /usr/bin/hb-responder`, " +
	"or under systemd `AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_NET_RAW`")

// DefaultMaxAddrs is how many addresses hb_addrs holds by default (the
// object's max_entries): a host's own addresses and subnet broadcasts.
const DefaultMaxAddrs = 4096

// LoadOptions changes how Load creates the maps.
type LoadOptions struct {
	// MaxAddrs, when not 0, is the capacity of hb_addrs instead of
	// DefaultMaxAddrs: a simulated fleet answering for many addresses
	// (the bench). The kernel preallocates the whole map.
	MaxAddrs uint32
}

// Load loads the program and creates its maps. It needs CAP_BPF (or
// CAP_SYS_ADMIN); the error wraps ErrPermission when that is missing.
func Load() (*Objects, error) { return LoadWith(LoadOptions{}) }

// LoadWith is Load with options.
func LoadWith(opts LoadOptions) (*Objects, error) {
	o := &Objects{}
	spec, err := loadHb()
	if err != nil {
		return nil, err
	}
	if opts.MaxAddrs != 0 {
		ms, ok := spec.Maps["hb_addrs"]
		if !ok {
			return nil, errors.New("load eBPF program: no hb_addrs map in the object")
		}
		ms.MaxEntries = opts.MaxAddrs
	}
	if err := spec.LoadAndAssign(&o.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The verifier's refusals are EACCES too; they are bugs, not
			// missing privileges.
			return nil, fmt.Errorf("load eBPF program: %+v", ve)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("load eBPF program: %w: %w", ErrPermission, err)
		}
		return nil, fmt.Errorf("load eBPF program: %w", err)
	}
	return o, nil
}

// Close releases the program and maps (attachments hold their own
// references and must be closed separately).
func (o *Objects) Close() error { return o.objs.Close() }

// XDP is the XDP entry point (native or generic XDP; replies with XDP_TX).
func (o *Objects) XDP() *ebpf.Program { return o.objs.HbXdp }

// TC is the TC entry point (TCX or clsact ingress; replies by redirecting
// to the interface's egress).
func (o *Objects) TC() *ebpf.Program { return o.objs.HbTc }

// XDPPass is an XDP program that passes everything: attach it to a veth's
// peer so that native XDP_TX on the veth delivers.
func (o *Objects) XDPPass() *ebpf.Program { return o.objs.HbXdpPass }

// Configure sets what the program enforces.
func (o *Objects) Configure(c Config) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ctl.KeyId = c.KeyID
	o.ctl.Hbm2 = 0
	if c.HBM2 {
		o.ctl.Hbm2 = 1
	}
	o.ctl.UdpPort = c.UDPPort
	o.ctl.IntervalNs, o.ctl.BurstNs = bucket.GCRA(c.Rate, int(c.Burst))
	if err := o.setAllow(c.AllowFrom); err != nil {
		return err
	}
	o.ctl.AllowOn = 0
	if len(c.AllowFrom) > 0 {
		o.ctl.AllowOn = 1
	}
	return o.writeCtl()
}

// setAllow makes prefixes the content of the allow-list map.
func (o *Objects) setAllow(prefixes []netip.Prefix) error {
	var k hbPrefix
	var v uint8
	var keys []hbPrefix
	it := o.objs.HbAllow.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate hb_allow: %w", err)
	}
	for _, k := range keys {
		if err := o.objs.HbAllow.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete from hb_allow: %w", err)
		}
	}
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("allow_from: invalid prefix %v", p)
		}
		p = p.Masked()
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += 96
		}
		k := hbPrefix{Len: uint32(bits), A: p.Addr().As16()}
		if err := o.objs.HbAllow.Update(k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update hb_allow (%v): %w", p, err)
		}
	}
	return nil
}

func (o *Objects) writeCtl() error {
	if err := o.objs.HbCtl.Update(uint32(0), &o.ctl, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("update hb_ctl: %w", err)
	}
	return nil
}

// Publish makes blob (wire.BlobSize bytes) and hbm2 (wire.HBM2Len bytes,
// or nil) the payloads the program serves. It writes the slot not being
// served, then switches the program to it (double buffering): a reader is
// never handed a slot while it is rewritten, short of a program run taking
// longer than a whole sample interval. The blob's CRC or seal catches
// even that.
func (o *Objects) Publish(blob, hbm2 []byte) error {
	if len(blob) != wire.BlobSize {
		return fmt.Errorf("publish: blob is %d bytes, want %d", len(blob), wire.BlobSize)
	}
	if hbm2 != nil && len(hbm2) != wire.HBM2Len {
		return fmt.Errorf("publish: hbm2 payload is %d bytes, want %d", len(hbm2), wire.HBM2Len)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	next := uint32(0)
	if o.ctl.HaveBlob != 0 {
		next = 1 - o.ctl.Active&1
	}
	var s hbSlot
	copy(s.Blob[:], blob)
	copy(s.Hbm2[:], hbm2)
	if err := o.objs.HbSlots.Update(next, &s, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("update hb_slots: %w", err)
	}
	o.ctl.Active, o.ctl.HaveBlob = next, 1
	return o.writeCtl()
}

// Kinds of hb_addrs entries.
const (
	kindLocal = 1 // an address of this host, answered for
	kindBcast = 2 // a broadcast address of its subnets: a martian source
)

func addrKey(a netip.Addr) hbAddr { return hbAddr{A: a.Unmap().As16()} }

// SetLocal makes local the addresses the program answers for (with their
// tokens) and bcast the subnet broadcast addresses it refuses as sources;
// entries no longer present are deleted. IPv4 addresses are stored
// IPv4-mapped. Each entry is replaced atomically: a reader sees the old
// tokens or the new ones.
func (o *Objects) SetLocal(local []Local, bcast []netip.Addr) error {
	want := make(map[hbAddr]hbLocal, len(local)+len(bcast))
	for _, a := range bcast {
		if a.IsValid() {
			want[addrKey(a)] = hbLocal{Kind: kindBcast}
		}
	}
	for _, l := range local {
		if !l.Addr.IsValid() {
			continue
		}
		v := hbLocal{Kind: kindLocal}
		for i, t := range l.Tokens {
			v.Tok[i].T = t
		}
		want[addrKey(l.Addr)] = v
	}
	return syncMap(o.objs.HbAddrs, "hb_addrs", want)
}

// SetAddrs makes addrs the host addresses the program answers for, with
// zero tokens (no key), and no broadcast addresses (tests, tools).
func (o *Objects) SetAddrs(addrs []netip.Addr) error {
	l := make([]Local, len(addrs))
	for i, a := range addrs {
		l[i].Addr = a
	}
	return o.SetLocal(l, nil)
}

// SetIfaces makes ifs the interfaces the program answers on (frames on
// any other are passed); stale entries are deleted.
func (o *Objects) SetIfaces(ifs []Iface) error {
	want := make(map[uint32]hbIface, len(ifs))
	for _, i := range ifs {
		v := hbIface{Mac: i.MAC}
		if i.Loopback {
			v.Loopback = 1
		}
		want[uint32(i.Index)] = v
	}
	return syncMap(o.objs.HbIfaces, "hb_ifaces", want)
}

// syncMap makes want the content of the hash map m (named name in
// errors): entries not in want are deleted, changed or new ones written
// (each update atomic for a reader), equal ones left alone. want is
// consumed.
func syncMap[K, V comparable](m *ebpf.Map, name string, want map[K]V) error {
	var k K
	var v V
	var stale []K
	it := m.Iterate()
	for it.Next(&k, &v) {
		if w, ok := want[k]; !ok {
			stale = append(stale, k)
		} else if w == v {
			delete(want, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %s: %w", name, err)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete from %s: %w", name, err)
		}
	}
	for k, v := range want {
		if err := m.Update(k, &v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update %s: %w", name, err)
		}
	}
	return nil
}

// Counters returns the counters summed over all CPUs.
func (o *Objects) Counters() (Counters, error) {
	var per []hbCounters
	if err := o.objs.HbCounters.Lookup(uint32(0), &per); err != nil {
		return Counters{}, fmt.Errorf("lookup hb_counters: %w", err)
	}
	var c Counters
	for _, p := range per {
		c.Answered += p.Answered
		c.HBM2 += p.Hbm2
		c.Passed += p.Passed
		c.Denied += p.Denied
		c.TooSmall += p.TooSmall
		c.RateLimited += p.RateLimited
		c.Reach += p.Reach
	}
	return c, nil
}

// ResetBuckets empties the token bucket's history (tests).
func (o *Objects) ResetBuckets() error {
	return o.objs.HbBucket.Update(uint32(0), &hbBucket{}, ebpf.UpdateAny)
}
