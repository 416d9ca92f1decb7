// SPDX-License-Identifier: MIT

package oneshot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hbmon/hb/internal/testutil"
)

// Reading and expanding a 65,536-line target list, as --once does:
// go test -run '^$' -bench Load -benchmem ./oneshot/
func BenchmarkLoad65536(b *testing.B) {
	var sb strings.Builder
	for i := range 65536 {
		sb.WriteString(testutil.SimAddr(i).String() + "\n")
	}
	p := filepath.Join(b.TempDir(), "t.txt")
	os.WriteFile(p, []byte(sb.String()), 0o644)
	for b.Loop() {
		ts, _, _, err := Load(context.Background(), Source{File: p, MaxTargets: 1 << 20})
		if err != nil || len(ts) != 65536 {
			b.Fatal(err, len(ts))
		}
	}
}
