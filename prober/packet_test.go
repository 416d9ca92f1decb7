// SPDX-License-Identifier: MIT

package prober

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/hbmon/hb/obs"
	"github.com/hbmon/hb/wire"
)

// golden reads a testdata packet: '#' comment lines (the tcpdump line),
// then `tcpdump -x` hex lines.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hx strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		if _, rest, ok := strings.Cut(l, ":"); ok {
			l = rest
		}
		hx.WriteString(strings.ReplaceAll(l, " ", ""))
	}
	b, err := hex.DecodeString(hx.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// v6Raw strips a captured IPv6 header, as a raw ICMPv6 socket delivers
// the message, and returns it with the source address.
func v6Raw(b []byte) ([]byte, netip.Addr) { return b[40:], netip.AddrFrom16([16]byte(b[8:24])) }

func TestParseGolden(t *testing.T) {
	rep6, src6 := v6Raw(golden(t, "icmp6-echo-reply.txt"))
	err6, from6 := v6Raw(golden(t, "icmp6-no-route.txt"))
	for _, tc := range []struct {
		name     string
		p        rxPacket
		class    pktClass
		src, dst string
		seq      uint16
		typ      uint8
		code     uint8
	}{
		{"icmp4-echo-reply", parseIPv4(golden(t, "icmp4-echo-reply.txt")), pktReply, "198.18.0.1", "", 1, 0, 0},
		{"icmp4-host-unreachable", parseIPv4(golden(t, "icmp4-host-unreachable.txt")), pktError, "198.19.255.2", "198.18.32.1", 0, 3, 1},
		{"icmp6-echo-reply", parseICMP6(rep6, src6), pktReply, "2001:2::1", "", 1, 0, 0},
		{"icmp6-no-route", parseICMP6(err6, from6), pktError, "2001:2:ffff::2", "2001:2:0:1::1", 0, 1, 0},
	} {
		p := tc.p
		if p.class != tc.class || p.src.String() != tc.src || p.seq != tc.seq || p.id != 39237 || p.icmpType != tc.typ || p.icmpCode != tc.code {
			t.Errorf("%s: got class %d src %v id %d seq %d type %d code %d", tc.name, p.class, p.src, p.id, p.seq, p.icmpType, p.icmpCode)
		}
		if tc.dst != "" && p.dst.String() != tc.dst {
			t.Errorf("%s: quoted destination %v, want %s", tc.name, p.dst, tc.dst)
		}
		// The probe's cookie survives in replies and in the (full) quote.
		if _, w, ok := probeCookie(p.payload); !ok || uint16(w) != p.seq {
			t.Errorf("%s: cookie not found in the payload (ok=%v, tx low bits %d)", tc.name, ok, uint16(w))
		}
	}
	if got := obs.ICMPText(false, 3, 1); got != "host unreachable" {
		t.Errorf("ProblemText(3,1) = %q", got)
	}
	if got := obs.ICMPText(true, 1, 0); got != "no route to destination" {
		t.Errorf("ProblemText6(1,0) = %q", got)
	}
}

func TestParseRejects(t *testing.T) {
	reply := golden(t, "icmp4-echo-reply.txt")
	quote := golden(t, "icmp4-host-unreachable.txt")
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short IP header", reply[:19]},
		{"IPv6 version in a v4 socket", append([]byte{0x60}, reply[1:]...)},
		{"IHL past the end", append([]byte{0x4f}, reply[1:30]...)},
		{"quote cut inside the inner header", quote[:20+8+10]},
		{"quote cut before the inner ICMP header", quote[:20+8+20+4]},
		{"echo request, not reply", func() []byte { b := append([]byte(nil), reply...); b[20] = 8; return b }()},
		{"reply with code 1", func() []byte { b := append([]byte(nil), reply...); b[21] = 1; return b }()},
	} {
		if p := parseIPv4(tc.b); p.class != pktOther {
			t.Errorf("%s: class %d, want other", tc.name, p.class)
		}
	}
	if p := parseICMP6([]byte{129, 0, 0}, netip.Addr{}); p.class != pktOther {
		t.Error("short ICMPv6 accepted")
	}
}

func TestTemplateChecksumAndPatch(t *testing.T) {
	var tok wire.Token
	tok[0] = 0xaa
	b := template(kindICMP4, 0x1234, 7)
	patchProbe(b, kindICMP4, 42, 0xdeadbeefcafef00d, wireTime(1_700_000_000_123_456_789, 42), &tok)
	if wire.Checksum(b, 0) != 0 {
		t.Error("ICMPv4 checksum does not fold to zero")
	}
	if binary.BigEndian.Uint16(b[4:]) != 0x1234 || binary.BigEndian.Uint16(b[6:]) != 42 {
		t.Error("id/seq not written")
	}
	r, err := wire.ParseRequest(b[icmpHdrLen:])
	if err != nil || r.Cookie != 0xdeadbeefcafef00d || uint16(r.TxTime) != 42 || r.KeyID != 7 || r.Flags != wire.FlagHealth || r.Room != wire.BlobSize || r.Token != tok {
		t.Errorf("request = %+v, %v", r, err)
	}
	if d := 1_700_000_000_123_456_789 - r.TxTime; d < 0 || d > 0xffff {
		t.Errorf("wire time off by %d ns", d)
	}
	u := template(kindUDP, 0, 0)
	patchProbe(u, kindUDP, 9, 1, wireTime(0, 9), &tok)
	if len(u) != wire.RequestLen || !wire.IsRequest(u) {
		t.Error("UDP template is not a bare request")
	}
}

func TestDecodeHealth(t *testing.T) {
	key, _ := wire.NewKey(3, make([]byte, 32))
	h := wire.Health{Generation: 5, CollectedAt: 1_000_000_000_000, CPUBusy: 250, Uptime: 99}
	h.SetHostname("web1")
	req := wire.AppendRequest(nil, wire.Request{Flags: wire.FlagHealth, Room: wire.BlobSize, Cookie: 1})
	blob := make([]byte, wire.BlobSize)
	if err := wire.EncodeBlob(blob, &h, key); err != nil {
		t.Fatal(err)
	}
	if err := wire.MakeReply(req, blob); err != nil {
		t.Fatal(err)
	}
	var r Result
	decodeHealth(&r, append([]byte(nil), req...), key, h.CollectedAt+int64(1e9), 30e9)
	if r.HealthKind != HealthHBH1 || r.Health.HostnameString() != "web1" || r.Stale || r.BlobErr != nil {
		t.Errorf("sealed: %+v", r)
	}
	r = Result{}
	decodeHealth(&r, append([]byte(nil), req...), nil, h.CollectedAt, 30e9)
	if r.HealthKind != HealthNone || r.BlobErr != wire.ErrNoKey {
		t.Errorf("no key: kind %v err %v", r.HealthKind, r.BlobErr)
	}
	r = Result{}
	decodeHealth(&r, append([]byte(nil), req...), key, h.CollectedAt+int64(60e9), 30e9)
	if !r.Stale {
		t.Error("old blob not flagged stale")
	}
	r = Result{}
	m := wire.AppendHBM2(nil, wire.HBM2{Timestamp: 1000, CPUPercent: 12.5, MemPercent: 40, MemAvailMB: 100, DiskPercent: 70})
	decodeHealth(&r, m, nil, 1000e9, 30e9)
	if r.HealthKind != HealthHBM2 || r.HBM2.CPUPercent != 12.5 {
		t.Errorf("hbm2: %+v", r)
	}
	r = Result{}
	decodeHealth(&r, template(kindUDP, 0, 0), nil, 0, 30e9)
	if r.HealthKind != HealthNone || r.BlobErr != nil {
		t.Errorf("plain echo: %+v", r)
	}
}

func TestHotPathAllocs(t *testing.T) {
	st := newHotPath()
	if n := testing.AllocsPerRun(100, st.run); n != 0 {
		t.Errorf("hot path allocates %.1f times per packet", n)
	}
}

// hotPath is one probe's worth of per-packet work: patch a template,
// compute the cookie, parse the echoed reply, match it, decode health.
type hotPath struct {
	tx, rx []byte
	inf    *inflight
	sec    wire.Secret
	addr   netip.Addr
	tok    wire.Token
	res    Result
	seq    uint16
}

func newHotPath() *hotPath {
	h := &hotPath{tx: template(kindICMP4, 7, 0), rx: make([]byte, 20+icmpProbeLen), inf: new(inflight), addr: netip.MustParseAddr("198.18.0.1")}
	h.rx[0], h.rx[9] = 0x45, protoICMP
	copy(h.rx[12:16], []byte{198, 18, 0, 1})
	return h
}

func (h *hotPath) run() {
	seq, _ := h.inf.alloc()
	w := wireTime(1_700_000_000_000_000_000, seq)
	ck := wire.Cookie(&h.sec, h.addr, 7, seq, w)
	patchProbe(h.tx, kindICMP4, seq, ck, w, &h.tok)
	h.inf.slots[seq] = slot{addr: h.addr.As16(), cookie: ck, txUser: w, deadline: 1, state: slotPending}
	// The kernel's echo reply: type 0, same payload.
	copy(h.rx[20:], h.tx)
	h.rx[20] = icmp4EchoReply
	p := parseIPv4(h.rx)
	s, v := h.inf.matchReply(p.seq, p.src, p.payload, &replyPolicy{})
	if v != vFresh {
		panic("no match")
	}
	h.res = Result{Addr: s.slotAddr(), Seq: p.seq, Outcome: OutcomeOK}
	decodeHealth(&h.res, p.payload, nil, 0, 1)
	h.inf.sweep(2, func(uint16, *slot) {})
}

func BenchmarkHotPath(b *testing.B) {
	h := newHotPath()
	b.ReportAllocs()
	for b.Loop() {
		h.run()
	}
}

func FuzzParseIPv4(f *testing.F) {
	f.Add(golden(f, "icmp4-echo-reply.txt"))
	f.Add(golden(f, "icmp4-host-unreachable.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parseIPv4(b)
		probeCookie(p.payload)
		parseICMP4(b, netip.Addr{})
	})
}

func FuzzParseICMP6(f *testing.F) {
	b, _ := v6Raw(golden(f, "icmp6-echo-reply.txt"))
	f.Add(b)
	b, _ = v6Raw(golden(f, "icmp6-no-route.txt"))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parseICMP6(b, netip.Addr{})
		probeCookie(p.payload)
		var r Result
		decodeHealth(&r, b, nil, 0, 1)
	})
}

func FuzzParseCmsgs(f *testing.F) {
	f.Add(cmsgGolden(f, goldenTimestamping))
	f.Add(cmsgGolden(f, goldenTxStamp))
	f.Fuzz(func(t *testing.T, b []byte) { parseCmsgs(b) })
}
