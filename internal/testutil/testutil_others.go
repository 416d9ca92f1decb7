// SPDX-License-Identifier: MIT

//go:build !linux

package testutil

import "testing"

// Netns is not supported off Linux; tests that need one skip.
type Netns struct{ Name, Path string }

// NewNetns skips t: network namespaces are Linux only.
func NewNetns(t testing.TB) *Netns { t.Helper(); t.Skip("network namespaces need Linux"); return nil }
