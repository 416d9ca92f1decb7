// SPDX-License-Identifier: MIT

package testutil

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Privileged skips t when -short is set, and otherwise does nothing: the
// privileged operation itself is tried and SkipIfPermission turns a refusal
// into a skip with the reason.
func Privileged(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged test skipped in -short mode")
	}
}

// SkipIfPermission skips t when err says a privilege or capability is
// missing, naming what was tried; any other non-nil error fails t.
func SkipIfPermission(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if IsPermission(err) {
		t.Skipf("%s: not permitted here (%v): needs root or the capability; skipping", what, err)
	}
	t.Fatalf("%s: %v", what, err)
}

// IsPermission reports whether err is a permission refusal (EPERM, EACCES),
// including the message of an `ip` command that was refused.
func IsPermission(err error) bool {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied")
}
