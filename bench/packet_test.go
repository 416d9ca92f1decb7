// SPDX-License-Identifier: MIT

package bench

import (
	"encoding/binary"
	"testing"

	"github.com/hbmon/hb/wire"
)

func TestEchoRequestAndReply(t *testing.T) {
	req := make([]byte, 8+wire.RequestLen)
	n := EchoRequest(req, 0x1234, 7, 42)
	if n != len(req) || wire.Checksum(req, 0) != 0 || !wire.IsRequest(req[8:]) {
		t.Fatalf("bad request: n=%d csum=%#x", n, wire.Checksum(req, 0))
	}
	pkt := make([]byte, 20+n)
	pkt[0], pkt[9] = 0x45, 1
	copy(pkt[12:], []byte{198, 19, 255, 253})
	copy(pkt[20:], req)
	out := make([]byte, 2048)
	m, src, ok := EchoReply(out, pkt)
	if !ok || m != n || src != [4]byte{198, 19, 255, 253} {
		t.Fatalf("EchoReply: ok=%v n=%d src=%v", ok, m, src)
	}
	if out[0] != 0 || wire.Checksum(out[:m], 0) != 0 || binary.BigEndian.Uint16(out[6:]) != 7 {
		t.Fatalf("bad reply % x", out[:8])
	}
	pkt[20] = 0 // an echo reply is not answered
	if _, _, ok := EchoReply(out, pkt); ok {
		t.Fatal("answered a reply")
	}
	if _, _, ok := EchoReply(out, pkt[:10]); ok {
		t.Fatal("answered a runt")
	}
}
