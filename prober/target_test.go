// SPDX-License-Identifier: MIT

package prober

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseSpecs(t *testing.T) {
	in := `# fleet
198.18.0.1 name=db1 role=db   # primary
2001:2::1
web.example.net name=web dc=par
198.18.1.0/30 role=edge
::ffff:198.18.0.9
`
	specs, err := ParseSpecs(strings.NewReader(in), "hosts.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 5 {
		t.Fatalf("got %d specs, want 5", len(specs))
	}
	if s := specs[0]; s.Addr != netip.MustParseAddr("198.18.0.1") || s.Name != "db1" || s.Labels["role"] != "db" || s.Pos != "hosts.txt:2" {
		t.Errorf("spec 0 = %+v", s)
	}
	if s := specs[2]; s.Host != "web.example.net" || s.Name != "web" || s.Labels["dc"] != "par" {
		t.Errorf("spec 2 = %+v", s)
	}
	if s := specs[3]; s.Prefix != netip.MustParsePrefix("198.18.1.0/30") {
		t.Errorf("spec 3 = %+v", s)
	}
	if s := specs[4]; !s.Addr.Is4() {
		t.Errorf("mapped address not unmapped: %v", s.Addr)
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"name=x", "must start with an address"},
		{"198.18.0.1/33", "bad CIDR"},
		{"198.18.0.1/24", "host bits set"},
		{"198.18.0.300", "bad address"},
		{"2001:2::zz", "bad address"},
		{"-bad-.example", "bad hostname"},
		{"exa mple$", "expected key=value"},
		{"host_$", "bad hostname"},
		{"198.18.0.1 label", "expected key=value"},
		{"198.18.0.1 =v", "empty label key"},
		{"198.18.0.1 k=", "empty value"},
		{"198.18.0.1 k!=v", "label key"},
		{"198.18.0.1 name=a name=b", "name given twice"},
		{"198.18.0.1 k=a k=b", "given twice"},
		{"198.18.0.0/24 name=x", "name= on CIDR"},
	} {
		_, err := ParseSpecs(strings.NewReader("198.18.0.7\n"+tc.line+"\n"), "f.txt", 0)
		var le *LineError
		if !errors.As(err, &le) || le.Line != 2 || le.File != "f.txt" || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.txt:2: ") {
			t.Errorf("%q: err = %v, want f.txt:2: …%s…", tc.line, err, tc.want)
		}
	}
}

func TestParseSpecsCap(t *testing.T) {
	for _, tc := range []struct {
		in  string
		max int
		ok  bool
	}{
		{"198.18.0.0/16\n", 0, true},                 // 65,534 hosts
		{"198.18.0.0/16\n198.18.0.0/24\n", 0, false}, // past 65,536
		{"198.18.0.0/15\n", 0, false},
		{"2001:2::/64\n", 0, false},
		{"2001:2::/112\n", 0, true},
		{"198.18.0.0/24\n", 100, false},
		{"198.18.0.1\n198.18.0.2\n198.18.0.3\n", 2, false},
	} {
		_, err := ParseSpecs(strings.NewReader(tc.in), "f", tc.max)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "past the cap")) {
			t.Errorf("%q max %d: err = %v, want ok=%v", tc.in, tc.max, err, tc.ok)
		}
	}
}

func TestResolve(t *testing.T) {
	specs, err := ParseSpecs(strings.NewReader(`198.18.0.1 name=a
198.18.0.0/30 role=edge
db.test
198.18.0.1 extra=1
2001:2::/127
`), "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, h string) ([]netip.Addr, error) {
		if h == "db.test" {
			return []netip.Addr{netip.MustParseAddr("2001:2::9"), netip.MustParseAddr("198.18.0.77")}, nil
		}
		return nil, errors.New("nxdomain")
	}
	ts, warns, err := Resolve(context.Background(), specs, lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range ts {
		got = append(got, tg.Addr.String()+"="+tg.Name)
	}
	want := "198.18.0.1=a 198.18.0.2=198.18.0.2 198.18.0.77=db.test 2001:2::=2001:2:: 2001:2::1=2001:2::1"
	if strings.Join(got, " ") != want {
		t.Errorf("targets = %v\nwant      %v", got, want)
	}
	// 198.18.0.1 came three times: from the /30 and from line 4.
	if len(warns) != 2 || !strings.Contains(warns[0], "f:2") || !strings.Contains(warns[1], "f:4: 198.18.0.1 duplicates f:1") {
		t.Errorf("warnings = %q", warns)
	}
	if ts[0].Labels["extra"] != "1" || ts[0].Labels["role"] != "edge" {
		t.Errorf("labels not merged: %v", ts[0].Labels)
	}
	if ts[2].Host != "db.test" {
		t.Errorf("host not recorded: %+v", ts[2])
	}

	// A failed lookup is an error naming the line, unless a previous
	// address is known.
	bad, _ := ParseSpecs(strings.NewReader("198.18.0.1\ngone.test\n"), "g", 0)
	if _, _, err := Resolve(context.Background(), bad, lookup, nil); err == nil || !strings.Contains(err.Error(), "g:2: resolving gone.test") {
		t.Errorf("err = %v", err)
	}
	prev := map[string]netip.Addr{"gone.test": netip.MustParseAddr("198.18.0.5")}
	ts, warns, err = Resolve(context.Background(), bad, lookup, prev)
	if err != nil || len(ts) != 2 || ts[1].Addr != prev["gone.test"] || len(warns) != 1 {
		t.Errorf("with prev: %v %v %v", ts, warns, err)
	}
	if _, _, err := Resolve(context.Background(), bad, nil, nil); err == nil {
		t.Error("no resolver: no error")
	}
}

// TestLegacyFlag: legacy=hbm2 marks a target whose HBM v2 replies are
// accepted; it reaches Target (also through CIDRs and merged duplicates);
// any other value names FILE:LINE.
func TestLegacyFlag(t *testing.T) {
	in := "198.18.0.1 legacy=hbm2 role=old\n198.18.0.2\n198.18.1.0/30 legacy=hbm2\n198.18.0.2 legacy=hbm2\n"
	specs, err := ParseSpecs(strings.NewReader(in), "t.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !specs[0].Legacy || specs[1].Legacy || specs[0].Labels["legacy"] != "" || specs[0].Labels["role"] != "old" {
		t.Fatalf("specs %+v", specs)
	}
	ts, _, err := Resolve(context.Background(), specs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"198.18.0.1": true, "198.18.0.2": true, "198.18.1.1": true, "198.18.1.2": true}
	if len(ts) != len(want) {
		t.Fatalf("%d targets: %+v", len(ts), ts)
	}
	for _, tg := range ts {
		if tg.Legacy != want[tg.Addr.String()] {
			t.Errorf("%v: legacy %v", tg.Addr, tg.Legacy)
		}
	}
	for _, bad := range []string{"198.18.0.1 legacy=hbm1", "198.18.0.1 legacy=hbm2 legacy=hbm2", "198.18.0.1 legacy=yes"} {
		_, err := ParseSpecs(strings.NewReader("198.18.0.7\n"+bad+"\n"), "t.txt", 0)
		var le *LineError
		if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(err.Error(), "legacy") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestParseSpecsOneGrammar: --once reads the daemon's grammar (package
// targets) and refuses the lines that are not probe targets.
func TestParseSpecsOneGrammar(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"tcp://198.18.0.1:22", "a tcp check; only addresses"},
		{"heartbeat://box", "a heartbeat check"},
		{"198.18.0.1 parent=sw1", "parent= is for the daemon"},
		{"198.18.0.1 check=x", "does not apply to icmp checks"},
	} {
		_, err := ParseSpecs(strings.NewReader(tc.line+"\n"), "f", 0)
		var le *LineError
		if !errors.As(err, &le) || le.Line != 1 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want f:1: …%s…", tc.line, err, tc.want)
		}
	}
	specs, err := ParseSpecs(strings.NewReader("198.18.0.1 legacy=hbm2 name=a/b\n"), "f", 0)
	if err != nil || !specs[0].Legacy || specs[0].Labels["legacy"] != "" || specs[0].Name != "a/b" {
		t.Errorf("specs %+v, %v", specs, err)
	}
}

// The bare-address fast path gives the grammar's Spec for every line it
// takes, and leaves every other line to the grammar.
func TestBareAddrSpecMatchesGrammar(t *testing.T) {
	for _, line := range []string{
		"198.18.0.1", "  198.18.0.2\r", "\t2001:db8::1 ", "::ffff:198.18.0.3", "0.0.0.0", "fe80::1%eth0",
		"198.18.0.4 name=db", "198.18.0.5 # c", "198.18.0.0/24", "host.example", "# only a comment", "", "1.2.3",
		"198.18.0.6 legacy=hbm2", "999.1.1.1",
		"198.18.0.7/32", " 198.18.0.8/31 ", "2001:db8::/126", "198.18.1.1/24", "198.18.0.0/33", "198.18.0.0/24 name=x",
		"::ffff:198.18.0.0/120", "198.18.0.0/15",
	} {
		fast, ok := bareAddrSpec(line, "f", 7, &strArena{})
		slow, err := ParseSpec(line, "f", 7)
		if !ok {
			if a := strings.TrimSpace(line); a == "198.18.0.1" || a == "2001:db8::1" || a == "198.18.0.7/32" || a == "198.18.0.0/15" {
				t.Errorf("%q: not taken by the fast path", line)
			}
			continue
		}
		if err != nil || slow == nil || !reflect.DeepEqual(fast, *slow) {
			t.Errorf("%q: fast %+v, grammar %+v (%v)", line, fast, slow, err)
		}
	}
}

// resolveSlow is the expansion through the grammar alone (ParseSpec per
// line, every address through the duplicate map): what the fast paths
// must equal.
func resolveSlow(t *testing.T, text string) []Target {
	t.Helper()
	var specs []Spec
	for i, l := range strings.Split(text, "\n") {
		s, err := ParseSpec(l, "f", i+1)
		if err != nil {
			t.Fatal(err)
		}
		if s != nil {
			specs = append(specs, *s)
		}
	}
	// a leading out-of-order address forces Resolve onto its map from the start
	first := netip.MustParseAddr("255.255.255.255")
	ts, _, err := Resolve(context.Background(), append([]Spec{{Addr: first, Pos: "f:0"}}, specs...), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts[1:]
}

// A CIDR list (bare lines, zmap's allow-list format) expands through the
// fast path to the same targets, in the same order, as through the
// grammar, duplicates and out-of-order lines included.
func TestCIDRExpansionMatchesGrammar(t *testing.T) {
	for _, text := range []string{
		"198.18.0.0/24\n198.18.1.0/30\n198.18.1.8/31\n198.18.1.10/32\n2001:db8::/126",
		"198.18.0.1/32\n198.18.0.2/32\n198.18.0.3/32",
		"198.18.0.8/29\n198.18.0.0/28\n198.18.0.9\n198.18.0.200/30 role=n\n198.18.0.1",
		"2001:db8::5\n198.18.0.0/30\n2001:db8::4/126",
	} {
		specs, err := ParseSpecs(strings.NewReader(text), "f", 0)
		if err != nil {
			t.Fatal(err)
		}
		fast, warns, err := Resolve(context.Background(), specs, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		slow := resolveSlow(t, text)
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%q:\nfast %v\nslow %v", text, fast, slow)
		}
		dups := len(specs) - len(fast)
		for _, s := range specs {
			dups += s.size(1<<20) - 1
		}
		if len(warns) != dups {
			t.Errorf("%q: %d warnings %q, want one per merged duplicate (%d)", text, len(warns), warns, dups)
		}
	}
}

func benchmarkLoad(b *testing.B, text string) {
	b.ReportAllocs()
	for b.Loop() {
		specs, err := ParseSpecs(strings.NewReader(text), "f", 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		ts, _, err := Resolve(context.Background(), specs, nil, nil)
		if err != nil || len(ts) != 65536 {
			b.Fatal(len(ts), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/65536, "ns/target")
}

// The sweep bench's two inputs for 65,536 targets: a list of addresses
// and the same list as /32 prefixes (zmap's allow-list).
func BenchmarkLoad65536Addrs(b *testing.B)  { benchmarkLoad(b, simList(65536, "")) }
func BenchmarkLoad65536CIDR32(b *testing.B) { benchmarkLoad(b, simList(65536, "/32")) }
func BenchmarkLoad65536Prefix(b *testing.B) { benchmarkLoad(b, "198.18.0.0/16\n198.19.0.0/31") }

func simList(n int, suffix string) string {
	var sb strings.Builder
	a := netip.MustParseAddr("198.18.0.1")
	for range n {
		sb.WriteString(a.String() + suffix + "\n")
		a = a.Next()
	}
	return sb.String()
}

// The arena's strings stay what they were built as across chunks, and a
// file name too long for the arena still gives the right position.
func TestStrArena(t *testing.T) {
	var a strArena
	var got []string
	for i := range 5000 {
		got = append(got, a.filePos("list.txt", i), a.addr(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})))
	}
	for i := range 5000 {
		if want := "list.txt:" + strconv.Itoa(i); got[2*i] != want {
			t.Fatalf("pos %d: %q, want %q", i, got[2*i], want)
		}
		if want := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String(); got[2*i+1] != want {
			t.Fatalf("addr %d: %q, want %q", i, got[2*i+1], want)
		}
	}
	long := strings.Repeat("d/", 150) + "list"
	if p := a.filePos(long, 12); p != long+":12" {
		t.Fatalf("long file: %q", p)
	}
	if s := a.addr(netip.MustParseAddr("fe80::1%eth0")); s != "fe80::1%eth0" {
		t.Fatalf("zoned: %q", s)
	}
}
