// SPDX-License-Identifier: MIT

package license

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const root = "../.."

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMIT(t *testing.T) {
	if l := read(t, "LICENSE"); !strings.HasPrefix(l, "MIT License") || !strings.Contains(l, "Permission is hereby granted, free of charge") {
		t.Error("LICENSE is not the MIT license")
	}
	c := read(t, "packaging/copyright")
	if !regexp.MustCompile(`(?m)^Files: \*\nCopyright: .*\nLicense: MIT$`).MatchString(c) ||
		!strings.Contains(c, "\nLicense: MIT\n Permission is hereby granted") || strings.Contains(c, "undeclared") {
		t.Error("packaging/copyright does not declare MIT with its text")
	}
	for _, y := range []string{"packaging/nfpm/hb-probe.yaml", "packaging/nfpm/hb-responder.yaml"} {
		if !regexp.MustCompile(`(?m)^license: MIT$`).MatchString(read(t, y)) {
			t.Errorf("%s: want license: MIT", y)
		}
	}
	if !strings.Contains(read(t, "bpf/responder.c"), `SEC("license") = "Dual MIT/GPL"`) {
		t.Error(`bpf/responder.c does not declare "Dual MIT/GPL" to the kernel`)
	}
}

// Every hand-written .go file and the eBPF C source start with an SPDX
// line (generated files are left as their generator writes them).
func TestSPDX(t *testing.T) {
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") && !(strings.HasSuffix(path, ".c") && strings.Contains(path, "bpf")) {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		var head []string
		for i := 0; i < 5 && sc.Scan(); i++ {
			head = append(head, sc.Text())
		}
		h := strings.Join(head, "\n")
		if strings.Contains(h, "Code generated") && strings.Contains(h, "DO NOT EDIT") {
			return nil
		}
		n++
		if !strings.HasPrefix(h, "// SPDX-License-Identifier: MIT") && !strings.HasPrefix(h, "// SPDX-License-Identifier: (MIT OR GPL-2.0-only)") {
			t.Errorf("%s: no SPDX-License-Identifier line at the top", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d source files found under %s", n, root)
	}
}
