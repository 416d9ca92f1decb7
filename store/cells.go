// SPDX-License-Identifier: MIT

package store

import (
	"database/sql/driver"
	"math"
	"unsafe"
)

// cells are reusable argument values for the rollup statements: int64 and
// float64 interface values whose data words point at cells of this
// struct rather than at a copy made for each. Boxing a number into a
// driver.Value allocates 8 bytes on the Go heap (except small integers);
// a minute of 100k rows binds over a million of them, 4-7 MB of garbage
// in the half second of the write, which starts a collection during the
// write and raises the heap's goal with what the write holds live. With
// cells a value costs a store into v.
//
// The driver reads the values while ExecContext runs (modernc.org/sqlite
// binds each with sqlite3_bind_int64/double, which copy) and keeps none:
// a cell is rewritten only between statements, by the SQL goroutine that
// runs them. An argument that gets a cell must be cleared (clearArgs)
// before the cells are dropped.
type cells struct {
	v   []uint64
	i64 []driver.Value // i64[k] is an int64 whose value is v[k]
	f64 []driver.Value // f64[k] is a float64 whose bits are v[k]
}

// eface is the layout of an interface value with methods or without
// (runtime.eface / iface: type or itab word, then the data word).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// cellValue returns a value of dynamic type T whose data word is p: it
// reads as *p (as T) whenever it is read.
func cellValue[T int64 | float64](p *uint64) driver.Value {
	var v driver.Value = T(0)
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(p)
	return v
}

// newCells returns n cells.
func newCells(n int) *cells {
	c := &cells{v: make([]uint64, n), i64: make([]driver.Value, n), f64: make([]driver.Value, n)}
	for k := range c.v {
		c.i64[k] = cellValue[int64](&c.v[k])
		c.f64[k] = cellValue[float64](&c.v[k])
	}
	return c
}

// int sets cell k to x and returns its value.
func (c *cells) int(k int, x int64) driver.Value {
	c.v[k] = uint64(x)
	return c.i64[k]
}

// float sets cell k to x and returns its value.
func (c *cells) float(k int, x float64) driver.Value {
	c.v[k] = math.Float64bits(x)
	return c.f64[k]
}
