package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hbmon/hb/wire"
)

// Config is what the program enforces; the agent sets it once at start.
type Config struct {
	// KeyID, when not 0, makes the program answer only requests carrying
	// this key id and one of the tokens set with SetTokens.
	KeyID uint8
	// HBM2 answers empty-payload echo requests with the 28-byte HBM v2
	// payload (the one reply longer than its request; docs/responder.md).
	HBM2 bool
	// UDPPort is where UDP probes are answered; 0 turns UDP off.
	UDPPort uint16
	// Rate is the replies per second each CPU may send; 0 means no limit.
	Rate float64
	// Burst is how many replies a CPU may send at once (at least 1).
	Burst uint32
}

// Counters are the program's counters summed over all CPUs. Every packet
// the program sees increments exactly one of them.
type Counters struct {
	Answered    uint64 // HBQ1 request answered with a blob
	HBM2        uint64 // empty echo request answered with HBM v2
	Passed      uint64 // not a probe, not for this host, … (kernel path)
	Denied      uint64 // wrong key id or token
	TooSmall    uint64 // room cannot hold a blob
	RateLimited uint64 // over the per-CPU rate
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

// Load loads the program and creates its maps. It needs CAP_BPF (or
// CAP_SYS_ADMIN); the error wraps ErrPermission when that is missing.
func Load() (*Objects, error) {
	o := &Objects{}
	if err := loadHbObjects(&o.objs, nil); err != nil {
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
	o.ctl.IntervalNs, o.ctl.BurstNs = bucket(c.Rate, c.Burst)
	return o.writeCtl()
}

// bucket converts a rate and burst to the program's GCRA parameters.
func bucket(rate float64, burst uint32) (interval, depth uint64) {
	if rate <= 0 {
		return 0, 0
	}
	interval = uint64(float64(time.Second) / rate)
	if interval == 0 {
		interval = 1
	}
	if burst < 1 {
		burst = 1
	}
	return interval, uint64(burst-1) * interval
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

// SetTokens sets the two tokens the program accepts (wire.Key.ValidTokens:
// this minute's and the previous one's).
func (o *Objects) SetTokens(t [2]wire.Token) error {
	for i := range t {
		if err := o.objs.HbTokens.Update(uint32(i), hbToken{T: t[i]}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update hb_tokens: %w", err)
		}
	}
	return nil
}

func addrKey(a netip.Addr) hbAddr { return hbAddr{A: a.Unmap().As16()} }

// SetAddrs makes addrs the host addresses the program answers for: it adds
// the new ones and deletes the ones no longer present (IPv4 addresses are
// stored IPv4-mapped).
func (o *Objects) SetAddrs(addrs []netip.Addr) error {
	want := make(map[hbAddr]bool, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			want[addrKey(a)] = true
		}
	}
	var k hbAddr
	var v uint8
	var stale []hbAddr
	it := o.objs.HbAddrs.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
		delete(want, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate hb_addrs: %w", err)
	}
	for _, k := range stale {
		if err := o.objs.HbAddrs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete from hb_addrs: %w", err)
		}
	}
	for k := range want {
		if err := o.objs.HbAddrs.Update(k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update hb_addrs: %w", err)
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
	}
	return c, nil
}

// ResetBuckets empties every CPU's token bucket history (tests).
func (o *Objects) ResetBuckets() error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	return o.objs.HbBucket.Update(uint32(0), make([]hbBucket, n), ebpf.UpdateAny)
}
