// SPDX-License-Identifier: MIT

//go:build !linux

package responder

import "os/exec"

// setProcessGroup: only the plugin itself is killed at its timeout here.
func setProcessGroup(cmd *exec.Cmd) {}
