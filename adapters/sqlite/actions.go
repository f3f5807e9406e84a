package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const (
	actionColumns = `id, citizen_id, type_code, rule_version, quantity, occurred_at, recorded_at, day,
	evidence_source, evidence_reference, evidence_key, idempotency_key, request_hash,
	status, credited_quantity, co2e_g, points, cap_limit, cap_requested, cap_credited, cap_withheld,
	ledger_entry_id, balance_after`
	ledgerColumns = "id, citizen_id, kind, points, co2e_g, balance_after, cause_type, cause_id, created_at"
)

// The statements of RecordAction, prepared once on the writer connection (see
// prepareStatements). Each is served by an index; TestActionQueriesUseIndexes
// checks the plans.
const (
	// recordPreflight reads, in one statement, everything RecordAction decides on:
	// ?1 citizen, ?2 idempotency key, ?3 evidence key, ?4 day, ?5 type code.
	// The citizen's balance is NULL if the citizen is missing or erased.
	recordPreflight = `SELECT
		(SELECT id FROM actions WHERE citizen_id = ?1 AND idempotency_key = ?2),
		EXISTS (SELECT 1 FROM actions WHERE evidence_key = ?3),
		(SELECT balance FROM citizens WHERE id = ?1 AND erased_at IS NULL),
		COALESCE((SELECT quantity FROM daily_usage WHERE citizen_id = ?1 AND day = ?4 AND type_code = ?5), 0),
		COALESCE((SELECT points FROM daily_usage WHERE citizen_id = ?1 AND day = ?4 AND type_code = ?5), 0),
		COALESCE((SELECT points FROM daily_usage WHERE citizen_id = ?1 AND day = ?4 AND type_code = '*'), 0)`

	actionByIdempotencyKey = "SELECT " + actionColumns + " FROM actions WHERE citizen_id = ? AND idempotency_key = ?"

	// addToAccount posts a credit to the citizen's totals with arithmetic in SQL.
	// The CHECK (balance >= 0) on citizens refuses any result below zero.
	addToAccount = `UPDATE citizens SET balance = balance + ?2, co2e_grams_total = co2e_grams_total + ?3,
		points_earned_total = points_earned_total + ?4
		WHERE id = ?1 AND erased_at IS NULL RETURNING balance`

	insertAction = "INSERT INTO actions (" + actionColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	insertLedgerEntry = "INSERT INTO ledger_entries (" + ledgerColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

	// addUsage adds an action's credit to its type's row and to the day's '*' row:
	// ?1 citizen, ?2 day, ?3 type code, ?4 credited quantity, ?5 points.
	addUsage = `INSERT INTO daily_usage (citizen_id, day, type_code, quantity, points)
		VALUES (?1, ?2, ?3, ?4, ?5), (?1, ?2, '*', 0, ?5)
		ON CONFLICT (day, citizen_id, type_code) DO UPDATE SET
			quantity = quantity + excluded.quantity, points = points + excluded.points`
)

// statements are prepared once, at Open: RecordAction's on the single writer
// connection, which is never closed, and the reads' on the read pool, where
// database/sql prepares each on a connection the first time it runs there and
// keeps it (the connections are never closed either). So no call parses SQL,
// which costs about as much as running these statements: preparing RecordAction's
// per call made it ~60% slower in BenchmarkRecordAction at low concurrency.
type statements struct {
	// RecordAction's, on the writer.
	preflight, actionByKey, addToAccount, insertAction, insertEntry, addUsage *sql.Stmt
	// Reads, on the read pool.
	readActionByID, readActionByKey, actionsFirst, actionsBefore, entriesFirst, entriesBefore *sql.Stmt
}

type preparation struct {
	dst   **sql.Stmt
	query string
}

func prepareStatements(ctx context.Context, write, read *sql.DB) (*statements, error) {
	st := &statements{}
	for db, list := range map[*sql.DB][]preparation{
		write: {
			{&st.preflight, recordPreflight},
			{&st.actionByKey, actionByIdempotencyKey},
			{&st.addToAccount, addToAccount},
			{&st.insertAction, insertAction},
			{&st.insertEntry, insertLedgerEntry},
			{&st.addUsage, addUsage},
		},
		read: {
			{&st.readActionByID, actionByID},
			{&st.readActionByKey, actionByIdempotencyKey},
			{&st.actionsFirst, listActionsFirst},
			{&st.actionsBefore, listActionsBefore},
			{&st.entriesFirst, listEntriesFirst},
			{&st.entriesBefore, listEntriesBefore},
		},
	} {
		for _, p := range list {
			stmt, err := db.PrepareContext(ctx, p.query)
			if err != nil {
				st.close()
				return nil, fmt.Errorf("sqlite: prepare %.40q: %w", p.query, err)
			}
			*p.dst = stmt
		}
	}
	return st, nil
}

func (st *statements) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{st.preflight, st.actionByKey, st.addToAccount, st.insertAction, st.insertEntry, st.addUsage,
		st.readActionByID, st.readActionByKey, st.actionsFirst, st.actionsBefore, st.entriesFirst, st.entriesBefore} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

func scanAction(r rowScanner) (domain.Action, error) {
	var a domain.Action
	var quantity, credited, occurred, recorded int64
	var status string
	var capLimit sql.NullString
	var capRequested, capCredited, capWithheld sql.NullInt64
	err := r.Scan(&a.ID, &a.CitizenID, &a.TypeCode, &a.RuleVersion, &quantity, &occurred, &recorded, &a.Day,
		&a.Evidence.Source, &a.Evidence.Reference, &a.EvidenceKey, &a.IdempotencyKey, &a.RequestHash,
		&status, &credited, &a.CO2eGrams, &a.Points, &capLimit, &capRequested, &capCredited, &capWithheld,
		&a.LedgerEntryID, &a.BalanceAfter)
	if err != nil {
		return domain.Action{}, err
	}
	a.Quantity, a.CreditedQuantity = domain.Quantity(quantity), domain.Quantity(credited)
	a.OccurredAt, a.RecordedAt = fromMillis(occurred), fromMillis(recorded)
	a.Status = domain.ActionStatus(status)
	if capLimit.Valid {
		a.Cap = &domain.CapOutcome{
			Limit:             domain.CapLimit(capLimit.String),
			RequestedQuantity: domain.Quantity(capRequested.Int64),
			CreditedQuantity:  domain.Quantity(capCredited.Int64),
			PointsWithheld:    capWithheld.Int64,
		}
	}
	return a, nil
}

func scanLedgerEntry(r rowScanner) (domain.LedgerEntry, error) {
	var e domain.LedgerEntry
	var kind string
	var created int64
	if err := r.Scan(&e.ID, &e.CitizenID, &kind, &e.Points, &e.CO2eGrams, &e.BalanceAfter,
		&e.CauseType, &e.CauseID, &created); err != nil {
		return domain.LedgerEntry{}, err
	}
	e.Kind = domain.LedgerKind(kind)
	e.CreatedAt = fromMillis(created)
	return e, nil
}

// txStatements are the statements bound to one write transaction.
type txStatements struct {
	preflight, actionByKey, addToAccount, insertAction, insertEntry, addUsage *sql.Stmt
}

func (st *statements) bind(ctx context.Context, tx *sql.Tx) *txStatements {
	return &txStatements{
		preflight:    tx.StmtContext(ctx, st.preflight),
		actionByKey:  tx.StmtContext(ctx, st.actionByKey),
		addToAccount: tx.StmtContext(ctx, st.addToAccount),
		insertAction: tx.StmtContext(ctx, st.insertAction),
		insertEntry:  tx.StmtContext(ctx, st.insertEntry),
		addUsage:     tx.StmtContext(ctx, st.addUsage),
	}
}

// recordAction is RecordAction inside a write transaction: one statement reads the
// idempotency key, the evidence key, the citizen's balance and the day's usage;
// decide runs; then at most four statements write the account, the action, the
// ledger entry and the usage. Writers are serialised (one connection, BEGIN
// IMMEDIATE), so nothing changes between the reads and the writes.
//
// Refusals (a duplicate key, used evidence, an unknown or erased citizen, decide's
// error or panic) are all found before the first write, so they leave the
// transaction as it was. Any other error sets dirty: the transaction may hold part
// of the action (or SQLite may have rolled it back), and must be rolled back.
func recordAction(ctx context.Context, st *txStatements, a domain.Action, newEntryID string,
	decide func(domain.DayUsage) (domain.Credit, error)) recordOutcome {
	refused := func(err error) recordOutcome { return recordOutcome{err: err} }
	failed := func(err error) recordOutcome { return recordOutcome{err: err, dirty: true} }
	var dupID sql.NullString
	var evidenceUsed bool
	var balance sql.NullInt64
	var typeQuantity int64
	var used domain.DayUsage
	err := st.preflight.QueryRowContext(ctx, a.CitizenID, a.IdempotencyKey, a.EvidenceKey, a.Day, a.TypeCode).
		Scan(&dupID, &evidenceUsed, &balance, &typeQuantity, &used.TypePoints, &used.TotalPoints)
	if err != nil {
		return failed(fmt.Errorf("sqlite: record action: read state: %w", err))
	}
	used.TypeQuantity = domain.Quantity(typeQuantity)
	switch {
	case dupID.Valid:
		err := duplicateRequest(ctx, st.actionByKey, a.CitizenID, a.IdempotencyKey)
		var dup *domain.DuplicateRequestError
		if errors.As(err, &dup) {
			return refused(err)
		}
		return failed(err)
	case evidenceUsed:
		return refused(domain.ErrEvidenceUsed)
	case !balance.Valid:
		return refused(domain.ErrNotFound)
	}

	credit, panicked, err := callDecide(decide, used)
	if panicked != nil {
		return recordOutcome{panic: panicked}
	}
	if err != nil {
		return refused(err)
	}
	a.Status, a.CreditedQuantity, a.CO2eGrams, a.Points = credit.Status, credit.CreditedQuantity, credit.CO2eGrams, credit.Points
	a.Cap, a.LedgerEntryID, a.BalanceAfter = nil, "", balance.Int64
	if credit.Cap != nil {
		c := *credit.Cap
		a.Cap = &c
	}

	// From here on every error is dirty.
	moves := a.Points != 0 || a.CO2eGrams != 0
	if moves {
		// Lifetime points count what was earned (LedgerEarned sums positive earn
		// entries), so a negative credit never lowers them.
		err := st.addToAccount.QueryRowContext(ctx, a.CitizenID, a.Points, a.CO2eGrams, max(a.Points, 0)).Scan(&a.BalanceAfter)
		switch {
		case isCheckViolation(err):
			return failed(fmt.Errorf("sqlite: record action: refused: crediting %d points would make citizen %s's balance negative: %w",
				a.Points, a.CitizenID, err))
		case err != nil:
			// ErrNoRows cannot happen: the citizen was read in this transaction.
			return failed(fmt.Errorf("sqlite: record action: update account: %w", err))
		}
		a.LedgerEntryID = newEntryID
	}

	var capLimit sql.NullString
	var capRequested, capCredited, capWithheld sql.NullInt64
	if a.Cap != nil {
		capLimit = sql.NullString{String: string(a.Cap.Limit), Valid: true}
		capRequested = sql.NullInt64{Int64: int64(a.Cap.RequestedQuantity), Valid: true}
		capCredited = sql.NullInt64{Int64: int64(a.Cap.CreditedQuantity), Valid: true}
		capWithheld = sql.NullInt64{Int64: a.Cap.PointsWithheld, Valid: true}
	}
	_, err = st.insertAction.ExecContext(ctx,
		a.ID, a.CitizenID, a.TypeCode, a.RuleVersion, int64(a.Quantity), millis(a.OccurredAt), millis(a.RecordedAt), a.Day,
		a.Evidence.Source, a.Evidence.Reference, a.EvidenceKey, a.IdempotencyKey, a.RequestHash,
		string(a.Status), int64(a.CreditedQuantity), a.CO2eGrams, a.Points, capLimit, capRequested, capCredited, capWithheld,
		a.LedgerEntryID, a.BalanceAfter)
	if isUniqueViolation(err) {
		return failed(actionUniqueViolation(ctx, st.actionByKey, a, err))
	}
	if err != nil {
		return failed(fmt.Errorf("sqlite: record action: insert action: %w", err))
	}

	if moves {
		_, err = st.insertEntry.ExecContext(ctx,
			newEntryID, a.CitizenID, string(domain.LedgerEarn), a.Points, a.CO2eGrams, a.BalanceAfter,
			"action", a.ID, millis(a.RecordedAt))
		if isUniqueViolation(err) {
			return failed(domain.ErrConflict) // newEntryID is taken
		}
		if err != nil {
			return failed(fmt.Errorf("sqlite: record action: insert ledger entry: %w", err))
		}
	}

	if a.CreditedQuantity != 0 || a.Points != 0 {
		if _, err := st.addUsage.ExecContext(ctx, a.CitizenID, a.Day, a.TypeCode, int64(a.CreditedQuantity), a.Points); err != nil {
			return failed(fmt.Errorf("sqlite: record action: add usage: %w", err))
		}
	}
	return recordOutcome{action: a}
}

// recordOutcome is what recordAction did with one request.
type recordOutcome struct {
	action domain.Action
	err    error
	panic  any  // decide's panic, re-raised in the caller's goroutine
	dirty  bool // the transaction may hold part of the action: roll it back
}

// callDecide runs decide, catching a panic so that it can be re-raised in the
// caller's goroutine instead of crashing the recorder's.
func callDecide(decide func(domain.DayUsage) (domain.Credit, error), used domain.DayUsage) (c domain.Credit, panicked any, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	c, err = decide(used)
	return c, nil, err
}

// duplicateRequest returns the action already recorded under the key, as a
// *domain.DuplicateRequestError.
func duplicateRequest(ctx context.Context, byKey *sql.Stmt, citizenID, key string) error {
	existing, err := scanAction(byKey.QueryRowContext(ctx, citizenID, key))
	if err != nil {
		return fmt.Errorf("sqlite: record action: read duplicate: %w", err)
	}
	return &domain.DuplicateRequestError{Existing: existing}
}

// actionUniqueViolation maps a unique violation on inserting an action to the
// port's errors. The checks at the start of the transaction make it unreachable
// (the writer is serialised and BEGIN IMMEDIATE locks out other processes); it
// stays as a guard.
func actionUniqueViolation(ctx context.Context, byKey *sql.Stmt, a domain.Action, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "actions.idempotency_key"):
		return duplicateRequest(ctx, byKey, a.CitizenID, a.IdempotencyKey)
	case strings.Contains(msg, "actions.evidence_key"):
		return domain.ErrEvidenceUsed
	default:
		return domain.ErrConflict // the action id is taken
	}
}

const actionByID = "SELECT " + actionColumns + " FROM actions WHERE id = ? AND status <> 'recording'"

// GetAction reads from the read pool. SQLite records atomically, so no action is
// ever stored as recording; the filter is there for the port's contract.
func (s *Store) GetAction(ctx context.Context, id string) (domain.Action, error) {
	a, err := scanAction(s.stmts.readActionByID.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Action{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Action{}, fmt.Errorf("sqlite: get action: %w", err)
	}
	return a, nil
}

// FindActionByIdempotencyKey looks the key up through UNIQUE (citizen_id, idempotency_key).
func (s *Store) FindActionByIdempotencyKey(ctx context.Context, citizenID, key string) (domain.Action, error) {
	a, err := scanAction(s.stmts.readActionByKey.QueryRowContext(ctx, citizenID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Action{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Action{}, fmt.Errorf("sqlite: find action by idempotency key: %w", err)
	}
	return a, nil
}

// Listing queries walk the (citizen_id, id) indexes backwards from the cursor.
// The first page has its own query so that both seek directly in the index.
const (
	listActionsFirst  = "SELECT " + actionColumns + " FROM actions WHERE citizen_id = ?1 AND status <> 'recording' ORDER BY id DESC LIMIT ?3"
	listActionsBefore = "SELECT " + actionColumns + " FROM actions WHERE citizen_id = ?1 AND id < ?2 AND status <> 'recording' ORDER BY id DESC LIMIT ?3"
	listEntriesFirst  = "SELECT " + ledgerColumns + " FROM ledger_entries WHERE citizen_id = ?1 ORDER BY id DESC LIMIT ?3"
	listEntriesBefore = "SELECT " + ledgerColumns + " FROM ledger_entries WHERE citizen_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
)

// ListActions returns the citizen's actions newest first, below beforeID if set.
func (s *Store) ListActions(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Action, error) {
	if limit <= 0 {
		return nil, nil // SQLite would read LIMIT -1 as "no limit"
	}
	q := s.stmts.actionsFirst
	if beforeID != "" {
		q = s.stmts.actionsBefore
	}
	rows, err := q.QueryContext(ctx, citizenID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list actions: %w", err)
	}
	out, err := collect(rows, scanAction)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list actions: %w", err)
	}
	return out, nil
}

// ListLedgerEntries returns the citizen's entries newest first, below beforeID if set.
func (s *Store) ListLedgerEntries(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.LedgerEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := s.stmts.entriesFirst
	if beforeID != "" {
		q = s.stmts.entriesBefore
	}
	rows, err := q.QueryContext(ctx, citizenID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list ledger entries: %w", err)
	}
	out, err := collect(rows, scanLedgerEntry)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list ledger entries: %w", err)
	}
	return out, nil
}

const anonymiseActions = `UPDATE actions SET evidence_source = '', evidence_reference = ''
	WHERE citizen_id = ? AND (evidence_source <> '' OR evidence_reference <> '')`

// AnonymiseActions clears the evidence of the citizen's actions; evidence_key
// stays so the same evidence can never be credited again.
func (s *Store) AnonymiseActions(ctx context.Context, citizenID string) error {
	_, err := s.write.ExecContext(ctx, anonymiseActions, citizenID)
	if err != nil {
		return fmt.Errorf("sqlite: anonymise actions: %w", err)
	}
	return nil
}

// CompleteInterruptedActions has nothing to do: RecordAction is one transaction,
// so a crash leaves either all of a recording or none of it.
func (s *Store) CompleteInterruptedActions(context.Context, time.Time) (completed, removed int, err error) {
	return 0, 0, nil
}

// checkBalances sums each citizen's ledger through ledger_entries_citizen. The
// citizens are picked first (a page by primary key), then joined; one statement
// reads one snapshot, so the totals and sums are from the same instant even while
// actions are being recorded.
const checkBalances = `SELECT c.id, c.balance, c.co2e_grams_total, c.points_earned_total,
		COALESCE(SUM(l.points), 0), COALESCE(SUM(l.co2e_g), 0),
		COALESCE(SUM(l.points) FILTER (WHERE l.kind = 'earn' AND l.points > 0), 0)
	FROM (SELECT id, balance, co2e_grams_total, points_earned_total FROM citizens
		WHERE id > ?1 ORDER BY id LIMIT ?2) AS c
	LEFT JOIN ledger_entries AS l ON l.citizen_id = c.id
	GROUP BY c.id ORDER BY c.id`

// CheckBalances compares up to limit citizens' kept totals with their ledger sums.
func (s *Store) CheckBalances(ctx context.Context, afterID string, limit int) ([]domain.BalanceCheck, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, checkBalances, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: check balances: %w", err)
	}
	out, err := collect(rows, func(r rowScanner) (domain.BalanceCheck, error) {
		var b domain.BalanceCheck
		err := r.Scan(&b.CitizenID, &b.Balance, &b.CO2eGramsTotal, &b.PointsEarnedTotal,
			&b.LedgerPoints, &b.LedgerCO2eGrams, &b.LedgerEarned)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: check balances: %w", err)
	}
	return out, nil
}
