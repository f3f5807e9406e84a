// Package mongotest gives tests a MongoDB-compatible server: the real MongoDB named
// by MONGODB_URI when it is set, otherwise FerretDB (SQLite backend) started in this
// process. Only test code may import it, so FerretDB stays out of the binary.
package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Server is a running test server.
type Server struct {
	URI      string
	FerretDB bool // in-process FerretDB rather than a real MongoDB
	stop     func()
}

// Start returns the server to test against. Call Stop when done.
func Start() (*Server, error) {
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		return &Server{URI: uri, stop: func() {}}, nil
	}
	dir, err := os.MkdirTemp("", "carbon-ferretdb-")
	if err != nil {
		return nil, fmt.Errorf("ferretdb temp dir: %w", err)
	}
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
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	return &Server{
		URI:      f.MongoDBURI(), // blocks until the listener is up
		FerretDB: true,
		stop:     func() { cancel(); <-done; os.RemoveAll(dir) },
	}, nil
}

// Stop shuts an in-process FerretDB down; a real MongoDB is left alone.
func (s *Server) Stop() { s.stop() }

// ClientOptions are the options to open stores with. FerretDB v1 applies an update
// as read-modify-write in Go, so two connections updating one document lose writes;
// a single connection serialises them. Real MongoDB needs no such limit.
func (s *Server) ClientOptions() []func(*options.ClientOptions) {
	if !s.FerretDB {
		return nil
	}
	return []func(*options.ClientOptions){func(o *options.ClientOptions) { o.SetMaxPoolSize(1) }}
}

// AppURI is the URI to give the whole service (MONGODB_URI), with the same single
// connection limit under FerretDB.
func (s *Server) AppURI() string {
	if !s.FerretDB {
		return s.URI
	}
	u, err := url.Parse(s.URI)
	if err != nil {
		return s.URI
	}
	q := u.Query()
	q.Set("maxPoolSize", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

var dbCounter atomic.Int64

// NewDatabaseName returns a database name no other test in any run uses.
func NewDatabaseName() string {
	return fmt.Sprintf("carbontest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, dbCounter.Add(1))
}
