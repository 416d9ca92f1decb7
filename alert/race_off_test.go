// SPDX-License-Identifier: MIT

//go:build !race

package alert

const raceOn = false
