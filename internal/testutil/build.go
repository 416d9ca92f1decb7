// SPDX-License-Identifier: MIT

package testutil

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// BuildBinary builds the command at pkg (an import path such as
// "github.com/hbmon/hb/cmd/hb-probe", or a relative directory such as ".")
// as a static binary in dir and returns its path; the binary is named after
// the package's last path element (or the working directory for ".").
// A failed build fails the test with the compiler's output.
func BuildBinary(t testing.TB, dir, pkg string) string {
	t.Helper()
	name := path.Base(pkg)
	if pkg == "." {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		name = filepath.Base(wd)
	}
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
