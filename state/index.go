// SPDX-License-Identifier: MIT

package state

import (
	"hash/maphash"
	"math/bits"

	"github.com/hbmon/hb/internal/offheap"
)

// nameIndex finds a view's host by name: open addressing (linear probing)
// over host ids, at most half full. It holds no pointers, so it can live
// outside the Go heap, and costs 8 to 16 bytes a host (4 a slot, a power
// of two of at least 2 slots a host) where a map[string]*Host costs
// about 40.
type nameIndex struct {
	seed  maphash.Seed
	slots []int32 // host id + 1; 0 is empty
}

// newNameIndex returns an empty index for n hosts and the function that
// frees it. A large one (a 100k-host table's is 1 MiB) is outside the Go
// heap (internal/offheap), where it costs its size once, not up to twice
// as the heap's goal makes a live object.
func newNameIndex(n int) (nameIndex, func()) {
	size := 8
	if n > 2 {
		size = max(size, 1<<bits.Len(uint(2*n-1)))
	}
	x := nameIndex{seed: maphash.MakeSeed()}
	if size < 16<<10 {
		x.slots = make([]int32, size)
		return x, nil
	}
	var free func()
	x.slots, free = offheap.Make[int32](size)
	return x, free
}

// find returns the id of the host of hosts named name, or -1.
func (x *nameIndex) find(hosts []Host, name string) int {
	if len(x.slots) == 0 {
		return -1
	}
	mask := uint64(len(x.slots) - 1)
	for i := maphash.String(x.seed, name) & mask; ; i = (i + 1) & mask {
		id := int(x.slots[i]) - 1
		if id < 0 {
			return -1
		}
		if hosts[id].name == name {
			return id
		}
	}
}

// add files hosts[id] under its name, which must not be in the index yet.
func (x *nameIndex) add(hosts []Host, id int) {
	mask := uint64(len(x.slots) - 1)
	i := maphash.String(x.seed, hosts[id].name) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = int32(id + 1)
}
