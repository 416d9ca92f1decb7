// SPDX-License-Identifier: MIT

package wire

import (
	"bytes"
	"compress/zlib"
	"errors"
	"testing"
)

func TestHBDGolden(t *testing.T) {
	m, err := DecodeHBD(readHex(t, "hbd-htb.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != HBDHeartbeat {
		t.Fatalf("id %q", m.ID)
	}
	if f, ok := m.Get("hostname"); !ok || f.Kind != HBDText || f.Text != "web-01.example" {
		t.Fatalf("hostname %+v", f)
	}
	if f, _ := m.Get("online"); f.Kind != HBDBool || f.Num != 1 {
		t.Fatalf("online %+v", f)
	}
	if f, _ := m.Get("os"); f.Kind != HBDText || f.Text != "Debian GNU/Linux 13" {
		t.Fatalf("os %+v", f)
	}
	got := map[string]float64{}
	for _, n := range m.Numbers(100) {
		got[n.Name] = n.Value
	}
	want := map[string]float64{
		"uptime": 864000, "load1": 0.25, "cpu_0": 12.5, "cpu_1": 3.25, "mem_percent": 47,
		"disk_root_percent": 73, "disk_srv_percent": 12.5, "net_eth0_rx_rate": 125000,
		"net_eth0_tx_rate": 64000, "swap_percent": 0.05, "online": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("numbers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	p, err := DecodeHBD(readHex(t, "hbd-plg.hex"))
	if err != nil || p.ID != HBDPlugin {
		t.Fatal(err, p.ID)
	}
	if f, _ := p.Get("output"); f.Text != "DISK WARNING - 73% used" {
		t.Fatalf("output %+v", f)
	}
	if f, _ := p.Get("status"); f.Num != 1 {
		t.Fatalf("status %+v", f)
	}
	if ns := p.Numbers(2); len(ns) != 2 {
		t.Fatalf("limit: %v", ns)
	}

	if _, err := DecodeHBD(readHex(t, "hbd-cmd.hex")); !errors.Is(err, ErrRefused) {
		t.Fatalf("CMD: %v", err)
	}
}

func TestHBDRoundTrip(t *testing.T) {
	b, err := EncodeHBD("HTB", [][2]any{{"hostname", "h1"}, {"cpu", 12.3456789}, {"up", true}, {"disks", map[string]any{"/": 1.5}}, {"n", 7}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeHBD(b)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Get("cpu"); f.Text != "12.34568" || f.Num != 12.34568 {
		t.Fatalf("5 decimals: %+v", f)
	}
	if f, _ := m.Get("up"); f.Kind != HBDBool {
		t.Fatalf("bool %+v", f)
	}
	if f, _ := m.Get("disks"); f.Kind != HBDJSON || f.Text != `{"/":1.5}` {
		t.Fatalf("json %+v", f)
	}
}

func TestHBDRejects(t *testing.T) {
	z := func(s string) []byte {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	big := bytes.Repeat([]byte("a=1;"), HBDMaxPlain/4+1)
	for name, b := range map[string][]byte{
		"no prefix":  []byte("HTB: x"),
		"unknown id": append([]byte("!XYZ: "), z("a=1")...),
		"UPD":        append([]byte("!UPD: "), z("url=http://x")...),
		"not zlib":   []byte("!HTB: a=1;b=2"),
		"truncated":  append([]byte("!HTB: "), z("a=1;b=2")[:6]...),
		"no equals":  append([]byte("!HTB: "), z("a=1;junk")...),
		"empty key":  append([]byte("!HTB: "), z("=1")...),
		"bad json":   append([]byte("!HTB: "), z("a=@{x")...),
		"after json": append([]byte("!HTB: "), z("a=@[1]x;b=2")...),
		"bomb":       append([]byte("!HTB: "), z(string(big))...),
	} {
		if _, err := DecodeHBD(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Go float syntaxes that hbc never writes stay text.
	m, err := DecodeHBD(append([]byte("!HTB: "), z("a=Inf;b=0x10;c=NaN;d=1e3;j=@{\"k\": \"x;y\"}")...))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if f, _ := m.Get(k); f.Kind != HBDText {
			t.Errorf("%s parsed as %v", k, f.Kind)
		}
	}
	if f, _ := m.Get("d"); f.Num != 1000 {
		t.Error("1e3")
	}
	if f, _ := m.Get("j"); f.Text != `{"k": "x;y"}` {
		t.Errorf("json with ';' inside: %q", f.Text)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{"/": "root", "/srv/data": "srv_data", "Rx-Rate": "rx_rate", "eth0.1": "eth0_1", "a__b": "a_b"} {
		if got := SanitizeName(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func FuzzDecodeHBD(f *testing.F) {
	for _, n := range []string{"hbd-htb.hex", "hbd-plg.hex", "hbd-cmd.hex"} {
		f.Add(readHex(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeHBD(b)
		if err != nil {
			return
		}
		m.Numbers(256)
	})
}

func FuzzParseHBDFields(f *testing.F) {
	f.Add([]byte(`hostname=a;cpu=@[1, {"x": 2}];up=1;t=1.50000`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseHBDFields(b)
		if err != nil {
			return
		}
		m := HBD{Fields: fs}
		m.Numbers(256)
	})
}
