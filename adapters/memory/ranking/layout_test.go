package ranking

import (
	"reflect"
	"testing"
	"unsafe"
)

// The memory figures in the package comment hold only while leaves carry no
// pointers (the garbage collector then skips them) and nodes fill their
// allocation size classes (2048 and 3072 bytes).
func TestNodeLayout(t *testing.T) {
	if hasPointers(reflect.TypeFor[leaf]()) {
		t.Error("leaf holds a pointer: the collector would scan every leaf")
	}
	if got := unsafe.Sizeof(leaf{}); got != 2048 {
		t.Errorf("leaf is %d bytes, want 2048", got)
	}
	if got := unsafe.Sizeof(inner{}); got > 3072 || got < 3072-48 {
		t.Errorf("inner is %d bytes, want just under 3072", got)
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
