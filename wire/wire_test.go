// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// readHex reads a golden file: hex digits, whitespace and # comments.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, comment string, got []byte) {
	t.Helper()
	if *update {
		var sb strings.Builder
		for _, l := range strings.Split(comment, "\n") {
			sb.WriteString("# " + l + "\n")
		}
		for i := 0; i < len(got); i += 16 {
			end := min(i+16, len(got))
			for j := i; j < end; j += 4 {
				sb.WriteString(hex.EncodeToString(got[j:min(j+4, end)]))
				if j+4 < end {
					sb.WriteByte(' ')
				}
			}
			sb.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readHex(t, name); !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n got %x\nwant %x", name, got, want)
	}
}

func TestHBM2Vector(t *testing.T) {
	m := HBM2{Timestamp: 1700000000.0, CPUPercent: 12.5, MemPercent: 47.0, MemAvailMB: 8192.0, DiskPercent: 73.0}
	got := AppendHBM2(nil, m)
	want, _ := hex.DecodeString(strings.ReplaceAll("0248424d 41d954fc40000000 41480000 423c0000 46000000 42920000", " ", ""))
	if !bytes.Equal(got, want) {
		t.Fatalf("encode: got %x, want %x", got, want)
	}
	golden(t, "hbm2.hex", "HBM v2: ts 1700000000.0 cpu 12.5 mem 47.0 avail 8192.0 disk 73.0", got)
	back, err := DecodeHBM2(got)
	if err != nil || back != m {
		t.Fatalf("decode: %+v, %v", back, err)
	}
	if !IsHBM2(got) {
		t.Fatal("IsHBM2 false on a valid payload")
	}
}

func TestHBM2Rejects(t *testing.T) {
	good := AppendHBM2(nil, HBM2{Timestamp: 1, CPUPercent: 1, MemPercent: 1, MemAvailMB: 1, DiskPercent: 1})
	mut := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	f32 := func(off int, v float32) []byte {
		return mut(func(b []byte) { putF32(b[off:], v) })
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short":        {good[:27], ErrShort},
		"empty":        {nil, ErrShort},
		"magic":        {mut(func(b []byte) { b[2] = 'X' }), ErrMagic},
		"version":      {mut(func(b []byte) { b[0] = 3 }), ErrVersion},
		"nan ts":       {mut(func(b []byte) { putF64(b[4:], math.NaN()) }), ErrRange},
		"inf ts":       {mut(func(b []byte) { putF64(b[4:], math.Inf(1)) }), ErrRange},
		"cpu > 100":    {f32(12, 100.5), ErrRange},
		"cpu < 0":      {f32(12, -0.1), ErrRange},
		"mem nan":      {f32(16, float32(math.NaN())), ErrRange},
		"avail inf":    {f32(20, float32(math.Inf(1))), ErrRange},
		"avail < 0":    {f32(20, -1), ErrRange},
		"disk > 100":   {f32(24, 101), ErrRange},
		"disk -inf":    {f32(24, float32(math.Inf(-1))), ErrRange},
		"edge 0 & 100": {mut(func(b []byte) { putF32(b[12:], 0); putF32(b[16:], 100) }), nil},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeHBM2(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
}

func putF64(b []byte, v float64) {
	u := math.Float64bits(v)
	for i := range 8 {
		b[i] = byte(u >> (56 - 8*i))
	}
}

func testSecret() *Secret {
	var s Secret
	for i := range s {
		s[i] = byte(0xa0 + i)
	}
	return &s
}

func testKey(t testing.TB) *Key {
	t.Helper()
	master := make([]byte, KeyLen)
	for i := range master {
		master[i] = byte(i)
	}
	k, err := NewKey(1, master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleHealth(gen uint64) Health {
	h := Health{
		BootID: BootID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Generation: gen, CollectedAt: 1700000000_123456789,
		BootTime: 1699990000, Uptime: 10000, CPUBusy: 125, NumCPU: 8, FullestMount: 731,
		Load1: 1250, Load5: 990, Load15: 500, Procs: 321,
		MemTotal: 16 << 30, MemAvailable: 8 << 30, SwapTotal: 2 << 30, SwapUsed: 1 << 20,
		RootTotal: 100 << 30, RootUsed: 73 << 30, NetRxRate: 125000, NetTxRate: 64000,
	}
	h.SetHostname("web-01.example")
	return h
}

func TestRequestGoldenAndRoundTrip(t *testing.T) {
	k := testKey(t)
	const tx = 1700000000_000000001
	target := netip.MustParseAddr("198.18.0.7")
	r := Request{Flags: FlagHealth, KeyID: k.ID, Room: BlobSize, Cookie: Cookie(testSecret(), target, 0x4242, 7, tx), TxTime: tx, Token: k.Token(tx, target)}
	b := AppendRequest(nil, r)
	if len(b) != RequestLen {
		t.Fatalf("len %d, want %d", len(b), RequestLen)
	}
	golden(t, "request.hex", "HBQ1 request: flags=health key=1 room=180 target 198.18.0.7 id 0x4242 seq 7\ntx 1700000000000000001 ns, secret a0..af, token of master 00..1f for 198.18.0.7", b)
	got, err := ParseRequest(b)
	if err != nil || got != r {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, r)
	}
	if !k.CheckToken(got.Token, tx, target) {
		t.Fatal("token does not check")
	}
	// A reply built from it.
	var blob [BlobSize]byte
	h := sampleHealth(42)
	if err := EncodeBlob(blob[:], &h, nil); err != nil {
		t.Fatal(err)
	}
	if err := MakeReply(b, blob[:]); err != nil {
		t.Fatal(err)
	}
	golden(t, "reply.hex", "HBR1 reply to request.hex carrying blob-clear.hex", b)
	rep, err := ParseReply(b)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cookie != r.Cookie || rep.TxTime != tx || rep.Room != BlobSize || rep.KeyID != 1 || rep.Flags != FlagHealth {
		t.Fatalf("reply header %+v", rep)
	}
	if !bytes.Equal(b[OffToken:OffToken+TokenLen], make([]byte, TokenLen)) {
		t.Fatal("token echoed in reply")
	}
	var back Health
	if err := DecodeBlob(rep.Blob, nil, &back); err != nil || back != h {
		t.Fatalf("blob in reply: %+v %v", back, err)
	}
}

func TestRequestErrors(t *testing.T) {
	b := AppendRequest(nil, Request{Room: 8})
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short header": {b[:HeaderLen-1], ErrShort},
		"short room":   {b[:HeaderLen+7], ErrShort},
		"magic":        {append([]byte("HBQ2"), b[4:]...), ErrMagic},
	} {
		if _, err := ParseRequest(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if err := MakeReply(bytes.Clone(b), make([]byte, BlobSize)); !errors.Is(err, ErrRoom) {
		t.Errorf("MakeReply with small room: %v", err)
	}
	if _, err := ParseReply(b); !errors.Is(err, ErrMagic) {
		t.Errorf("ParseReply on a request: %v", err)
	}
	if _, err := ParseReply([]byte("HBR1")); !errors.Is(err, ErrShort) {
		t.Errorf("ParseReply short: %v", err)
	}
}

func TestBlobGoldenAndRoundTrip(t *testing.T) {
	k := testKey(t)
	h := sampleHealth(42)
	var clearB, sealedB [BlobSize]byte
	if err := EncodeBlob(clearB[:], &h, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "blob-clear.hex", "HBH1 clear blob: see sampleHealth(42) in wire_test.go", clearB[:])
	if err := EncodeBlob(sealedB[:], &h, k); err != nil {
		t.Fatal(err)
	}
	golden(t, "blob-sealed.hex", "HBH1 sealed blob: sampleHealth(42), key id 1, master 00 01 .. 1f", sealedB[:])
	// The golden sealed blob opens under docs/wire.md §3 written out by hand.
	master := make([]byte, KeyLen)
	for i := range master {
		master[i] = byte(i)
	}
	pairOf(t, master, sealedB[:])

	var got Health
	if err := DecodeBlob(clearB[:], k, &got); err != nil || got != h || got.Sealed() {
		t.Fatalf("clear: %+v %v", got, err)
	}
	if got.HostnameString() != "web-01.example" {
		t.Fatalf("hostname %q", got.HostnameString())
	}
	sealed := sealedB
	if err := DecodeBlob(sealed[:], k, &got); err != nil || !got.Sealed() || got.KeyID != 1 {
		t.Fatalf("sealed: %+v %v", got, err)
	}
	got.Flags, got.KeyID = 0, 0
	if got != h {
		t.Fatalf("sealed round trip: %+v, want %+v", got, h)
	}
	// The body of a sealed blob is not the clear body.
	if bytes.Equal(sealedB[offBBody:offBTag], clearB[offBBody:offBTag]) {
		t.Fatal("sealed body is in clear")
	}
}

func TestBlobRejects(t *testing.T) {
	k := testKey(t)
	other, _ := NewKey(1, bytes.Repeat([]byte{7}, KeyLen))
	enc := func(gen uint64, key *Key) []byte {
		h := sampleHealth(gen)
		h.CPUBusy = uint16(gen)
		h.MemAvailable = gen << 20
		b := make([]byte, BlobSize)
		if err := EncodeBlob(b, &h, key); err != nil {
			t.Fatal(err)
		}
		return b
	}
	torn := func(key *Key) []byte {
		a, b := enc(10, key), enc(11, key)
		return append(a[:BlobSize/2:BlobSize/2], b[BlobSize/2:]...)
	}
	for name, tc := range map[string]struct {
		b    []byte
		key  *Key
		want error
	}{
		"clear truncated":        {enc(1, nil)[:BlobSize-1], nil, ErrShort},
		"clear bad magic":        {append([]byte("HBH2"), enc(1, nil)[4:]...), nil, ErrMagic},
		"clear version 1":        {func() []byte { b := enc(1, nil); b[4] = 1; return b }(), nil, ErrVersion},
		"sealed version 1":       {func() []byte { b := enc(1, k); b[4] = 1; return b }(), k, ErrVersion},
		"clear version 3":        {func() []byte { b := enc(1, nil); b[4] = 3; return b }(), nil, ErrVersion},
		"clear tampered body":    {func() []byte { b := enc(1, nil); b[offBCPU+1] ^= 1; return b }(), nil, ErrChecksum},
		"clear tampered crc":     {func() []byte { b := enc(1, nil); b[BlobSize-1] ^= 0x80; return b }(), nil, ErrChecksum},
		"clear torn":             {torn(nil), nil, ErrChecksum},
		"sealed truncated":       {enc(1, k)[:100], k, ErrShort},
		"sealed no key":          {enc(1, k), nil, ErrNoKey},
		"sealed other key id":    {func() []byte { b := enc(1, k); b[offBKeyID] = 9; return b }(), k, ErrNoKey},
		"sealed wrong key":       {enc(1, k), other, ErrSeal},
		"sealed tampered body":   {func() []byte { b := enc(1, k); b[offBMemAvail] ^= 1; return b }(), k, ErrSeal},
		"sealed tampered header": {func() []byte { b := enc(1, k); b[offBCollected] ^= 1; return b }(), k, ErrSeal},
		"sealed tampered tag":    {func() []byte { b := enc(1, k); b[BlobSize-3] ^= 1; return b }(), k, ErrSeal},
		"sealed torn":            {torn(k), k, ErrSeal},
	} {
		t.Run(name, func(t *testing.T) {
			var h Health
			if err := DecodeBlob(tc.b, tc.key, &h); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// No single flipped bit anywhere gets through, clear or sealed.
	for _, key := range []*Key{nil, k} {
		good := enc(5, key)
		for i := range BlobSize * 8 {
			b := bytes.Clone(good)
			b[i/8] ^= 1 << (i % 8)
			var h Health
			if err := DecodeBlob(b, key, &h); err == nil {
				t.Fatalf("sealed=%v: bit %d flipped and the blob still decoded", key != nil, i)
			}
		}
	}
}

func TestEncodeBlobShort(t *testing.T) {
	h := sampleHealth(1)
	if err := EncodeBlob(make([]byte, BlobSize-1), &h, nil); !errors.Is(err, ErrShort) {
		t.Fatal(err)
	}
}

func TestTokenWindow(t *testing.T) {
	k := testKey(t)
	const now = 1700000039_000000000 // 39 s into a minute
	host := netip.MustParseAddr("198.18.0.7")
	tok := k.Token(now, host)
	for name, tc := range map[string]struct {
		at   int64
		want bool
	}{
		"same minute":        {now + 20e9, true},
		"next minute":        {now + 30e9, true},  // previous minute's token still valid
		"two minutes later":  {now + 90e9, false}, // too old
		"previous minute":    {now - 60e9, true},  // a prober whose clock runs ahead
		"two minutes before": {now - 120e9, false},
	} {
		if got := k.CheckToken(tok, tc.at, host); got != tc.want {
			t.Errorf("%s: CheckToken = %v, want %v", name, got, tc.want)
		}
	}
	other, _ := NewKey(1, bytes.Repeat([]byte{9}, KeyLen))
	if other.CheckToken(tok, now, host) {
		t.Error("another key accepted the token")
	}
	// Bound to the target: refused for every other address, IPv4 and its
	// mapped form are one address.
	for _, a := range []string{"198.18.0.8", "2001:2::7", "::ffff:198.18.0.8", "0.0.0.0"} {
		if k.CheckToken(tok, now, netip.MustParseAddr(a)) {
			t.Errorf("token for %v accepted for %s", host, a)
		}
	}
	if !k.CheckToken(tok, now, netip.MustParseAddr("::ffff:198.18.0.7")) {
		t.Error("token refused for the IPv4-mapped form of its own address")
	}
	// The pooled HMAC (Key.Token) and a fresh one agree, also when used
	// from many goroutines at once.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				at := now + int64(g*1000+i)*60e9
				if k.Token(at, host) != MakeToken(k.tokenKey, EpochMinute(at), host) {
					t.Error("pooled token differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	if v := k.ValidTokens(now, host); v[1] != tok || v[0] == tok || v[2] == tok || v[0] != k.Token(now-60e9, host) || v[2] != k.Token(now+60e9, host) {
		t.Errorf("ValidTokens = %x", v)
	}
	if _, err := NewKey(0, make([]byte, KeyLen)); !errors.Is(err, ErrKey) {
		t.Error("key id 0 accepted")
	}
	if _, err := NewKey(1, make([]byte, 16)); !errors.Is(err, ErrKey) {
		t.Error("16-byte master accepted")
	}
}

func TestCookieBindsEveryInput(t *testing.T) {
	s := testSecret()
	a := netip.MustParseAddr("198.18.0.1")
	base := Cookie(s, a, 1, 2, 3)
	s2 := *s
	s2[0] ^= 1
	for name, c := range map[string]uint64{
		"secret":  Cookie(&s2, a, 1, 2, 3),
		"addr":    Cookie(s, netip.MustParseAddr("198.18.0.2"), 1, 2, 3),
		"addr v6": Cookie(s, netip.MustParseAddr("2001:2::1"), 1, 2, 3),
		"id":      Cookie(s, a, 9, 2, 3),
		"seq":     Cookie(s, a, 1, 9, 3),
		"tx":      Cookie(s, a, 1, 2, 9),
	} {
		if c == base {
			t.Errorf("changing %s did not change the cookie", name)
		}
	}
	if Cookie(s, a, 1, 2, 3) != base {
		t.Error("cookie not deterministic")
	}
	// IPv4 and its IPv4-mapped IPv6 form are the same target.
	if Cookie(s, netip.MustParseAddr("::ffff:198.18.0.1"), 1, 2, 3) != base {
		t.Error("IPv4-mapped form differs")
	}
}

func TestChecksum(t *testing.T) {
	// RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if c := Checksum(b, 0); c != 0x220d {
		t.Fatalf("checksum %04x, want 220d", c)
	}
	// A buffer with its checksum in place folds to zero; odd lengths pad.
	odd := []byte{0x08, 0, 0, 0, 0x12, 0x34, 0, 1, 0xab}
	c := Checksum(odd, 0)
	odd[2], odd[3] = byte(c>>8), byte(c)
	if Checksum(odd, 0) != 0 {
		t.Fatal("checksum in place does not fold to zero")
	}
}

func TestHotDecodersDoNotAllocate(t *testing.T) {
	k := testKey(t)
	h := sampleHealth(3)
	req := AppendRequest(nil, Request{Flags: FlagHealth, Room: BlobSize})
	rep := bytes.Clone(req)
	clearB := make([]byte, BlobSize)
	_ = EncodeBlob(clearB, &h, nil)
	_ = MakeReply(rep, clearB)
	sealed := make([]byte, BlobSize)
	_ = EncodeBlob(sealed, &h, k)
	work := make([]byte, BlobSize)
	hbm := AppendHBM2(nil, HBM2{Timestamp: 1, CPUPercent: 2})
	var out Health
	for name, f := range map[string]func(){
		"ParseRequest":      func() { _, _ = ParseRequest(req) },
		"ParseReply":        func() { _, _ = ParseReply(rep) },
		"DecodeBlob clear":  func() { _ = DecodeBlob(clearB, nil, &out) },
		"DecodeBlob sealed": func() { copy(work, sealed); _ = DecodeBlob(work, k, &out) },
		"DecodeHBM2":        func() { _, _ = DecodeHBM2(hbm) },
		"Cookie":            func() { _ = Cookie(testSecretStatic, netip.AddrFrom4([4]byte{198, 18, 0, 1}), 1, 2, 3) },
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %.1f times per run", name, n)
		}
	}
}

var testSecretStatic = testSecret()

func TestParseSecret(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeyLen)
	for _, in := range [][]byte{
		raw,
		[]byte(hex.EncodeToString(raw) + "\n"),
		[]byte("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"),
	} {
		got, err := ParseSecret(in)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseSecret(%q) = %x, %v", in, got, err)
		}
	}
	for _, bad := range []string{"too short", strings.Repeat("ab", 31), "q6urq6ur\n"} {
		if _, err := ParseSecret([]byte(bad)); !errors.Is(err, ErrKey) {
			t.Errorf("ParseSecret(%q): %v, want ErrKey", bad, err)
		}
	}
}
