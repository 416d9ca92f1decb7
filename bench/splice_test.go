// SPDX-License-Identifier: MIT

package bench

import "testing"

func TestReplaceSections(t *testing.T) {
	doc := "# B\n\nintro\n\n## Sweep: 1 target\n\nold sweep\n\n## Continuous monitoring: 10k at 10 s\n\nold rows\nmore\n\n## API: x\n\napi\n\n_Whole run: 5 s._\n"
	fresh := "## Continuous monitoring: 1000k at 1m0s\n\nnew rows\n\n"
	want := "# B\n\nintro\n\n## Sweep: 1 target\n\nold sweep\n\n## Continuous monitoring: 1000k at 1m0s\n\nnew rows\n\n## API: x\n\napi\n\n_Whole run: 5 s._\n"
	if got := ReplaceSections(doc, fresh); got != want {
		t.Fatalf("replace:\n%s\nwant:\n%s", got, want)
	}
	// A section the document lacks goes before the final line.
	got := ReplaceSections(doc, "## New: thing\n\nrows\n\n")
	if want := "# B\n\nintro\n\n## Sweep: 1 target\n\nold sweep\n\n## Continuous monitoring: 10k at 10 s\n\nold rows\nmore\n\n## API: x\n\napi\n\n## New: thing\n\nrows\n\n_Whole run: 5 s._\n"; got != want {
		t.Fatalf("insert:\n%s", got)
	}
	if got := ReplaceSections(doc, "no heading"); got != doc {
		t.Fatal("fresh text without a heading changed the document")
	}
}
