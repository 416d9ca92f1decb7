// SPDX-License-Identifier: MIT

package offheap

import (
	"reflect"
	"testing"
)

type rec struct {
	A uint64
	B [3]int32
	C bool
}

func TestMakeZeroedAndWritable(t *testing.T) {
	before := Bytes()
	s, free := Make[rec](100000)
	if len(s) != 100000 || cap(s) != 100000 {
		t.Fatalf("len %d cap %d", len(s), cap(s))
	}
	for i := range s {
		if s[i] != (rec{}) {
			t.Fatalf("element %d not zero: %+v", i, s[i])
		}
		s[i].A = uint64(i)
	}
	for i := range s {
		if s[i].A != uint64(i) {
			t.Fatalf("element %d = %d", i, s[i].A)
		}
	}
	if mappedPath && Bytes()-before != int64(len(s))*int64(reflect.TypeFor[rec]().Size()) {
		t.Fatalf("Bytes grew by %d", Bytes()-before)
	}
	free()
	free() // twice is harmless
	if Bytes() != before {
		t.Fatalf("Bytes after free %d, want %d", Bytes(), before)
	}
}

func TestMakeRefusesPointers(t *testing.T) {
	for _, f := range []func(){
		func() { Make[string](1) },
		func() { Make[*int](1) },
		func() { Make[struct{ A []byte }](1) },
		func() { Make[[2]map[int]int](1) },
		func() { Make[struct{ X struct{ P any } }](1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Make of a type with pointers did not panic")
				}
			}()
			f()
		}()
	}
}

func TestMakeEmpty(t *testing.T) {
	s, free := Make[uint32](0)
	if s != nil {
		t.Fatal("Make(0) not nil")
	}
	free()
	if z, _ := Make[struct{}](5); len(z) != 5 {
		t.Fatal("zero-size elements")
	}
}
