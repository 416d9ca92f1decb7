// SPDX-License-Identifier: MIT

//go:build !race

package monitor

const raceEnabled = false
