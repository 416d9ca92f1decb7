// SPDX-License-Identifier: MIT

package prober

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// Control messages as recvmsg returns them on 64-bit little-endian Linux
// (struct cmsghdr: size_t len, int level, int type; data 8-aligned).
const (
	// SOL_SOCKET/SO_TIMESTAMPING (37): scm_timestamping, ts[0] =
	// 1700000000.123456789, ts[1..2] zero.
	goldenTimestamping = `
40000000 00000000 01000000 25000000
00f15365 00000000 15cd5b07 00000000
00000000 00000000 00000000 00000000
00000000 00000000 00000000 00000000`
	// A TX timestamp from the error queue: SO_TIMESTAMPING as above, then
	// SOL_IP/IP_RECVERR (11): sock_extended_err{errno ENOMSG (42), origin
	// TIMESTAMPING (4), info SCM_TSTAMP_SND (0), data (OPT_ID key) 5} and
	// an empty offender sockaddr_in.
	goldenTxStamp = goldenTimestamping + `
30000000 00000000 00000000 0b000000
2a000000 04000000 00000000 05000000
00000000 00000000 00000000 00000000`
	// An ICMP error queued on a ping socket: SOL_IP/IP_RECVERR with
	// errno EHOSTUNREACH (113), origin ICMP (2), type 3 code 1, offender
	// 198.19.255.2; then SO_TIMESTAMPNS (35) 1700000001.5.
	goldenICMPErr = `
30000000 00000000 00000000 0b000000
71000000 02030100 00000000 00000000
02000000 c613ff02 00000000 00000000
20000000 00000000 01000000 23000000
01f15365 00000000 0065cd1d 00000000`
	// SOL_IPV6/IPV6_RECVERR (25) from ICMPv6 (origin 3), type 1 code 3,
	// offender sockaddr_in6 2001:2:ffff::2.
	goldenICMP6Err = `
3c000000 00000000 29000000 19000000
71000000 03010300 00000000 00000000
0a000000 00000000 20010002 ffff0000
00000000 00000002 00000000 00000000`
)

func cmsgGolden(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCmsgsGolden(t *testing.T) {
	if longSize != 8 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden control messages are 64-bit little-endian")
	}
	c := parseCmsgs(cmsgGolden(t, goldenTimestamping))
	if c.ts != 1700000000123456789 || c.hasErr {
		t.Errorf("SO_TIMESTAMPING: %+v", c)
	}
	c = parseCmsgs(cmsgGolden(t, goldenTxStamp))
	if c.ts != 1700000000123456789 || !c.hasErr || c.err.origin != eeOriginTimestamping || c.err.info != scmTstampSnd || c.err.data != 5 || c.err.errno != 42 {
		t.Errorf("TX stamp: %+v", c)
	}
	c = parseCmsgs(cmsgGolden(t, goldenICMPErr))
	if !c.hasErr || c.err.origin != eeOriginICMP || c.err.typ != 3 || c.err.code != 1 || c.err.offender != netip.MustParseAddr("198.19.255.2") || c.ts != 1700000001500000000 {
		t.Errorf("ICMP error: %+v", c)
	}
	c = parseCmsgs(cmsgGolden(t, goldenICMP6Err))
	if !c.hasErr || c.err.origin != eeOriginICMP6 || c.err.typ != 1 || c.err.code != 3 || c.err.offender != netip.MustParseAddr("2001:2:ffff::2") {
		t.Errorf("ICMPv6 error: %+v", c)
	}
	// Truncations never panic and keep what was whole.
	full := cmsgGolden(t, goldenTxStamp)
	for n := range full {
		parseCmsgs(full[:n])
	}
	if c := parseCmsgs(full[:64]); c.ts == 0 || c.hasErr {
		t.Errorf("first message only: %+v", c)
	}
}

// An AF_PACKET TX timestamp (OPT_TSONLY): SO_TIMESTAMPING, then
// SOL_PACKET (263)/PACKET_TX_TIMESTAMP (16) carrying the
// sock_extended_err (errno ENOMSG, origin TIMESTAMPING, key 7).
const goldenPacketTxStamp = goldenTimestamping + `
20000000 00000000 07010000 10000000
2a000000 04000000 00000000 07000000`

func TestParseCmsgsPacketTxStamp(t *testing.T) {
	if longSize != 8 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden control messages are 64-bit little-endian")
	}
	b := cmsgGolden(t, goldenPacketTxStamp)
	c := parseCmsgs(b)
	if !c.hasErr || c.err.origin != eeOriginTimestamping || c.err.info != scmTstampSnd || c.err.data != 7 || c.ts != 1700000000123456789 {
		t.Fatalf("parsed %+v", c)
	}
	// The packet socket's keys are rewritten to the engine's count; the
	// timestamp and the rest stay.
	rekeyCmsgs(b, func(k uint32) uint32 { return k*1000 + 1 })
	c2 := parseCmsgs(b)
	if c2.err.data != 7001 || c2.ts != c.ts || c2.err.origin != c.err.origin {
		t.Fatalf("rekeyed %+v", c2)
	}
	// A raw socket's IP_RECVERR key too; a truncated buffer is left alone.
	b = cmsgGolden(t, goldenTxStamp)
	rekeyCmsgs(b, func(k uint32) uint32 { return k + 10 })
	if c := parseCmsgs(b); c.err.data != 15 {
		t.Fatalf("rekeyed IP_RECVERR key %d, want 15", c.err.data)
	}
	short := cmsgGolden(t, goldenTxStamp)
	short = short[:len(short)-20]
	orig := append([]byte(nil), short...)
	rekeyCmsgs(short, func(uint32) uint32 { return 99 })
	if !bytes.Equal(short, orig) {
		t.Fatal("truncated control bytes were modified")
	}
}
