// SPDX-License-Identifier: MIT

package wire

import (
	"fmt"
	"io"
	"sync"
)

// BootCounter hands out the (boot id, counter) pairs that make the sealing
// nonces of one sender unique: the health blob's (boot id, generation) and
// the push heartbeat's (boot id, sequence). It is the one piece of code
// behind both guarantees (docs/wire.md §3 and §8).
//
// It draws a random 128-bit boot id when created and numbers 1, 2, … up to
// its limit; before the counter would pass the limit it draws a fresh boot
// id and starts again at 1. So one BootCounter never hands out the same
// pair twice, and two BootCounters (two starts of a sender, two hosts
// sharing a key) share a boot id only by a 128-bit collision: below n²/2¹²⁹
// for n starts. A random source that fails is an error, never a reused id.
// It is safe for concurrent use.
type BootCounter struct {
	rand  io.Reader
	limit uint64

	mu sync.Mutex
	id BootID
	n  uint64 // last number handed out under id
}

// NewBootCounter returns a BootCounter drawing boot ids from random
// (crypto/rand.Reader in production) and numbering up to limit (≥ 1):
// MaxGeneration for blobs, MaxPushSeq for push heartbeats.
func NewBootCounter(random io.Reader, limit uint64) (*BootCounter, error) {
	if limit == 0 {
		return nil, fmt.Errorf("wire: boot counter limit 0: %w", ErrRange)
	}
	c := &BootCounter{rand: random, limit: limit}
	if err := c.draw(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *BootCounter) draw() error {
	if _, err := io.ReadFull(c.rand, c.id[:]); err != nil {
		return fmt.Errorf("wire: draw a boot id: %w", err)
	}
	c.n = 0
	return nil
}

// Next returns the next (boot id, number) pair; the number is never 0.
func (c *BootCounter) Next() (BootID, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.limit {
		if err := c.draw(); err != nil {
			return BootID{}, 0, err
		}
	}
	c.n++
	return c.id, c.n, nil
}

// BootID returns the current boot id.
func (c *BootCounter) BootID() BootID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}
