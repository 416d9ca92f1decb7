// SPDX-License-Identifier: MIT

package prober

import (
	"time"

	"github.com/hbmon/hb/wire"
)

// decodeHealth fills r's health fields from a reply payload.
func decodeHealth(r *Result, payload []byte, k *wire.Key, rxNano int64, staleAfter time.Duration) {
	switch {
	case wire.IsReply(payload):
		rep, err := wire.ParseReply(payload)
		if err != nil {
			r.BlobErr = err
			return
		}
		if rep.Flags&wire.FlagHealth == 0 {
			return // a reachability reply: up, no health given (wire.MakeReachReply)
		}
		if err := wire.DecodeBlob(rep.Blob, k, &r.Health); err != nil {
			r.BlobErr = err
			return
		}
		r.HealthKind = HealthHBH1
		r.Stale = rxNano-r.Health.CollectedAt > int64(staleAfter)
	case wire.IsHBM2(payload):
		m, err := wire.DecodeHBM2(payload)
		if err != nil {
			r.BlobErr = err
			return
		}
		r.HealthKind, r.HBM2 = HealthHBM2, m
		r.Stale = rxNano-int64(m.Timestamp*1e9) > int64(staleAfter)
	}
}
