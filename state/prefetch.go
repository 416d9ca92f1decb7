// SPDX-License-Identifier: MIT

package state

import (
	"runtime"
	"sync/atomic"
)

// Prefetch reads, for each id of v's checks in ids (others are skipped),
// the memory that Apply and the event of its result go on to read: the
// check's record (its five cache lines), its Check (name, kind) and its
// Host (name). It changes nothing.
//
// Results come in a scattered order (every check once per interval, the
// replies' order), so at 100k checks each one meets its check's memory
// cold: Apply alone waits for its record's lines one miss after the
// other, then the event's c.Host().Name() for the Check's line and the
// Host's. A pass over a batch's ids first, whose loads do not depend on
// each other, lets the processor wait for many of them at once; the
// applies that follow find them in the cache. A batch of a few dozen ids
// touches a few hundred lines: keep batches that small (the cache must
// still hold the first when the applies reach them). Writer only.
func (v *View) Prefetch(ids []int) {
	var sum uint64
	recs, checks := v.recs, v.checkArr
	for _, id := range ids {
		if uint(id) >= uint(len(recs)) {
			continue
		}
		r := &recs[id]
		// Plain reads: only the writer writes the records.
		sum += r[wHdr] + r[wTransitions] + r[wSlots+4] + r[wSlots+12] + r[wMeta]
		sum += uint64(checks[id].shape.kind)
	}
	// The hosts: each at its record's link, read in the first pass.
	hosts := v.hostArr
	for _, id := range ids {
		if uint(id) >= uint(len(recs)) {
			continue
		}
		if h := (recs[id][wTransitions] >> 32) & linkHost; h < uint64(len(hosts)) {
			sum += uint64(len(hosts[h].name))
		}
	}
	prefetched.Store(sum)
	runtime.KeepAlive(v) // v's checks keep its records mapped
}

// prefetched keeps Prefetch's loads from being optimized away (atomic:
// the writers of several tables may run at once).
var prefetched atomic.Uint64
