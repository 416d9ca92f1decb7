// SPDX-License-Identifier: MIT

package state

import "fmt"

// Config tunes the state machine and the statistics. The zero value, and a
// nil *Config, mean the defaults, which behave like pingstate: from up, one
// failure gives degraded and a second gives down; any success gives up.
type Config struct {
	// FailuresToDown is how many consecutive failures take an up host to
	// down; the failures before that leave it degraded. 1 skips degraded.
	// Default 2.
	FailuresToDown int
	// SuccessesToUp is how many consecutive successes take a degraded or
	// down host to up. Default 1.
	SuccessesToUp int
	// EWMAAlpha is the weight of a new RTT sample in the smoothed RTT,
	// in (0, 1]. Default 0.125, TCP's SRTT gain (RFC 6298 §2).
	EWMAAlpha float64
}

// Defaults for Config.
const (
	DefaultFailuresToDown = 2
	DefaultSuccessesToUp  = 1
	DefaultEWMAAlpha      = 0.125
)

func (c *Config) withDefaults() (Config, error) {
	var out Config
	if c != nil {
		out = *c
	}
	if out.FailuresToDown == 0 {
		out.FailuresToDown = DefaultFailuresToDown
	}
	if out.SuccessesToUp == 0 {
		out.SuccessesToUp = DefaultSuccessesToUp
	}
	if out.EWMAAlpha == 0 {
		out.EWMAAlpha = DefaultEWMAAlpha
	}
	switch {
	case out.FailuresToDown < 1 || out.FailuresToDown > 1000:
		return out, fmt.Errorf("state: failures to down %d: want 1..1000", out.FailuresToDown)
	case out.SuccessesToUp < 1 || out.SuccessesToUp > 1000:
		return out, fmt.Errorf("state: successes to up %d: want 1..1000", out.SuccessesToUp)
	case !(out.EWMAAlpha > 0 && out.EWMAAlpha <= 1):
		return out, fmt.Errorf("state: EWMA alpha %g: want (0, 1]", out.EWMAAlpha)
	}
	return out, nil
}

// Step is the state machine: given the current state, the consecutive
// failures and successes counted so far including this event, and whether
// this event failed, it returns the next state. It is a pure function.
//
//	unknown --fail--> down            unknown --ok--> up
//	up --fail--> degraded (or down once fails ≥ FailuresToDown)
//	degraded --fail--> down once fails ≥ FailuresToDown
//	degraded, down --ok--> up once oks ≥ SuccessesToUp
//
// The first result decides an unknown host: there is no earlier state to
// protect from a blip, so the thresholds do not apply.
func Step(c Config, s State, failed bool, fails, oks int) State {
	switch s {
	case Unknown:
		if failed {
			return Down
		}
		return Up
	case Up:
		if !failed {
			return Up
		}
		if fails >= c.FailuresToDown {
			return Down
		}
		return Degraded
	case Degraded:
		if failed {
			if fails >= c.FailuresToDown {
				return Down
			}
			return Degraded
		}
		if oks >= c.SuccessesToUp {
			return Up
		}
		return Degraded
	case Down:
		if !failed && oks >= c.SuccessesToUp {
			return Up
		}
		return Down
	}
	return s
}
