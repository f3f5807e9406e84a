package mongo

import (
	"testing"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/storetest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// TestStoreContract runs the shared store contract suite, each subtest on a fresh
// database (see harness_test.go for which server).
func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) domain.Store {
		s := openTestStore(t)
		s.pruneBatch = 3 // so the suite's prune tests span several batches
		return s
	})
}
