package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// Background checkpoints. In WAL mode every commit appends pages to the WAL, and a
// checkpoint copies them back into the database file and fsyncs both files. By
// default the committing connection does that itself whenever the WAL holds 1000
// pages, so now and then one RecordAction batch also copies a thousand pages and
// waits for two fsyncs (milliseconds to tens of milliseconds on a real disk) while
// every other writer waits behind it. Here a connection of its own checkpoints in
// the background after commits, so the writer only appends: in
// BenchmarkRecordAction this cut wall time per action by about 30% and CPU time
// by about 15%.
//
// A checkpoint that runs alongside the writer cannot always finish (frames keep
// arriving), and the WAL only starts over from its beginning once a checkpoint has
// caught up with it. So the writer keeps its own automatic checkpoint, at
// writerCheckpointPages: when the WAL grows that large it catches up itself (cheap,
// since the background has copied nearly everything) and the WAL restarts. Under
// sustained load the WAL so stays below writerCheckpointPages.
const (
	// After a checkpoint, the checkpointer waits for the next commit and at least
	// checkpointPause before the next, or only checkpointPauseBusy while the WAL
	// holds more than busyWALPages pages (under load, so that it keeps up and
	// the writer finds little left to copy when it catches up). The longer pause
	// lets a page written many times (a citizen's row, today's usage) be copied
	// once, and keeps a trickle of writes from costing two fsyncs each.
	checkpointPause     = 200 * time.Millisecond
	checkpointPauseBusy = 5 * time.Millisecond
	busyWALPages        = 1000
	// writerCheckpointPages is the WAL size (in pages) at which the writer
	// checkpoints itself, which lets the WAL restart from its beginning. Under
	// sustained load the WAL cycles up to about this size (120 MiB).
	writerCheckpointPages = 30000
)

type checkpointer struct {
	db      *sql.DB       // one connection, used only here
	kick    chan struct{} // capacity 1: "there are new frames"
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func (s *Store) startCheckpointer(db *sql.DB) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s.ckpt = &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.runCheckpointer()
}

// walGrew tells the checkpointer that a commit added frames; it never blocks.
func (s *Store) walGrew() {
	select {
	case s.ckpt.kick <- struct{}{}:
	default:
	}
}

func (s *Store) runCheckpointer() {
	defer close(s.ckpt.stopped)
	for {
		select {
		case <-s.ckpt.kick:
		case <-s.ckpt.stop:
			return
		}
		// PASSIVE never waits for a lock and never blocks the writer or readers;
		// it copies what it can.
		var busy, walPages, copied int
		err := s.ckpt.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walPages, &copied)
		if err != nil {
			slog.Warn("sqlite: background checkpoint failed; the writer will checkpoint instead", "err", err)
		}
		pause := checkpointPause
		if walPages > busyWALPages {
			pause = checkpointPauseBusy
		}
		select {
		case <-time.After(pause):
		case <-s.ckpt.stop:
			return
		}
	}
}

// stopCheckpointer waits for a running checkpoint to finish and closes its
// connection. Close's final checkpoint is the writer's.
func (s *Store) stopCheckpointer() error {
	s.ckpt.once.Do(func() { close(s.ckpt.stop) })
	<-s.ckpt.stopped
	return s.ckpt.db.Close()
}
