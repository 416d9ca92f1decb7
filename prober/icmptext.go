// SPDX-License-Identifier: MIT

package prober

import "github.com/hbmon/hb/obs"

// Problem describes a result's problem in one line ("" for an OK one).
func (r *Result) Problem() string {
	switch r.Outcome {
	case OutcomeICMPError:
		s := obs.ICMPText(r.Addr.Is6(), r.ICMPType, r.ICMPCode)
		if r.From.IsValid() {
			s += " from " + r.From.String()
		}
		return s
	case OutcomeSendError:
		if r.Err != nil {
			return "send failed: " + r.Err.Error()
		}
		return "send failed"
	case OutcomeTimeout:
		return "timeout"
	}
	return ""
}
