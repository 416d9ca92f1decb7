// SPDX-License-Identifier: MIT

package testutil

import (
	"testing"
)

func TestSimAddr(t *testing.T) {
	for i, want := range map[int]string{0: "198.18.0.1", 255: "198.18.1.0", 65535: "198.19.0.0", 1<<17 - 3: "198.19.255.254"} {
		got := SimAddr(i)
		if got.String() != want || !SimPrefix.Contains(got) {
			t.Errorf("SimAddr(%d) = %v, want %s in %v", i, got, want, SimPrefix)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("SimAddr past the range did not panic")
		}
	}()
	SimAddr(1<<17 - 2)
}
