// SPDX-License-Identifier: MIT

package bench

import "strings"

// headingKey is what identifies a "## " heading across runs: the text up
// to its first colon (the rest carries sizes and counts that change).
func headingKey(line string) string {
	k, _, _ := strings.Cut(line, ":")
	return strings.TrimSpace(k)
}

// ReplaceSections puts the sections of fresh (each starting at a "## "
// heading) into doc in place of the sections with the same headings (up
// to the next "## " heading that fresh does not have), keeping the rest
// of doc. Text in fresh before its first heading goes with its first
// section; sections doc lacks are added before a final "_Whole run" line,
// or at the end.
func ReplaceSections(doc, fresh string) string {
	keys := map[string]bool{}
	for _, l := range strings.Split(fresh, "\n") {
		if strings.HasPrefix(l, "## ") {
			keys[headingKey(l)] = true
		}
	}
	if len(keys) == 0 {
		return doc
	}
	lines := strings.SplitAfter(doc, "\n")
	var out strings.Builder
	placed, skipping := false, false
	for _, l := range lines {
		if strings.HasPrefix(l, "## ") {
			if keys[headingKey(strings.TrimSuffix(l, "\n"))] {
				if !placed {
					out.WriteString(fresh)
					placed = true
				}
				skipping = true
				continue
			}
			skipping = false
		}
		if strings.HasPrefix(l, "_Whole run") && !placed {
			out.WriteString(fresh)
			placed = true
			skipping = false
		}
		if !skipping {
			out.WriteString(l)
		}
	}
	if !placed {
		if !strings.HasSuffix(out.String(), "\n") {
			out.WriteString("\n")
		}
		out.WriteString(fresh)
	}
	return out.String()
}
