// SPDX-License-Identifier: MIT

//go:build race

package monitor

// raceEnabled: the race detector's instrumentation allocates (escape
// analysis differs), so allocation counts are meaningless under -race.
const raceEnabled = true
