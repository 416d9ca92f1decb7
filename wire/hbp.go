// SPDX-License-Identifier: MIT

package wire

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"math"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Push heartbeat HBP1 and its acknowledgement HBA1 (docs/wire.md §8).
//
// A datagram is a 44-byte header, a body of TLV sections, and a 16-byte
// tag. With a key the tag authenticates header and body (HMAC-SHA256, or
// XChaCha20-Poly1305 when sealed, the body then being encrypted); without
// one (key id 0) it is a plain SHA-256 digest that only detects
// corruption.
const (
	PushMagic = "HBP1"
	// PushVersion 2: 128-bit boot id, XChaCha20-Poly1305 when sealed.
	// Version 1 (32-bit boot id, AES-GCM under one fleet-wide key, whose
	// nonces could repeat across restarts) is not read: ErrVersion.
	PushVersion   = 2
	PushHeaderLen = 44
	PushTagLen    = 16
	// PushMaxLen is the largest datagram: it fits the IPv6 minimum MTU
	// (1280) less the IPv6 and UDP headers, so it is never fragmented.
	PushMaxLen = 1232
	// PushMaxBody is the largest body PushMaxLen leaves room for.
	PushMaxBody = PushMaxLen - PushHeaderLen - PushTagLen

	PushFlagSealed   = 1 << 0 // body encrypted (XChaCha20-Poly1305); needs a key
	PushFlagBoot     = 1 << 1 // first heartbeat after the sender started
	PushFlagShutdown = 1 << 2 // last heartbeat: the sender is stopping
	pushFlagsKnown   = PushFlagSealed | PushFlagBoot | PushFlagShutdown

	offPMagic    = 0
	offPVersion  = 4
	offPFlags    = 5
	offPKeyID    = 6
	offPReserved = 7
	offPBootID   = 8 // boot id (16) ‖ sequence (8): the XChaCha20 nonce
	offPSeq      = 24
	offPSentAt   = 32
	offPBodyLen  = 40
	offPPad      = 42
	offPBody     = PushHeaderLen

	// MaxPushSeq is the largest sequence a push sender's BootCounter hands
	// out under one boot id (the sequence field is 64 bits wide).
	MaxPushSeq = math.MaxUint64

	AckMagic   = "HBA1"
	AckVersion = 2 // with PushVersion 2 (128-bit boot id); version 1 is not read
	AckLen     = 64

	AckFlagKernelRx = 1 << 0 // RxTime is the kernel's receive timestamp

	offAMagic   = 0
	offAVersion = 4
	offAFlags   = 5
	offAKeyID   = 6
	offAPad     = 7
	offABootID  = 8
	offASeq     = 24
	offARxTime  = 32
	offATxTime  = 40
	offATag     = 48
)

// Section types of an HBP1 body. Unknown types are skipped by readers, so
// a sender may add sections a receiver does not know yet.
const (
	SecHealth  = 1  // an HBH1 blob (BlobSize bytes), usually clear: the envelope authenticates it
	SecCPU     = 2  // per-core busy ‰, u16 each
	SecMount   = 3  // one mount: total u64, used u64, path
	SecIface   = 4  // one interface: counters, rates, name
	SecSwap    = 5  // total u64, used u64
	SecOS      = 6  // four u8-length strings: os, platform version, kernel, arch
	SecProcs   = 7  // processes u32, threads u32
	SecCheck   = 8  // a Nagios-style check result
	SecMessage = 9  // level u8, text
	SecRTT     = 10 // the sender's last measured ACK round trip: ns u64, method u8
	SecMetric  = 11 // value f64, name: a plugin's number
	SecHost    = 12 // the sender's host name (its heartbeat check's host)
)

// More decoding errors (see errors.go).
var (
	// ErrTag: the tag does not verify: tampered with, truncated inside the
	// body, or made with another key.
	ErrTag = errors.New("wire: authentication tag does not verify")
	// ErrReplay: a sequence number already seen, or too old, for the
	// sender's boot, or a boot older than the current one.
	ErrReplay = errors.New("wire: replayed or stale datagram")
	// ErrTooBig: an HBP1 datagram would exceed PushMaxLen.
	ErrTooBig = errors.New("wire: push datagram exceeds one datagram")
	// ErrFormat: a field that must be zero is not, a length disagrees with
	// the buffer, or a flag is unknown.
	ErrFormat = errors.New("wire: malformed")
)

// PushKey authenticates and seals HBP1 datagrams and their ACKs. It is
// derived from the same 32-byte master secret as Key, under its own HKDF
// labels, so push sealing never shares a key with the health blob's. The
// sealing nonce is the sender's 128-bit random boot id and its sequence:
// no (key, nonce) pair repeats unless two sender starts draw the same boot
// id (chance below n²/2¹²⁹ for n starts).
type PushKey struct {
	ID   uint8
	aead cipher.AEAD
	macs sync.Pool // of *macState (HMAC-SHA256 under the push MAC key)
}

// macState is a pooled HMAC and the buffer its sum goes to, so tagging
// allocates nothing.
type macState struct {
	h   hash.Hash
	sum [32]byte
}

// NewPushKey derives a PushKey from a master secret. id must not be 0.
func NewPushKey(id uint8, master []byte) (*PushKey, error) {
	if id == 0 || len(master) != KeyLen {
		return nil, ErrKey
	}
	sk, err := hkdf.Key(sha256.New, master, nil, "hb push seal v2", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	mk, err := hkdf.Key(sha256.New, master, nil, "hb push mac v1", 32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(sk)
	if err != nil {
		return nil, err
	}
	k := &PushKey{ID: id, aead: aead}
	k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, mk)} }
	return k, nil
}

// tag writes the 16-byte tag of msg into dst: HMAC-SHA256 under k, or
// SHA-256 when k is nil.
func tag(dst []byte, k *PushKey, msg []byte) {
	if k == nil {
		sum := sha256.Sum256(msg)
		copy(dst[:PushTagLen], sum[:PushTagLen])
		return
	}
	st := k.macs.Get().(*macState)
	st.h.Reset()
	st.h.Write(msg)
	copy(dst[:PushTagLen], st.h.Sum(st.sum[:0]))
	k.macs.Put(st)
}

// PushHeader is the clear part of an HBP1 datagram.
type PushHeader struct {
	Flags  uint8  // PushFlag*; Sealed is set by EncodePush from its argument
	KeyID  uint8  // 0: unauthenticated
	BootID BootID // 128 random bits per sender start
	Seq    uint64 // increases with every datagram of one boot; never 0
	SentAt int64  // unix ns, sender's clock
}

// Push is a decoded HBP1 datagram. Body aliases the decoded buffer (which
// a sealed datagram's decryption overwrote).
type Push struct {
	PushHeader
	Body []byte
}

// EncodePush appends the datagram made of h and body to dst. k nil sends
// it unauthenticated (h.KeyID must be 0 and seal false); with k, seal
// encrypts the body. The nonce is h.BootID ‖ h.Seq: a sender must never
// send two datagrams with the same pair under one key; it takes them from
// a BootCounter (NewBootCounter(crypto/rand.Reader, MaxPushSeq)), the code
// that numbers health blobs too.
func EncodePush(dst []byte, h PushHeader, body []byte, k *PushKey, seal bool) ([]byte, error) {
	if len(body) > PushMaxBody {
		return dst, ErrTooBig
	}
	if k == nil && seal {
		return dst, ErrNoKey
	}
	flags := h.Flags &^ PushFlagSealed
	if seal {
		flags |= PushFlagSealed
	}
	var id uint8
	if k != nil {
		id = k.ID
	}
	start := len(dst)
	dst = append(dst, PushMagic...)
	dst = append(dst, PushVersion, flags, id, 0)
	dst = append(dst, h.BootID[:]...)
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.SentAt))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(body)))
	dst = append(dst, 0, 0)
	if seal {
		hdr := dst[start : start+PushHeaderLen]
		return k.aead.Seal(dst, hdr[offPBootID:offPBootID+chacha20poly1305.NonceSizeX], body, hdr), nil
	}
	dst = append(dst, body...)
	var t [PushTagLen]byte
	tag(t[:], k, dst[start:])
	return append(dst, t[:]...), nil
}

// PushKeyID returns the key id of an HBP1 datagram (0 when unauthenticated
// or too short), so a receiver can pick the key before decoding.
func PushKeyID(b []byte) uint8 {
	if len(b) < PushHeaderLen {
		return 0
	}
	return b[offPKeyID]
}

// IsPush reports whether b starts like an HBP1 datagram.
func IsPush(b []byte) bool { return len(b) >= 4 && string(b[:4]) == PushMagic }

// DecodePush verifies and decodes an HBP1 datagram into p. k must be the
// key with the datagram's key id (PushKeyID); it is ignored for an
// unauthenticated datagram (key id 0), which callers accept only by
// policy. A sealed datagram is decrypted in place. It allocates nothing.
//
// Errors: ErrShort, ErrMagic, ErrVersion, ErrFormat (length, reserved
// bytes, flags), ErrNoKey, ErrTag (tampered or another key).
func DecodePush(b []byte, k *PushKey, p *Push) error {
	if len(b) < PushHeaderLen+PushTagLen {
		return ErrShort
	}
	if string(b[:4]) != PushMagic {
		return ErrMagic
	}
	if b[offPVersion] != PushVersion {
		return ErrVersion
	}
	be := binary.BigEndian
	flags, id := b[offPFlags], b[offPKeyID]
	n := int(be.Uint16(b[offPBodyLen:]))
	switch {
	case PushHeaderLen+n+PushTagLen > len(b):
		return ErrShort
	case PushHeaderLen+n+PushTagLen < len(b), b[offPReserved] != 0, be.Uint16(b[offPPad:]) != 0,
		flags&^pushFlagsKnown != 0, id == 0 && flags&PushFlagSealed != 0:
		return ErrFormat
	}
	if id != 0 && (k == nil || k.ID != id) {
		return ErrNoKey
	}
	if id == 0 {
		k = nil
	}
	body := b[offPBody : offPBody+n]
	if flags&PushFlagSealed != 0 {
		if _, err := k.aead.Open(body[:0], b[offPBootID:offPBootID+chacha20poly1305.NonceSizeX], b[offPBody:offPBody+n+PushTagLen], b[:PushHeaderLen]); err != nil {
			return ErrTag
		}
	} else {
		var t [PushTagLen]byte
		tag(t[:], k, b[:offPBody+n])
		if subtle.ConstantTimeCompare(t[:], b[offPBody+n:offPBody+n+PushTagLen]) != 1 {
			return ErrTag
		}
	}
	p.Flags, p.KeyID = flags, id
	p.BootID = BootID(b[offPBootID : offPBootID+BootIDLen])
	p.Seq = be.Uint64(b[offPSeq:])
	p.SentAt = int64(be.Uint64(b[offPSentAt:]))
	p.Body = body
	return nil
}

// Sections returns an iterator over p's body.
func (p *Push) Sections() SectionIter { return SectionIter{b: p.Body} }

// Section is one TLV of an HBP1 body; Data aliases the body.
type Section struct {
	Type uint8
	Data []byte
}

// SectionIter walks a body's sections. Next returns false at the end or at
// a section that overruns the body; Err then says which.
type SectionIter struct {
	b   []byte
	err error
}

// Next returns the next section.
func (it *SectionIter) Next() (Section, bool) {
	if len(it.b) == 0 || it.err != nil {
		return Section{}, false
	}
	if len(it.b) < 3 {
		it.err = ErrShort
		return Section{}, false
	}
	n := int(binary.BigEndian.Uint16(it.b[1:]))
	if 3+n > len(it.b) {
		it.err = ErrShort
		return Section{}, false
	}
	s := Section{Type: it.b[0], Data: it.b[3 : 3+n]}
	it.b = it.b[3+n:]
	return s, true
}

// Err is the reason Next stopped early, or nil at a clean end.
func (it *SectionIter) Err() error { return it.err }

// AppendSection appends one TLV to body. data longer than 65535 bytes is
// cut (EncodePush rejects such a body anyway).
func AppendSection(body []byte, typ uint8, data []byte) []byte {
	data = data[:min(len(data), math.MaxUint16)]
	body = append(body, typ)
	body = binary.BigEndian.AppendUint16(body, uint16(len(data)))
	return append(body, data...)
}

// beginSection starts a TLV whose length endSection fills in.
func beginSection(body []byte, typ uint8) ([]byte, int) {
	return append(body, typ, 0, 0), len(body)
}

func endSection(body []byte, at int) []byte {
	binary.BigEndian.PutUint16(body[at+1:], uint16(len(body)-at-3))
	return body
}

func appendStr8(b []byte, s string) []byte {
	s = s[:min(len(s), 255)]
	return append(append(b, byte(len(s))), s...)
}

// str8 reads a u8-length string from b.
func str8(b []byte) (s, rest []byte, err error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, ErrShort
	}
	return b[1 : 1+int(b[0])], b[1+int(b[0]):], nil
}

// AppendCPU appends a SecCPU section: per-core busy in ‰ (0–1000).
func AppendCPU(body []byte, cores []uint16) []byte {
	body, at := beginSection(body, SecCPU)
	for _, c := range cores {
		body = binary.BigEndian.AppendUint16(body, c)
	}
	return endSection(body, at)
}

// CPUCores returns the number of cores in a SecCPU section and core i's ‰.
func CPUCores(d []byte) int          { return len(d) / 2 }
func CPUCore(d []byte, i int) uint16 { return binary.BigEndian.Uint16(d[2*i:]) }
func validCPU(d []byte) error {
	if len(d)%2 != 0 {
		return ErrFormat
	}
	for i := range CPUCores(d) {
		if CPUCore(d, i) > 1000 {
			return ErrRange
		}
	}
	return nil
}

// Mount is a SecMount section: one mounted filesystem.
type Mount struct {
	Total, Used uint64 // bytes
	Path        []byte // aliases the body
}

// AppendMount appends a SecMount section.
func AppendMount(body []byte, total, used uint64, path string) []byte {
	body, at := beginSection(body, SecMount)
	body = binary.BigEndian.AppendUint64(body, total)
	body = binary.BigEndian.AppendUint64(body, used)
	body = append(body, path[:min(len(path), 255)]...)
	return endSection(body, at)
}

// ParseMount decodes a SecMount section.
func ParseMount(d []byte) (Mount, error) {
	if len(d) < 16 {
		return Mount{}, ErrShort
	}
	m := Mount{Total: binary.BigEndian.Uint64(d), Used: binary.BigEndian.Uint64(d[8:]), Path: d[16:]}
	if m.Used > m.Total {
		return Mount{}, ErrRange
	}
	return m, nil
}

// Iface is a SecIface section: one network interface.
type Iface struct {
	RxBytes, TxBytes uint64 // counters since the interface came up
	RxRate, TxRate   uint64 // bytes per second since the previous heartbeat
	Errors, Drops    uint32 // rx+tx counters
	Name             []byte // aliases the body
}

// ifaceFixed is the fixed part of a SecIface section.
const ifaceFixed = 40

// AppendIface appends a SecIface section for i (Name is taken from name).
func AppendIface(body []byte, i Iface, name string) []byte {
	body, at := beginSection(body, SecIface)
	be := binary.BigEndian
	body = be.AppendUint64(body, i.RxBytes)
	body = be.AppendUint64(body, i.TxBytes)
	body = be.AppendUint64(body, i.RxRate)
	body = be.AppendUint64(body, i.TxRate)
	body = be.AppendUint32(body, i.Errors)
	body = be.AppendUint32(body, i.Drops)
	body = append(body, name[:min(len(name), 64)]...)
	return endSection(body, at)
}

// ParseIface decodes a SecIface section.
func ParseIface(d []byte) (Iface, error) {
	if len(d) < ifaceFixed {
		return Iface{}, ErrShort
	}
	be := binary.BigEndian
	return Iface{
		RxBytes: be.Uint64(d), TxBytes: be.Uint64(d[8:]), RxRate: be.Uint64(d[16:]), TxRate: be.Uint64(d[24:]),
		Errors: be.Uint32(d[32:]), Drops: be.Uint32(d[36:]), Name: d[ifaceFixed:],
	}, nil
}

// AppendSwap appends a SecSwap section.
func AppendSwap(body []byte, total, used uint64) []byte {
	body, at := beginSection(body, SecSwap)
	body = binary.BigEndian.AppendUint64(body, total)
	body = binary.BigEndian.AppendUint64(body, used)
	return endSection(body, at)
}

// ParseSwap decodes a SecSwap section.
func ParseSwap(d []byte) (total, used uint64, err error) {
	if len(d) < 16 {
		return 0, 0, ErrShort
	}
	total, used = binary.BigEndian.Uint64(d), binary.BigEndian.Uint64(d[8:])
	if used > total {
		return 0, 0, ErrRange
	}
	return total, used, nil
}

// OSInfo is a SecOS section. Fields alias the body.
type OSInfo struct {
	OS, Platform, Kernel, Arch []byte // "linux", "debian 13.1", "6.12.48", "x86_64"
}

// AppendOS appends a SecOS section.
func AppendOS(body []byte, os, platform, kernel, arch string) []byte {
	body, at := beginSection(body, SecOS)
	for _, s := range [...]string{os, platform, kernel, arch} {
		body = appendStr8(body, s)
	}
	return endSection(body, at)
}

// ParseOS decodes a SecOS section.
func ParseOS(d []byte) (OSInfo, error) {
	var o OSInfo
	var err error
	for _, f := range [...]*[]byte{&o.OS, &o.Platform, &o.Kernel, &o.Arch} {
		if *f, d, err = str8(d); err != nil {
			return OSInfo{}, err
		}
	}
	return o, nil
}

// AppendProcs appends a SecProcs section.
func AppendProcs(body []byte, procs, threads uint32) []byte {
	body, at := beginSection(body, SecProcs)
	body = binary.BigEndian.AppendUint32(body, procs)
	body = binary.BigEndian.AppendUint32(body, threads)
	return endSection(body, at)
}

// ParseProcs decodes a SecProcs section.
func ParseProcs(d []byte) (procs, threads uint32, err error) {
	if len(d) < 8 {
		return 0, 0, ErrShort
	}
	return binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), nil
}

// Check status codes: the Nagios plugin exit codes.
const (
	CheckOK       = 0
	CheckWarning  = 1
	CheckCritical = 2
	CheckUnknown  = 3
)

// CheckStatusName returns "ok", "warning", "critical" or "unknown".
func CheckStatusName(s uint8) string {
	switch s {
	case CheckOK:
		return "ok"
	case CheckWarning:
		return "warning"
	case CheckCritical:
		return "critical"
	}
	return "unknown"
}

// Perf is one perfdata value of a check ('label'=value[UOM];warn;crit;min;max).
// Warn and Crit are NaN when absent.
type Perf struct {
	Label, Unit string
	Value       float64
	Warn, Crit  float64
}

// perfLen is the encoded size of a Perf's numbers.
const perfLen = 24

// CheckResult is a SecCheck section. Name and Text alias the body; the
// perfdata is read with PerfAt.
type CheckResult struct {
	Status uint8  // CheckOK … CheckUnknown
	Name   []byte // the check's configured name
	Text   []byte // first line of its output, before "|"
	NPerf  int
	perf   []byte
}

// AppendCheck appends a SecCheck section. The text is cut to 255 bytes and
// at most 16 perfdata values are kept.
func AppendCheck(body []byte, status uint8, name, text string, perf []Perf) []byte {
	body, at := beginSection(body, SecCheck)
	body = append(body, status)
	body = appendStr8(body, name)
	body = appendStr8(body, text)
	perf = perf[:min(len(perf), 16)]
	body = append(body, byte(len(perf)))
	be := binary.BigEndian
	for _, p := range perf {
		body = appendStr8(body, p.Label)
		body = appendStr8(body, p.Unit)
		body = be.AppendUint64(body, math.Float64bits(p.Value))
		body = be.AppendUint64(body, math.Float64bits(p.Warn))
		body = be.AppendUint64(body, math.Float64bits(p.Crit))
	}
	return endSection(body, at)
}

// ParseCheck decodes a SecCheck section, validating every perfdata entry.
func ParseCheck(d []byte) (CheckResult, error) {
	if len(d) < 1 {
		return CheckResult{}, ErrShort
	}
	c := CheckResult{Status: d[0]}
	if c.Status > CheckUnknown {
		return CheckResult{}, ErrRange
	}
	var err error
	rest := d[1:]
	if c.Name, rest, err = str8(rest); err != nil {
		return CheckResult{}, err
	}
	if c.Text, rest, err = str8(rest); err != nil {
		return CheckResult{}, err
	}
	if len(rest) < 1 {
		return CheckResult{}, ErrShort
	}
	c.NPerf, c.perf = int(rest[0]), rest[1:]
	p := c.perf
	for range c.NPerf {
		var l, u []byte
		if l, p, err = str8(p); err != nil {
			return CheckResult{}, err
		}
		if u, p, err = str8(p); err != nil {
			return CheckResult{}, err
		}
		_, _ = l, u
		if len(p) < perfLen {
			return CheckResult{}, ErrShort
		}
		if v := math.Float64frombits(binary.BigEndian.Uint64(p)); math.IsNaN(v) || math.IsInf(v, 0) {
			return CheckResult{}, ErrRange
		}
		p = p[perfLen:]
	}
	if len(p) != 0 {
		return CheckResult{}, ErrFormat
	}
	return c, nil
}

// PerfAt returns perfdata entry i (0 ≤ i < NPerf) of a parsed check; its
// label and unit alias the body as byte slices.
func (c *CheckResult) PerfAt(i int) (label, unit []byte, value, warn, crit float64) {
	p := c.perf
	for j := 0; ; j++ {
		label, p, _ = str8(p)
		unit, p, _ = str8(p)
		if j == i {
			be := binary.BigEndian
			return label, unit, math.Float64frombits(be.Uint64(p)), math.Float64frombits(be.Uint64(p[8:])),
				math.Float64frombits(be.Uint64(p[16:]))
		}
		p = p[perfLen:]
	}
}

// AppendMessage appends a SecMessage section (level: event levels, 0 debug
// … 4 critical).
func AppendMessage(body []byte, level uint8, text string) []byte {
	body, at := beginSection(body, SecMessage)
	body = append(body, level)
	body = append(body, text[:min(len(text), 1024)]...)
	return endSection(body, at)
}

// ParseMessage decodes a SecMessage section.
func ParseMessage(d []byte) (level uint8, text []byte, err error) {
	if len(d) < 1 {
		return 0, nil, ErrShort
	}
	if d[0] > 4 {
		return 0, nil, ErrRange
	}
	return d[0], d[1:], nil
}

// AppendRTT appends a SecRTT section: the round trip the sender measured
// for its previous heartbeat's ACK, and how (an obs.Method number).
func AppendRTT(body []byte, rttNs uint64, method uint8) []byte {
	body, at := beginSection(body, SecRTT)
	body = binary.BigEndian.AppendUint64(body, rttNs)
	body = append(body, method)
	return endSection(body, at)
}

// ParseRTT decodes a SecRTT section.
func ParseRTT(d []byte) (rttNs uint64, method uint8, err error) {
	if len(d) < 9 {
		return 0, 0, ErrShort
	}
	return binary.BigEndian.Uint64(d), d[8], nil
}

// AppendMetric appends a SecMetric section.
func AppendMetric(body []byte, name string, v float64) []byte {
	body, at := beginSection(body, SecMetric)
	body = binary.BigEndian.AppendUint64(body, math.Float64bits(v))
	body = append(body, name[:min(len(name), 128)]...)
	return endSection(body, at)
}

// ParseMetric decodes a SecMetric section.
func ParseMetric(d []byte) (name []byte, v float64, err error) {
	if len(d) < 9 {
		return nil, 0, ErrShort
	}
	v = math.Float64frombits(binary.BigEndian.Uint64(d))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, 0, ErrRange
	}
	return d[8:], v, nil
}

// AppendHost appends a SecHost section (1–253 bytes of name).
func AppendHost(body []byte, name string) []byte {
	return AppendSection(body, SecHost, []byte(name[:min(len(name), 253)]))
}

// ValidateSection checks one section's layout (unknown types pass).
func ValidateSection(s Section) error {
	var err error
	switch s.Type {
	case SecHealth:
		if len(s.Data) != BlobSize {
			err = ErrFormat
		}
	case SecCPU:
		err = validCPU(s.Data)
	case SecMount:
		_, err = ParseMount(s.Data)
	case SecIface:
		_, err = ParseIface(s.Data)
	case SecSwap:
		_, _, err = ParseSwap(s.Data)
	case SecOS:
		_, err = ParseOS(s.Data)
	case SecProcs:
		_, _, err = ParseProcs(s.Data)
	case SecCheck:
		_, err = ParseCheck(s.Data)
	case SecMessage:
		_, _, err = ParseMessage(s.Data)
	case SecRTT:
		_, _, err = ParseRTT(s.Data)
	case SecMetric:
		_, _, err = ParseMetric(s.Data)
	case SecHost:
		if len(s.Data) == 0 || len(s.Data) > 253 {
			err = ErrFormat
		}
	}
	return err
}

// ReplayWindow is one sender's replay state: the boot it is in, the
// highest sequence seen and a 64-wide bitmap below it, and the newest
// send time accepted. Its zero value accepts anything once.
//
// A datagram of the current boot is accepted once, if its sequence is
// above the highest or within 64 below it and not yet seen. A datagram of
// another boot id starts a new boot only if it was sent after everything
// accepted so far (the sender's clock must not step back across a
// restart); anything older is a replay of an earlier boot.
type ReplayWindow struct {
	BootID BootID
	Top    uint64 // highest sequence accepted in this boot
	Seen   uint64 // bit i: Top-i accepted
	Newest int64  // highest SentAt accepted
	used   bool
}

// ReplayWidth is how far below the highest sequence a late datagram may
// still be accepted.
const ReplayWidth = 64

// Accept reports whether (bootID, seq, sentAt) is fresh and, if so,
// records it. Call it only for datagrams that authenticated.
func (w *ReplayWindow) Accept(bootID BootID, seq uint64, sentAt int64) bool {
	if seq == 0 {
		return false
	}
	if !w.used || bootID != w.BootID {
		if w.used && sentAt <= w.Newest {
			return false
		}
		*w = ReplayWindow{BootID: bootID, Top: seq, Seen: 1, Newest: sentAt, used: true}
		return true
	}
	switch {
	case seq > w.Top:
		d := seq - w.Top
		if d >= ReplayWidth {
			w.Seen = 1
		} else {
			w.Seen = w.Seen<<d | 1
		}
		w.Top = seq
	case w.Top-seq >= ReplayWidth:
		return false
	default:
		bit := uint64(1) << (w.Top - seq)
		if w.Seen&bit != 0 {
			return false
		}
		w.Seen |= bit
	}
	w.Newest = max(w.Newest, sentAt)
	return true
}

// Ack is a decoded HBA1 acknowledgement.
type Ack struct {
	Flags  uint8 // AckFlagKernelRx
	KeyID  uint8
	BootID BootID // echoed from the heartbeat
	Seq    uint64 // echoed
	RxTime int64  // unix ns the server received the heartbeat (kernel timestamp with AckFlagKernelRx)
	TxTime int64  // unix ns the server sent this ACK (its process clock)
}

// EncodeAck writes the ACK for a into dst[:AckLen], tagged with k (nil:
// SHA-256 digest, key id 0). The server answers with the key the
// heartbeat used, so an ACK is never sent for a datagram that did not
// verify; the receiver sends it only in answer to a datagram at least
// AckLen bytes long.
func EncodeAck(dst []byte, a Ack, k *PushKey) error {
	if len(dst) < AckLen {
		return ErrShort
	}
	b := dst[:AckLen]
	copy(b, AckMagic)
	b[offAVersion], b[offAFlags], b[offAPad] = AckVersion, a.Flags, 0
	b[offAKeyID] = 0
	if k != nil {
		b[offAKeyID] = k.ID
	}
	be := binary.BigEndian
	copy(b[offABootID:], a.BootID[:])
	be.PutUint64(b[offASeq:], a.Seq)
	be.PutUint64(b[offARxTime:], uint64(a.RxTime))
	be.PutUint64(b[offATxTime:], uint64(a.TxTime))
	tag(b[offATag:], k, b[:offATag])
	return nil
}

// DecodeAck verifies and decodes an ACK. k must have the ACK's key id
// (nil for key id 0). It allocates nothing.
func DecodeAck(b []byte, k *PushKey, a *Ack) error {
	if len(b) < AckLen {
		return ErrShort
	}
	if len(b) > AckLen {
		return ErrFormat
	}
	if string(b[:4]) != AckMagic {
		return ErrMagic
	}
	if b[offAVersion] != AckVersion {
		return ErrVersion
	}
	if b[offAPad] != 0 || b[offAFlags]&^AckFlagKernelRx != 0 {
		return ErrFormat
	}
	id := b[offAKeyID]
	if id != 0 && (k == nil || k.ID != id) {
		return ErrNoKey
	}
	if id == 0 {
		k = nil
	}
	var t [PushTagLen]byte
	tag(t[:], k, b[:offATag])
	if subtle.ConstantTimeCompare(t[:], b[offATag:]) != 1 {
		return ErrTag
	}
	be := binary.BigEndian
	*a = Ack{Flags: b[offAFlags], KeyID: id, BootID: BootID(b[offABootID : offABootID+BootIDLen]), Seq: be.Uint64(b[offASeq:]),
		RxTime: int64(be.Uint64(b[offARxTime:])), TxTime: int64(be.Uint64(b[offATxTime:]))}
	return nil
}
