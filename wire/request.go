// SPDX-License-Identifier: MIT

package wire

import (
	"encoding/binary"
)

// Probe request and reply (docs/wire.md §1). The request is the payload of an
// ICMP/ICMPv6 echo request or of a UDP datagram to port 50003.
const (
	RequestMagic = "HBQ1"
	ReplyMagic   = "HBR1"

	// HeaderLen is the length of the request header; the room follows it.
	HeaderLen = 40

	OffMagic  = 0
	OffFlags  = 4
	OffKeyID  = 5
	OffRoom   = 6
	OffCookie = 8
	OffTxTime = 16
	OffToken  = 24
	OffRoomAt = HeaderLen

	// EchoedLen is how many leading bytes a reply echoes from its request
	// (magic rewritten).
	EchoedLen = 24

	// FlagHealth asks the responder for a health blob.
	FlagHealth = 1 << 0

	// DefaultUDPPort is where UDP probes are sent.
	DefaultUDPPort = 50003

	// RequestLen is the length of a request carrying room for one blob.
	RequestLen = HeaderLen + BlobSize
)

// Request is a decoded probe request header.
type Request struct {
	Flags  uint8
	KeyID  uint8
	Room   uint16
	Cookie uint64
	TxTime int64 // unix ns, the prober's clock
	Token  Token
}

// AppendRequest appends r followed by r.Room zero bytes to b and returns
// the extended slice.
func AppendRequest(b []byte, r Request) []byte {
	n := len(b)
	b = append(b, make([]byte, HeaderLen+int(r.Room))...)
	PutRequest(b[n:], r)
	return b
}

// PutRequest writes r's header into b[:HeaderLen] and zeroes the room
// b[HeaderLen:HeaderLen+r.Room]. It panics if b is shorter than that, like
// the encoding/binary Put functions.
func PutRequest(b []byte, r Request) {
	_ = b[HeaderLen+int(r.Room)-1]
	copy(b[OffMagic:], RequestMagic)
	b[OffFlags] = r.Flags
	b[OffKeyID] = r.KeyID
	binary.BigEndian.PutUint16(b[OffRoom:], r.Room)
	binary.BigEndian.PutUint64(b[OffCookie:], r.Cookie)
	binary.BigEndian.PutUint64(b[OffTxTime:], uint64(r.TxTime))
	copy(b[OffToken:OffToken+TokenLen], r.Token[:])
	clear(b[HeaderLen : HeaderLen+int(r.Room)])
}

// IsRequest reports whether b starts with the request magic.
func IsRequest(b []byte) bool { return len(b) >= 4 && string(b[:4]) == RequestMagic }

// IsReply reports whether b starts with the reply magic.
func IsReply(b []byte) bool { return len(b) >= 4 && string(b[:4]) == ReplyMagic }

// ParseRequest decodes a request header. The room must be present in b.
func ParseRequest(b []byte) (Request, error) {
	if len(b) < HeaderLen {
		return Request{}, ErrShort
	}
	if string(b[:4]) != RequestMagic {
		return Request{}, ErrMagic
	}
	r := parseHeader(b)
	if len(b) < HeaderLen+int(r.Room) {
		return Request{}, ErrShort
	}
	copy(r.Token[:], b[OffToken:OffToken+TokenLen])
	return r, nil
}

func parseHeader(b []byte) Request {
	return Request{
		Flags:  b[OffFlags],
		KeyID:  b[OffKeyID],
		Room:   binary.BigEndian.Uint16(b[OffRoom:]),
		Cookie: binary.BigEndian.Uint64(b[OffCookie:]),
		TxTime: int64(binary.BigEndian.Uint64(b[OffTxTime:])),
	}
}

// Reply is a decoded HBR1 reply: the echoed header and the room, which
// holds a health blob when the responder had one to give.
type Reply struct {
	Flags  uint8
	KeyID  uint8
	Room   uint16
	Cookie uint64
	TxTime int64
	// Blob aliases the reply's room (b[HeaderLen:HeaderLen+Room]).
	Blob []byte
}

// MakeReachReply rewrites request bytes b in place into a reply without
// health: the magic becomes HBR1, FlagHealth is cleared (the prober reads
// that as "reachable, no health given"), and the token is zeroed. The room
// is left as the request sent it (zeros from hb-probe) and the length never
// changes. A responder sends it for a valid request it will not give health
// to: no or wrong key id or token, a room too small, no sample yet, health
// not asked for.
func MakeReachReply(b []byte) error {
	if _, err := ParseRequest(b); err != nil {
		return err
	}
	copy(b[OffMagic:], ReplyMagic)
	b[OffFlags] &^= FlagHealth
	clear(b[OffToken : OffToken+TokenLen])
	return nil
}

// ParseReply decodes an HBR1 reply. Blob aliases b.
func ParseReply(b []byte) (Reply, error) {
	if len(b) < HeaderLen {
		return Reply{}, ErrShort
	}
	if string(b[:4]) != ReplyMagic {
		return Reply{}, ErrMagic
	}
	h := parseHeader(b)
	if len(b) < HeaderLen+int(h.Room) {
		return Reply{}, ErrShort
	}
	return Reply{
		Flags: h.Flags, KeyID: h.KeyID, Room: h.Room, Cookie: h.Cookie, TxTime: h.TxTime,
		Blob: b[HeaderLen : HeaderLen+int(h.Room)],
	}, nil
}

// MakeReply rewrites request bytes b in place into a reply carrying blob:
// the magic becomes HBR1, the token is zeroed, and blob is copied to the
// start of the room (the rest of the room is zeroed). The length never
// changes. This is what the in-kernel responder does; the userspace
// responders and the tests use this function.
func MakeReply(b []byte, blob []byte) error {
	r, err := ParseRequest(b)
	if err != nil {
		return err
	}
	if int(r.Room) < len(blob) {
		return ErrRoom
	}
	copy(b[OffMagic:], ReplyMagic)
	clear(b[OffToken : OffToken+TokenLen])
	room := b[HeaderLen : HeaderLen+int(r.Room)]
	n := copy(room, blob)
	clear(room[n:])
	return nil
}
