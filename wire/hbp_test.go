// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"errors"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func testPushKey(t testing.TB, id uint8) *PushKey {
	t.Helper()
	master := make([]byte, KeyLen)
	for i := range master {
		master[i] = byte(i)
	}
	k, err := NewPushKey(id, master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// samplePushBody is the body of the golden HBP1 vectors: every section type.
func samplePushBody(t testing.TB) []byte {
	h := sampleHealth(7)
	blob := make([]byte, BlobSize)
	if err := EncodeBlob(blob, &h, nil); err != nil {
		t.Fatal(err)
	}
	b := AppendHost(nil, "web-01.example.net")
	b = AppendSection(b, SecHealth, blob)
	b = AppendCPU(b, []uint16{125, 980, 0, 1000})
	b = AppendMount(b, 100<<30, 73<<30, "/")
	b = AppendMount(b, 2<<40, 1<<40, "/srv/data")
	b = AppendIface(b, Iface{RxBytes: 1 << 40, TxBytes: 1 << 39, RxRate: 125000, TxRate: 64000, Errors: 3, Drops: 1}, "eth0")
	b = AppendSwap(b, 2<<30, 1<<20)
	b = AppendOS(b, "linux", "debian 13.1", "6.12.48-amd64", "x86_64")
	b = AppendProcs(b, 321, 1024)
	b = AppendCheck(b, CheckWarning, "disk_root", "DISK WARNING - 73% used", []Perf{
		{Label: "/", Unit: "B", Value: 73 << 30, Warn: 70 << 30, Crit: 90 << 30},
		{Label: "inodes", Unit: "%", Value: 12.5, Warn: math.NaN(), Crit: math.NaN()},
	})
	b = AppendMessage(b, 1, "maintenance starting")
	b = AppendRTT(b, 412345, 2)
	b = AppendMetric(b, "queue_depth", 17.25)
	return b
}

var sampleBoot = BootID{0x0b, 0xad, 0xf0, 0x0d, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

var sampleHeader = PushHeader{Flags: PushFlagBoot, BootID: sampleBoot, Seq: 42, SentAt: 1700000000_123456789}

func TestPushGoldenAndRoundTrip(t *testing.T) {
	body := samplePushBody(t)
	k := testPushKey(t, 1)
	for _, tc := range []struct {
		name string
		k    *PushKey
		seal bool
	}{
		{"hbp-keyless.hex", nil, false},
		{"hbp-hmac.hex", k, false},
		{"hbp-sealed.hex", k, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodePush(nil, sampleHeader, body, tc.k, tc.seal)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > PushMaxLen {
				t.Fatalf("sample datagram is %d bytes, over %d", len(b), PushMaxLen)
			}
			golden(t, tc.name, "HBP1: samplePushBody and sampleHeader in hbp_test.go; key id 1, master 00 01 … 1f where keyed", b)
			if tc.seal && bytes.Contains(b, []byte("maintenance starting")) {
				t.Fatal("sealed datagram carries its message in clear")
			}
			var p Push
			if err := DecodePush(b, tc.k, &p); err != nil {
				t.Fatal(err)
			}
			want := sampleHeader
			if tc.k != nil {
				want.KeyID = 1
			}
			if tc.seal {
				want.Flags |= PushFlagSealed
			}
			if p.PushHeader != want || !bytes.Equal(p.Body, body) {
				t.Fatalf("round trip: got %+v, want %+v (body equal %v)", p.PushHeader, want, bytes.Equal(p.Body, body))
			}
			checkSampleSections(t, &p)
		})
	}
}

func checkSampleSections(t *testing.T, p *Push) {
	t.Helper()
	it := p.Sections()
	var types []uint8
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		if err := ValidateSection(s); err != nil {
			t.Fatalf("section %d: %v", s.Type, err)
		}
		types = append(types, s.Type)
		switch s.Type {
		case SecHealth:
			var h Health
			if err := DecodeBlob(s.Data, nil, &h); err != nil || h.HostnameString() != "web-01.example" || h.Generation != 7 {
				t.Fatalf("health: %v %+v", err, h)
			}
		case SecCPU:
			if CPUCores(s.Data) != 4 || CPUCore(s.Data, 1) != 980 {
				t.Fatal("cpu")
			}
		case SecIface:
			i, _ := ParseIface(s.Data)
			if string(i.Name) != "eth0" || i.RxRate != 125000 || i.Errors != 3 {
				t.Fatalf("iface %+v", i)
			}
		case SecOS:
			o, _ := ParseOS(s.Data)
			if string(o.Kernel) != "6.12.48-amd64" || string(o.Arch) != "x86_64" {
				t.Fatalf("os %+v", o)
			}
		case SecCheck:
			c, _ := ParseCheck(s.Data)
			if c.Status != CheckWarning || string(c.Name) != "disk_root" || c.NPerf != 2 {
				t.Fatalf("check %+v", c)
			}
			l, u, v, w, cr := c.PerfAt(1)
			if string(l) != "inodes" || string(u) != "%" || v != 12.5 || !math.IsNaN(w) || !math.IsNaN(cr) {
				t.Fatalf("perf 1: %s %s %v %v %v", l, u, v, w, cr)
			}
		case SecMetric:
			n, v, _ := ParseMetric(s.Data)
			if string(n) != "queue_depth" || v != 17.25 {
				t.Fatal("metric")
			}
		}
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	if want := []uint8{12, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !bytes.Equal(types, want) {
		t.Fatalf("section types %v, want %v", types, want)
	}
}

// TestPushRejects: every single-bit change, every truncation and every
// extension of a datagram is rejected, as are the wrong key and no key.
func TestPushRejects(t *testing.T) {
	k := testPushKey(t, 1)
	other := testPushKey(t, 2)
	body := samplePushBody(t)
	for _, seal := range []bool{false, true} {
		for _, key := range []*PushKey{nil, k} {
			if seal && key == nil {
				continue
			}
			good, err := EncodePush(nil, sampleHeader, body, key, seal)
			if err != nil {
				t.Fatal(err)
			}
			var p Push
			for i := range good {
				for bit := range 8 {
					b := bytes.Clone(good)
					b[i] ^= 1 << bit
					if err := DecodePush(b, key, &p); err == nil {
						t.Fatalf("seal=%v key=%v: flipping bit %d of byte %d accepted", seal, key != nil, bit, i)
					}
				}
			}
			for n := range len(good) {
				if err := DecodePush(bytes.Clone(good[:n]), key, &p); err == nil {
					t.Fatalf("truncated to %d accepted", n)
				}
			}
			if err := DecodePush(append(bytes.Clone(good), 0), key, &p); !errors.Is(err, ErrFormat) {
				t.Fatalf("extended: %v", err)
			}
			if key != nil {
				if err := DecodePush(bytes.Clone(good), nil, &p); !errors.Is(err, ErrNoKey) {
					t.Fatalf("no key: %v", err)
				}
				if err := DecodePush(bytes.Clone(good), other, &p); !errors.Is(err, ErrNoKey) {
					t.Fatalf("other key id: %v", err)
				}
				// Same id, different secret: the tag fails.
				m := make([]byte, KeyLen)
				wrong, _ := NewPushKey(1, m)
				if err := DecodePush(bytes.Clone(good), wrong, &p); !errors.Is(err, ErrTag) {
					t.Fatalf("wrong secret: %v", err)
				}
			}
		}
	}
	// A keyless datagram re-labelled with a key id does not verify.
	b, _ := EncodePush(nil, sampleHeader, body, nil, false)
	b[offPKeyID] = 1
	var p Push
	if err := DecodePush(b, k, &p); !errors.Is(err, ErrTag) {
		t.Fatalf("relabelled: %v", err)
	}
	if _, err := EncodePush(nil, sampleHeader, make([]byte, PushMaxBody+1), k, false); !errors.Is(err, ErrTooBig) {
		t.Fatalf("too big: %v", err)
	}
	if _, err := EncodePush(nil, sampleHeader, nil, nil, true); !errors.Is(err, ErrNoKey) {
		t.Fatalf("seal without key: %v", err)
	}
}

func TestSectionRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Section
	}{
		{"health size", Section{SecHealth, make([]byte, 10)}},
		{"cpu odd", Section{SecCPU, []byte{0, 1, 2}}},
		{"cpu range", Section{SecCPU, []byte{0x03, 0xe9}}},
		{"mount short", Section{SecMount, make([]byte, 15)}},
		{"mount used>total", Section{SecMount, AppendMount(nil, 1, 2, "/")[3:]}},
		{"iface short", Section{SecIface, make([]byte, 39)}},
		{"swap used>total", Section{SecSwap, AppendSwap(nil, 1, 2)[3:]}},
		{"os short", Section{SecOS, []byte{5, 'l', 'i'}}},
		{"procs short", Section{SecProcs, []byte{1}}},
		{"check status", Section{SecCheck, []byte{4, 0, 0, 0}}},
		{"check trailing", Section{SecCheck, []byte{0, 0, 0, 0, 9}}},
		{"check nan", Section{SecCheck, AppendCheck(nil, 0, "x", "", []Perf{{Value: math.NaN()}})[3:]}},
		{"message level", Section{SecMessage, []byte{5, 'x'}}},
		{"rtt short", Section{SecRTT, make([]byte, 8)}},
		{"host empty", Section{SecHost, nil}},
		{"metric inf", Section{SecMetric, AppendMetric(nil, "x", math.Inf(1))[3:]}},
	} {
		if err := ValidateSection(tc.s); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	it := (&Push{Body: []byte{SecCPU, 0, 4, 0, 1}}).Sections()
	if _, ok := it.Next(); ok || !errors.Is(it.Err(), ErrShort) {
		t.Fatal("overrunning section accepted")
	}
	if err := ValidateSection(Section{Type: 200, Data: []byte("future")}); err != nil {
		t.Fatal("unknown section type rejected")
	}
}

func TestReplayWindow(t *testing.T) {
	var w ReplayWindow
	steps := []struct {
		boot   byte
		seq    uint64
		sentAt int64
		want   bool
	}{
		{1, 10, 100, true},
		{1, 10, 100, false}, // replay
		{1, 0, 100, false},  // sequence 0 is never valid
		{1, 12, 120, true},
		{1, 11, 110, true}, // late but in the window
		{1, 11, 110, false},
		{1, 100, 1000, true},
		{1, 37, 370, true},    // 63 below the top: still in
		{1, 36, 360, false},   // 64 below: out of the window
		{2, 1, 500, false},    // new boot sent before the newest accepted: old boot's replay
		{2, 1, 1001, true},    // a real restart
		{1, 100, 1000, false}, // boot 1's datagram replayed after the restart
		{2, 2, 1002, true},
	}
	for i, s := range steps {
		if got := w.Accept(BootID{s.boot}, s.seq, s.sentAt); got != s.want {
			t.Fatalf("step %d %+v: got %v", i, s, got)
		}
	}
}

func TestAckGoldenAndRejects(t *testing.T) {
	k := testPushKey(t, 1)
	a := Ack{Flags: AckFlagKernelRx, BootID: sampleBoot, Seq: 42, RxTime: 1700000000_200000000, TxTime: 1700000000_200050000}
	b := make([]byte, AckLen)
	if err := EncodeAck(b, a, k); err != nil {
		t.Fatal(err)
	}
	golden(t, "ack.hex", "HBA1: kernel rx, boot 0badf00d 04 05 … 0f, seq 42, rx 1700000000.2, tx +50µs; key id 1, master 00 01 … 1f", b)
	var got Ack
	if err := DecodeAck(b, k, &got); err != nil {
		t.Fatal(err)
	}
	a.KeyID = 1
	if got != a {
		t.Fatalf("got %+v want %+v", got, a)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		if DecodeAck(c, k, &got) == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if DecodeAck(b[:AckLen-1], k, &got) == nil || DecodeAck(append(bytes.Clone(b), 0), k, &got) == nil {
		t.Fatal("length change accepted")
	}
	if err := DecodeAck(b, nil, &got); !errors.Is(err, ErrNoKey) {
		t.Fatal(err)
	}
	if err := EncodeAck(b, a, nil); err != nil || DecodeAck(b, nil, &got) != nil || got.KeyID != 0 {
		t.Fatal("keyless ack")
	}
}

func TestPushDecodeDoesNotAllocate(t *testing.T) {
	k := testPushKey(t, 1)
	body := samplePushBody(t)
	hm, _ := EncodePush(nil, sampleHeader, body, k, false)
	sealed, _ := EncodePush(nil, sampleHeader, body, k, true)
	buf := make([]byte, len(sealed))
	var p Push
	walk := func() {
		it := p.Sections()
		for s, ok := it.Next(); ok; s, ok = it.Next() {
			if ValidateSection(s) != nil {
				panic("invalid")
			}
		}
	}
	if raceEnabled {
		t.Skip("allocation counts of pooled HMAC states are meaningless under -race (sync.Pool drops items)")
	}
	for name, src := range map[string][]byte{"hmac": hm, "sealed": sealed} {
		n := testing.AllocsPerRun(100, func() {
			copy(buf, src)
			if err := DecodePush(buf[:len(src)], k, &p); err != nil {
				panic(err)
			}
			walk()
		})
		if n != 0 {
			t.Errorf("%s: DecodePush and the section walk allocate %v times per run", name, n)
		}
	}
	ack := make([]byte, AckLen)
	var a Ack
	if n := testing.AllocsPerRun(100, func() {
		_ = EncodeAck(ack, Ack{Seq: 1}, k)
		_ = DecodeAck(ack, k, &a)
	}); n != 0 {
		t.Errorf("ACK encode+decode allocates %v times", n)
	}
}

// TestPushDocsAgree checks docs/wire.md §8's tables (whose rows name the
// constant in their third column) against the code.
func TestPushDocsAgree(t *testing.T) {
	raw, err := os.ReadFile("../docs/wire.md")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]int{
		"offPMagic": offPMagic, "offPVersion": offPVersion, "offPFlags": offPFlags, "offPKeyID": offPKeyID,
		"offPReserved": offPReserved, "offPBootID": offPBootID, "offPSeq": offPSeq, "offPSentAt": offPSentAt,
		"offPBodyLen": offPBodyLen, "offPPad": offPPad, "offPBody": offPBody,
		"offAMagic": offAMagic, "offAVersion": offAVersion, "offAFlags": offAFlags, "offAKeyID": offAKeyID,
		"offAPad": offAPad, "offABootID": offABootID, "offASeq": offASeq, "offARxTime": offARxTime,
		"offATxTime": offATxTime, "offATag": offATag,
	}
	re := regexp.MustCompile("(?m)^\\| (\\d+) \\| [^|]+ \\| `(off[PA][A-Za-z]+)` \\|")
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		off, _ := strconv.Atoi(m[1])
		v, ok := consts[m[2]]
		if !ok {
			t.Errorf("docs/wire.md names unknown %s", m[2])
			continue
		}
		seen[m[2]] = true
		if v != off {
			t.Errorf("docs/wire.md: %s at %d, code says %d", m[2], off, v)
		}
	}
	for n := range consts {
		if !seen[n] {
			t.Errorf("%s missing from docs/wire.md §8", n)
		}
	}
	for _, want := range []string{"`PushMaxLen` = 1232", "`AckLen` = 64", "`PushHeaderLen` = 44"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("docs/wire.md lacks %q", want)
		}
	}
	if PushMaxLen != 1232 || AckLen != 64 || PushHeaderLen != 44 || offATag+PushTagLen != AckLen {
		t.Error("sizes differ from docs")
	}
}

func FuzzDecodePush(f *testing.F) {
	for _, n := range []string{"hbp-keyless.hex", "hbp-hmac.hex", "hbp-sealed.hex"} {
		f.Add(readHex(f, n))
	}
	k := testPushKey(f, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Push
		if err := DecodePush(bytes.Clone(b), k, &p); err != nil {
			return
		}
		it := p.Sections()
		for s, ok := it.Next(); ok; s, ok = it.Next() {
			if ValidateSection(s) == nil && s.Type == SecCheck {
				c, _ := ParseCheck(s.Data)
				for i := range c.NPerf {
					c.PerfAt(i)
				}
			}
		}
		// What verifies re-encodes to the same bytes (clear forms).
		if p.Flags&PushFlagSealed == 0 {
			key := k
			if p.KeyID == 0 {
				key = nil
			}
			again, err := EncodePush(nil, p.PushHeader, p.Body, key, false)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encode differs: %v\n%x\n%x", err, again, b)
			}
		}
	})
}

func FuzzSections(f *testing.F) {
	f.Add(samplePushBody(f))
	f.Fuzz(func(t *testing.T, body []byte) {
		it := (&Push{Body: body}).Sections()
		for s, ok := it.Next(); ok; s, ok = it.Next() {
			if ValidateSection(s) == nil && s.Type == SecCheck {
				c, _ := ParseCheck(s.Data)
				for i := range c.NPerf {
					c.PerfAt(i)
				}
			}
		}
	})
}
