// SPDX-License-Identifier: MIT

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// A minimal reader for the classic pcap file format (as written by
// `tcpdump -w`), enough to time ICMP echoes on an Ethernet (veth) link. It
// accepts both byte orders and both the microsecond (0xa1b2c3d4) and the
// nanosecond (0xa1b23c4d, tcpdump --time-stamp-precision=nano) magic.

// Frame is one captured frame: its capture time in unix nanoseconds and
// its bytes (possibly truncated to the snap length).
type Frame struct {
	TS   int64
	Data []byte
}

const linkTypeEthernet = 1

// ReadPcap reads every frame of a pcap stream. Only Ethernet captures are
// accepted.
func ReadPcap(r io.Reader) ([]Frame, error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	var bo binary.ByteOrder
	var nano bool
	switch {
	case binary.LittleEndian.Uint32(hdr[:]) == 0xa1b2c3d4:
		bo = binary.LittleEndian
	case binary.LittleEndian.Uint32(hdr[:]) == 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(hdr[:]) == 0xa1b2c3d4:
		bo = binary.BigEndian
	case binary.BigEndian.Uint32(hdr[:]) == 0xa1b23c4d:
		bo, nano = binary.BigEndian, true
	default:
		return nil, errors.New("pcap: bad magic (pcapng is not supported; use tcpdump -w)")
	}
	if lt := bo.Uint32(hdr[20:]) & 0xffff; lt != linkTypeEthernet {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet (1)", lt)
	}
	var frames []Frame
	var rec [16]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return frames, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return frames, nil // tcpdump killed mid-record: keep what is whole
			}
			return frames, err
		}
		sec, frac, incl := int64(bo.Uint32(rec[0:])), int64(bo.Uint32(rec[4:])), bo.Uint32(rec[8:])
		if incl > 1<<18 {
			return frames, fmt.Errorf("pcap: record of %d bytes", incl)
		}
		data := make([]byte, incl)
		if _, err := io.ReadFull(r, data); err != nil {
			return frames, nil
		}
		if !nano {
			frac *= 1000
		}
		frames = append(frames, Frame{TS: sec*1e9 + frac, Data: data})
	}
}

// Echo is an ICMPv4 echo request or reply seen in a frame.
type Echo struct {
	Reply    bool
	Src, Dst netip.Addr
	ID, Seq  uint16
}

// ParseEcho decodes an Ethernet/IPv4/ICMP echo request or reply; ok is
// false for anything else.
func ParseEcho(f []byte) (e Echo, ok bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return e, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl+8 || ip[9] != 1 {
		return e, false
	}
	if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 { // a later fragment
		return e, false
	}
	icmp := ip[ihl:]
	switch icmp[0] {
	case 0:
		e.Reply = true
	case 8:
	default:
		return e, false
	}
	e.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	e.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	e.ID = binary.BigEndian.Uint16(icmp[4:])
	e.Seq = binary.BigEndian.Uint16(icmp[6:])
	return e, true
}

// WireRTTs returns, per target address, the time from the first echo
// request sent to it to the first matching reply (same target, id and seq)
// in a capture. Targets probed more than once keep their first exchange.
func WireRTTs(frames []Frame) map[netip.Addr]int64 {
	type key struct {
		a       netip.Addr
		id, seq uint16
	}
	sent := make(map[key]int64)
	rtt := make(map[netip.Addr]int64)
	for _, fr := range frames {
		e, ok := ParseEcho(fr.Data)
		if !ok {
			continue
		}
		if !e.Reply {
			k := key{e.Dst, e.ID, e.Seq}
			if _, dup := sent[k]; !dup {
				sent[k] = fr.TS
			}
			continue
		}
		k := key{e.Src, e.ID, e.Seq}
		if t0, ok := sent[k]; ok {
			if _, done := rtt[e.Src]; !done {
				rtt[e.Src] = fr.TS - t0
			}
		}
	}
	return rtt
}

// RTTErrors compares a tool's reported RTTs with the wire's, per target
// present in both, and returns the absolute errors in nanoseconds.
func RTTErrors(tool, wire map[netip.Addr]int64) []float64 {
	errs := make([]float64, 0, len(tool))
	for a, t := range tool {
		w, ok := wire[a]
		if !ok {
			continue
		}
		d := t - w
		if d < 0 {
			d = -d
		}
		errs = append(errs, float64(d))
	}
	return errs
}

// RequestRate is the rate of echo requests in a capture, from the first
// to the last one; 0 with fewer than two.
func RequestRate(frames []Frame) float64 {
	var n int
	var first, last int64
	for _, fr := range frames {
		if e, ok := ParseEcho(fr.Data); ok && !e.Reply {
			if n == 0 {
				first = fr.TS
			}
			last = fr.TS
			n++
		}
	}
	if n < 2 || last <= first {
		return 0
	}
	return float64(n-1) / (float64(last-first) / 1e9)
}
