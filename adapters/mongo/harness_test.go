package mongo

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/mongo/mongotest"
)

// The tests run against a real MongoDB when MONGODB_URI is set, and otherwise
// against one in-process FerretDB (SQLite backend) shared by the whole test binary.
// Every store gets its own database, dropped at cleanup; under FerretDB a database
// is one SQLite file, so tests do not see each other's data or locks.
var server *mongotest.Server

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	if server, err = mongotest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Stop()
	return m.Run()
}

// openStoreOn opens a store on database without dropping it at cleanup.
func openStoreOn(t testing.TB, database string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, server.URI, database, server.ClientOptions()...)
	if err != nil {
		t.Fatalf("open store on %s: %v", database, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// openTestStore opens a store on a fresh database and drops the database when the
// test ends.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	database := mongotest.NewDatabaseName()
	s := openStoreOn(t, database)
	// Registered after openStoreOn's cleanup, so it runs first, while connected.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.db.Drop(ctx); err != nil {
			t.Errorf("drop database %s: %v", database, err)
		}
	})
	return s
}
