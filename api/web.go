// SPDX-License-Identifier: MIT

package api

import (
	"time"

	"github.com/hbmon/hb/state"
)

// HostDetail is the JSON /api/v1/hosts/{name} answers for h at now: the
// dashboard's host page (web/) reads the same document.
func HostDetail(h *state.Host, now time.Time) any {
	snap := h.Snapshot()
	j := hostView(h, &snap, now, true)
	j.Parent, j.Checks = h.Spec().Parent, hostChecks(h, now)
	return j
}
