// SPDX-License-Identifier: MIT

package config

import (
	"strings"
	"testing"
)

// TestRTTNativeFactor: 0 (off) and factors in (1, 65536] validate; 1,
// below 1, negative and above 65536 are errors naming the key.
func TestRTTNativeFactor(t *testing.T) {
	for _, f := range []float64{0, 1.0001, 1.1, 2, 65536} {
		p := DefaultProbe()
		p.Checks.RTTNativeFactor = f
		if err := p.Validate(); err != nil {
			t.Errorf("rtt_native_factor = %g: %v", f, err)
		}
	}
	for _, f := range []float64{1, 0.5, -1, 65537} {
		p := DefaultProbe()
		p.Checks.RTTNativeFactor = f
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "checks.rtt_native_factor: ") {
			t.Errorf("rtt_native_factor = %g: %v, want an error about it", f, err)
		}
	}
	if DefaultChecks().RTTNativeFactor != 1.1 {
		t.Errorf("default rtt_native_factor %g", DefaultChecks().RTTNativeFactor)
	}
}
