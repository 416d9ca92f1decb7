// SPDX-License-Identifier: MIT

package prober

import "time"

// Backoff is the ENOBUFS back-off: it doubles from Min to Max on each
// failure and resets on success.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Fail returns how long to wait before retrying.
func (b *Backoff) Fail() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(b.cur*2, b.Max)
	}
	return b.cur
}

// OK resets the back-off after a successful send.
func (b *Backoff) OK() { b.cur = 0 }
