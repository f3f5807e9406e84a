package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Group commit. Every RecordAction is a write, and writes are serialised on one
// connection anyway, so the store runs concurrent recordings one after another in
// a shared transaction and commits them together: one commit and one WAL append
// for the batch instead of one per action, and the pages the batch's actions share
// (the right edge of the id indexes, today's usage, page 1) are written once.
// Callers get their result only after the commit, so nothing is acknowledged
// before it is durable; if the commit fails, every caller in the batch gets the
// error. A refused action writes nothing, so it does not disturb the others; see
// recordBatch for the rare failure that does.
//
// Batches form by themselves: the recorder takes whatever requests are waiting
// when it becomes free, so a lone request is committed at once, and under load a
// batch holds about the requests that arrived during the previous one.

// maxRecordBatch bounds how many actions share a transaction, and so how long other
// writers (sign-ins, profile saves) can wait behind one.
const maxRecordBatch = 64

var errStoreClosed = errors.New("sqlite: store is closed")

type recordRequest struct {
	ctx     context.Context
	action  domain.Action
	entryID string
	decide  func(domain.DayUsage) (domain.Credit, error)

	out  recordOutcome
	done chan struct{} // closed when out is final
}

// recorder owns the goroutine that runs RecordAction batches.
type recorder struct {
	queue   chan *recordRequest // unbuffered: a request is either taken or not
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once

	batches, requests atomic.Int64 // how many batches ran, with how many requests in all
	busy              atomic.Int64 // nanoseconds spent running batches
}

func (s *Store) startRecorder() {
	s.rec = &recorder{queue: make(chan *recordRequest), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.runRecorder()
}

// stopRecorder waits for the running batch to finish; later RecordAction calls
// return errStoreClosed.
func (s *Store) stopRecorder() {
	s.rec.once.Do(func() { close(s.rec.stop) })
	<-s.rec.stopped
}

// RecordAction records an action with its effects; see domain.ActionStore. It
// hands the request to the recorder and waits for the batch it joins to commit.
// If ctx ends first, RecordAction returns ctx.Err() while the action may still be
// recorded (a retry with the same idempotency key then finds it); a request whose
// ctx has ended before its turn is not recorded.
func (s *Store) RecordAction(ctx context.Context, a domain.Action, newEntryID string,
	decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	a.OccurredAt, a.RecordedAt = a.OccurredAt.UTC().Truncate(time.Millisecond), a.RecordedAt.UTC().Truncate(time.Millisecond)
	req := &recordRequest{ctx: ctx, action: a, entryID: newEntryID, decide: decide, done: make(chan struct{})}
	select {
	case s.rec.queue <- req:
	case <-ctx.Done():
		return domain.Action{}, ctx.Err()
	case <-s.rec.stop:
		return domain.Action{}, errStoreClosed
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return domain.Action{}, ctx.Err()
	}
	if req.out.panic != nil {
		panic(req.out.panic)
	}
	return req.out.action, req.out.err
}

func (s *Store) runRecorder() {
	defer close(s.rec.stopped)
	batch := make([]*recordRequest, 0, maxRecordBatch)
	for {
		select {
		case req := <-s.rec.queue:
			batch = append(batch[:0], req)
		case <-s.rec.stop:
			return
		}
		// Take every request already waiting. When none is, yield once first:
		// callers whose results were just delivered are usually about to send
		// their next request, and joining now saves them a commit of their own.
		for yielded := false; len(batch) < maxRecordBatch; {
			select {
			case req := <-s.rec.queue:
				batch = append(batch, req)
				continue
			default:
			}
			if yielded {
				break
			}
			runtime.Gosched()
			yielded = true
		}
		start := time.Now()
		s.recordBatch(batch)
		s.rec.busy.Add(int64(time.Since(start)))
		s.rec.batches.Add(1)
		s.rec.requests.Add(int64(len(batch)))
		for i := range batch {
			close(batch[i].done)
			batch[i] = nil
		}
	}
}

// recordBatch runs the batch's requests one after another in one write
// transaction and commits them together. Its statements run under
// context.Background: a caller that gives up must not interrupt a statement, since
// SQLite rolls the whole transaction back on an interrupt; requests whose ctx has
// ended before their turn are skipped instead.
//
// A refusal (duplicate key, used evidence, unknown citizen, decide's error) is
// found before the action writes anything, so it leaves the transaction as it was.
// Any other error may leave part of the action in the transaction, or the
// transaction itself rolled back by SQLite; then the whole batch is rolled back,
// the failed request gets its error, and the rest run again in a new transaction
// (calling their decide again, which sees the same usage as before). This keeps
// the common path free of per-action savepoints.
func (s *Store) recordBatch(batch []*recordRequest) {
	ctx := context.Background()
	pending := batch
	for len(pending) > 0 {
		failed := s.recordPending(ctx, pending)
		if failed < 0 {
			return
		}
		rest := make([]*recordRequest, 0, len(pending)-1)
		rest = append(rest, pending[:failed]...)
		pending = append(rest, pending[failed+1:]...)
	}
}

// recordPending runs pending in one transaction. It returns -1 when it is done
// (committed, or failed as a whole, with every request's outcome set), or the
// index of a request whose failure rolled the transaction back: that request has
// its error, and the others must run again.
func (s *Store) recordPending(ctx context.Context, pending []*recordRequest) (failed int) {
	failAll := func(err error) int {
		for _, r := range pending {
			r.out = recordOutcome{err: err}
		}
		return -1
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return failAll(fmt.Errorf("sqlite: record action: begin: %w", err))
	}
	// A panic here is a bug (decide's own are caught by callDecide). Without
	// this, it would end the recorder with the transaction open, and every write
	// would wait forever for the connection; instead the batch is rolled back and
	// each caller panics, as it would have without group commit.
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			for _, r := range pending {
				r.out = recordOutcome{panic: v}
			}
			failed = -1
		}
	}()
	st := s.stmts.bind(ctx, tx)
	wrote := false
	for i, r := range pending {
		if err := r.ctx.Err(); err != nil {
			r.out = recordOutcome{err: err}
			continue
		}
		r.out = recordAction(ctx, st, r.action, r.entryID, r.decide)
		if r.out.dirty {
			_ = tx.Rollback()
			return i
		}
		wrote = wrote || r.out.err == nil && r.out.panic == nil
	}
	if !wrote { // every request was refused: nothing to commit
		_ = tx.Rollback()
		return -1
	}
	if err := tx.Commit(); err != nil {
		// Refusals too: they were decided on state that is now undone.
		return failAll(fmt.Errorf("sqlite: record action: commit: %w", err))
	}
	s.walGrew()
	return -1
}
