// SPDX-License-Identifier: MIT

package state

// Reindex places a sink's per-check data (recs, indexed by a view's check
// ids, and byName, what no check of that view had) on view v, a new
// generation: the store's records and the RTT histograms' series.
//
// A record whose check kept its id (usually all: a reload that adds or
// removes a few shifts only the ids after them) stays in place, found by
// comparing its names with the check of that id, without a lookup by
// name, so a new generation of 100k checks costs about a millisecond.
// The others, and those in byName, are placed by name; what v has no
// check for goes to the returned map. names gives a record's host and
// check names, key makes byName's key from them, and rename (nil: none)
// is called with each record's check in v, for it to take v's name
// strings (so the old generation's can be freed).
func Reindex[T any, K comparable](v *View, recs []*T, byName map[K]*T,
	names func(*T) (host, check string), key func(host, check string) K, rename func(*T, *Check)) ([]*T, map[K]*T) {
	checks := v.checkArr
	var moved []*T
	for i, r := range recs {
		if r == nil {
			continue
		}
		if i < len(checks) {
			h, c := names(r)
			if tc := &checks[i]; tc.Host().name == h && tc.shape.name == c {
				if rename != nil {
					rename(r, tc)
				}
				continue
			}
		}
		moved = append(moved, r)
		recs[i] = nil
	}
	switch n := len(recs); {
	case len(checks) <= n && cap(recs) <= 2*len(checks)+1024:
		clear(recs[len(checks):])
		recs = recs[:len(checks)]
	case len(checks) > n && len(checks) <= cap(recs):
		recs = recs[:len(checks)]
		clear(recs[n:])
	default: // room for registrations; a table that shrank a lot gets a smaller slice
		nr := make([]*T, len(checks), len(checks)+len(checks)/16)
		copy(nr, recs)
		recs = nr
	}
	if len(moved) == 0 && len(byName) == 0 && byName != nil {
		return recs, byName
	}
	out := make(map[K]*T)
	place := func(r *T) {
		h, c := names(r)
		if tc := v.LookupCheck(h, c); tc != nil && recs[tc.ID] == nil {
			if rename != nil {
				rename(r, tc)
			}
			recs[tc.ID] = r
			return
		}
		out[key(h, c)] = r
	}
	for _, r := range moved {
		place(r)
	}
	for _, r := range byName {
		place(r)
	}
	return recs, out
}
