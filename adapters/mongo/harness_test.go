package mongo

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The tests run against a real MongoDB when MONGODB_URI is set, and otherwise
// against one in-process FerretDB (SQLite backend) shared by the whole test binary.
// Every store gets its own database, dropped at cleanup; under FerretDB a database
// is one SQLite file, so tests do not see each other's data or locks.
var (
	testURI    string
	testFerret bool
	dbCounter  atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		testURI = uri
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "carbon-ferretdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	level := new(slog.LevelVar)
	level.Set(slog.LevelError) // FerretDB logs every connection at info level.
	if os.Getenv("FERRETDB_DEBUG") != "" {
		level.Set(slog.LevelDebug)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	defer func() { cancel(); <-done }()

	testURI = f.MongoDBURI() // blocks until the listener is up
	testFerret = true
	return m.Run()
}

// clientOptions returns the options tests open stores with. FerretDB v1 applies an
// update as read-modify-write in Go, so two connections updating one document lose
// writes; a single connection serialises them. Real MongoDB needs no such limit.
func clientOptions() []func(*options.ClientOptions) {
	if !testFerret {
		return nil
	}
	return []func(*options.ClientOptions){func(o *options.ClientOptions) { o.SetMaxPoolSize(1) }}
}

// newDatabaseName returns a database name no other test in any run uses.
func newDatabaseName() string {
	return fmt.Sprintf("carbontest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, dbCounter.Add(1))
}

// openStoreOn opens a store on database without dropping it at cleanup.
func openStoreOn(t testing.TB, database string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, testURI, database, clientOptions()...)
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
	database := newDatabaseName()
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
