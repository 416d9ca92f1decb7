// SPDX-License-Identifier: MIT

package prober

import (
	"fmt"
	"testing"

	"github.com/hbmon/hb/wire"
)

// Health decode outcomes are counted, failures by reason.
func TestCountHealth(t *testing.T) {
	var c counters
	c.countHealth(&Result{})                                                  // no payload
	c.countHealth(&Result{HealthKind: HealthHBH1})                            // decoded
	c.countHealth(&Result{HealthKind: HealthHBM2})                            // decoded
	c.countHealth(&Result{BlobErr: fmt.Errorf("blob: %w", wire.ErrChecksum)}) // torn
	c.countHealth(&Result{BlobErr: wire.ErrNoKey})                            // unknown key
	c.countHealth(&Result{BlobErr: fmt.Errorf("x: %w", wire.ErrChecksum)})    // torn
	st := c.snapshot()
	if st.HealthOK != 2 || st.BlobErrors[wire.ErrKindChecksum] != 2 || st.BlobErrors[wire.ErrKindNoKey] != 1 {
		t.Fatalf("stats %+v", st)
	}
	var sum uint64
	for _, n := range st.BlobErrors {
		sum += n
	}
	if sum != 3 {
		t.Fatalf("%d blob errors counted, want 3", sum)
	}
}
