package bench

import (
	"os"
	"slices"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		shared.env.close()
	}
	slices.Reverse(deferred.fns)
	for _, f := range deferred.fns {
		f()
	}
	for _, d := range deferred.dir {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "carbon-bench-test-") }
