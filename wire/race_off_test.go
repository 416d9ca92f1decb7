// SPDX-License-Identifier: MIT

//go:build !race

package wire

const raceEnabled = false
