// SPDX-License-Identifier: MIT

package bench

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

// echoFrame builds an Ethernet/IPv4/ICMP echo frame.
func echoFrame(reply bool, src, dst string, id, seq uint16) []byte {
	f := make([]byte, 14+20+8+16)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	icmp := ip[20:]
	if !reply {
		icmp[0] = 8
	}
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	return f
}

func pcapFile(bo binary.ByteOrder, nano bool, frames []Frame) []byte {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	bo.PutUint32(hdr[0:], magic)
	bo.PutUint16(hdr[4:], 2)
	bo.PutUint16(hdr[6:], 4)
	bo.PutUint32(hdr[16:], 262144)
	bo.PutUint32(hdr[20:], 1)
	b.Write(hdr)
	for _, f := range frames {
		rec := make([]byte, 16)
		frac := f.TS % 1e9
		if !nano {
			frac /= 1000
		}
		bo.PutUint32(rec[0:], uint32(f.TS/1e9))
		bo.PutUint32(rec[4:], uint32(frac))
		bo.PutUint32(rec[8:], uint32(len(f.Data)))
		bo.PutUint32(rec[12:], uint32(len(f.Data)))
		b.Write(rec)
		b.Write(f.Data)
	}
	return b.Bytes()
}

func TestReadPcapAndWireRTTs(t *testing.T) {
	const base = 1_700_000_000_000_000_000
	frames := []Frame{
		{base + 1_000, echoFrame(false, "198.19.255.253", "198.18.0.1", 7, 1)},
		{base + 2_000, echoFrame(false, "198.19.255.253", "198.18.0.2", 7, 1)},
		{base + 9_000, echoFrame(true, "198.18.0.2", "198.19.255.253", 7, 1)},
		{base + 26_000, echoFrame(true, "198.18.0.1", "198.19.255.253", 7, 1)},
		{base + 30_000, echoFrame(true, "198.18.0.3", "198.19.255.253", 7, 1)}, // unsolicited
		{base + 31_000, echoFrame(true, "198.18.0.1", "198.19.255.253", 7, 1)}, // duplicate
		{base + 32_000, []byte{1, 2, 3}},                                       // junk
	}
	for _, tc := range []struct {
		name string
		bo   binary.ByteOrder
		nano bool
		want map[string]int64
	}{
		{"nano LE", binary.LittleEndian, true, map[string]int64{"198.18.0.1": 25_000, "198.18.0.2": 7_000}},
		{"nano BE", binary.BigEndian, true, map[string]int64{"198.18.0.1": 25_000, "198.18.0.2": 7_000}},
		{"micro LE", binary.LittleEndian, false, map[string]int64{"198.18.0.1": 25_000, "198.18.0.2": 7_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPcap(bytes.NewReader(pcapFile(tc.bo, tc.nano, frames)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(frames) || got[0].TS != frames[0].TS {
				t.Fatalf("read %d frames, first at %d", len(got), got[0].TS)
			}
			rtt := WireRTTs(got)
			if len(rtt) != len(tc.want) {
				t.Fatalf("WireRTTs = %v", rtt)
			}
			for a, w := range tc.want {
				if rtt[netip.MustParseAddr(a)] != w {
					t.Errorf("%s: rtt %d, want %d", a, rtt[netip.MustParseAddr(a)], w)
				}
			}
		})
	}
	// A capture cut short mid-record keeps the whole frames.
	b := pcapFile(binary.LittleEndian, true, frames[:2])
	got, err := ReadPcap(bytes.NewReader(b[:len(b)-5]))
	if err != nil || len(got) != 1 {
		t.Fatalf("truncated: %d frames, %v", len(got), err)
	}
	if _, err := ReadPcap(bytes.NewReader([]byte("0123456789abcdef0123456789"))); err == nil {
		t.Fatal("bad magic accepted")
	}
}

func TestRTTErrors(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	got := RTTErrors(map[netip.Addr]int64{a: 10_000, b: 5_000, c: 1}, map[netip.Addr]int64{a: 12_000, b: 4_000})
	slices.Sort(got)
	if !slices.Equal(got, []float64{1_000, 2_000}) {
		t.Fatalf("RTTErrors = %v", got)
	}
}

func TestRequestRate(t *testing.T) {
	frames := []Frame{
		{0, echoFrame(false, "198.19.255.253", "198.18.0.1", 1, 1)},
		{500_000_000, echoFrame(true, "198.18.0.1", "198.19.255.253", 1, 1)},
		{1_000_000_000, echoFrame(false, "198.19.255.253", "198.18.0.2", 1, 2)},
		{2_000_000_000, echoFrame(false, "198.19.255.253", "198.18.0.3", 1, 3)},
	}
	if r := RequestRate(frames); r != 1 {
		t.Fatalf("RequestRate = %v, want 1", r)
	}
	if r := RequestRate(frames[:2]); r != 0 {
		t.Fatalf("RequestRate of one request = %v", r)
	}
}
