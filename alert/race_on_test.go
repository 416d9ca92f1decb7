// SPDX-License-Identifier: MIT

//go:build race

package alert

// raceOn: allocation counts differ under the race detector.
const raceOn = true
