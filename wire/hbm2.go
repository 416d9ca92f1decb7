// SPDX-License-Identifier: MIT

package wire

import (
	"encoding/binary"
	"math"
)

// HBM v2: the legacy Python heartbeat monitor's payload (docs/wire.md §4),
// 28 bytes, big-endian.
const (
	HBM2Version = 0x02
	HBM2Magic   = "HBM"
	HBM2Len     = 28
)

// HBM2 is a decoded HBM v2 payload.
type HBM2 struct {
	Timestamp   float64 // unix seconds
	CPUPercent  float32
	MemPercent  float32
	MemAvailMB  float32
	DiskPercent float32 // of "/"
}

// AppendHBM2 appends the 28-byte encoding of m to b.
func AppendHBM2(b []byte, m HBM2) []byte {
	b = append(b, HBM2Version, 'H', 'B', 'M')
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Timestamp))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(m.CPUPercent))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(m.MemPercent))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(m.MemAvailMB))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(m.DiskPercent))
	return b
}

// IsHBM2 reports whether b starts like an HBM v2 payload.
func IsHBM2(b []byte) bool {
	return len(b) >= 4 && b[0] == HBM2Version && string(b[1:4]) == HBM2Magic
}

// DecodeHBM2 decodes an HBM v2 payload. It rejects a short buffer
// (ErrShort), a wrong magic (ErrMagic) or version (ErrVersion), non-finite
// values and percentages outside 0–100 (ErrRange). Trailing bytes are
// ignored, as the legacy monitor did.
func DecodeHBM2(b []byte) (HBM2, error) {
	if len(b) < HBM2Len {
		return HBM2{}, ErrShort
	}
	if string(b[1:4]) != HBM2Magic {
		return HBM2{}, ErrMagic
	}
	if b[0] != HBM2Version {
		return HBM2{}, ErrVersion
	}
	be := binary.BigEndian
	m := HBM2{
		Timestamp:   math.Float64frombits(be.Uint64(b[4:])),
		CPUPercent:  math.Float32frombits(be.Uint32(b[12:])),
		MemPercent:  math.Float32frombits(be.Uint32(b[16:])),
		MemAvailMB:  math.Float32frombits(be.Uint32(b[20:])),
		DiskPercent: math.Float32frombits(be.Uint32(b[24:])),
	}
	if math.IsNaN(m.Timestamp) || math.IsInf(m.Timestamp, 0) || !finite32(m.MemAvailMB) || m.MemAvailMB < 0 {
		return HBM2{}, ErrRange
	}
	for _, p := range [...]float32{m.CPUPercent, m.MemPercent, m.DiskPercent} {
		if !finite32(p) || p < 0 || p > 100 {
			return HBM2{}, ErrRange
		}
	}
	return m, nil
}

func finite32(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }
