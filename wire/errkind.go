// SPDX-License-Identifier: MIT

package wire

import "errors"

// ErrKind classifies a decoding error by the sentinel it wraps: one label
// value per reason on /metrics (hb_health_blob_errors_total{kind}).
type ErrKind uint8

const (
	ErrKindOther ErrKind = iota // none of the sentinels below
	ErrKindShort
	ErrKindMagic
	ErrKindVersion
	ErrKindChecksum
	ErrKindSeal
	ErrKindNoKey
	ErrKindRange
	ErrKindRoom
	ErrKindMalformed

	NumErrKinds = 10
)

var errKinds = [NumErrKinds]struct {
	name string
	err  error
}{
	{"other", nil},
	{"short", ErrShort},
	{"magic", ErrMagic},
	{"version", ErrVersion},
	{"checksum", ErrChecksum},
	{"seal", ErrSeal},
	{"no_key", ErrNoKey},
	{"range", ErrRange},
	{"room", ErrRoom},
	{"malformed", ErrMalformed},
}

func (k ErrKind) String() string {
	if int(k) < NumErrKinds {
		return errKinds[k].name
	}
	return "other"
}

// KindOf returns the kind of err (ErrKindOther for nil or an error
// wrapping none of this package's sentinels).
func KindOf(err error) ErrKind {
	if err == nil {
		return ErrKindOther
	}
	for i := 1; i < NumErrKinds; i++ {
		if errors.Is(err, errKinds[i].err) {
			return ErrKind(i)
		}
	}
	return ErrKindOther
}
