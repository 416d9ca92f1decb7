// SPDX-License-Identifier: MIT

package wire

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "other"},
		{errors.New("x"), "other"},
		{ErrShort, "short"},
		{fmt.Errorf("blob: %w", ErrChecksum), "checksum"},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrSeal)), "seal"},
		{ErrNoKey, "no_key"},
		{ErrRange, "range"},
		{ErrMagic, "magic"},
		{ErrVersion, "version"},
		{ErrRoom, "room"},
	} {
		if got := KindOf(c.err).String(); got != c.want {
			t.Errorf("KindOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
	// Every kind has a distinct name.
	seen := map[string]bool{}
	for k := range ErrKind(NumErrKinds) {
		if seen[k.String()] {
			t.Fatalf("duplicate kind name %s", k)
		}
		seen[k.String()] = true
	}
	// A real decode failure is classified: a truncated reply.
	if _, err := ParseReply([]byte("HB")); KindOf(err) != ErrKindShort && KindOf(err) != ErrKindMagic {
		t.Errorf("ParseReply(short) error %v classified %s", err, KindOf(err))
	}
}
