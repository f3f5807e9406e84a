package storetest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// TestSuiteAgainstReference runs the suite against a minimal in-memory store, so
// the suite itself is checked to pass on a correct implementation.
func TestSuiteAgainstReference(t *testing.T) {
	Run(t, func(t *testing.T) domain.Store { return newRefStore() })
}

// refStore is a mutex-guarded reference implementation of domain.Store.
type refStore struct {
	mu        sync.Mutex
	citizens  map[string]domain.Citizen
	operators map[string]domain.Operator
	sessions  map[string]domain.Session
	tokens    map[string]domain.RefreshToken
	lastExp   map[string]time.Time // session id -> latest token expiry

	types      map[string]domain.ActivityType
	versions   map[string][]domain.CoefficientVersion // by type code, ascending
	actions    map[string]domain.Action               // by id
	byKey      map[[2]string]string                   // (citizen id, idempotency key) -> action id
	byEvidence map[string]string                      // evidence key -> action id
	ledger     map[string]domain.LedgerEntry          // by id
	typeUsage  map[[3]string]typeUsage                // (citizen id, day, type code)
	dayPoints  map[[2]string]int64                    // (citizen id, day) -> points over all types

	banks     map[string]domain.Bank
	benefits  map[string]domain.Benefit
	vouchers  map[string]domain.Voucher // by id
	claimKeys map[[2]string]string      // (citizen id, idempotency key) -> voucher id

	credentials []domain.BankCredential

	consents refConsents // see refstore_consents_test.go

	redemptions refRedemptions // see refstore_redemptions_test.go

	fault string // comma-separated deliberate bugs, see faults_test.go; "" in normal runs
}

type typeUsage struct {
	quantity domain.Quantity
	points   int64
}

func newRefStore() *refStore {
	return &refStore{
		citizens:   map[string]domain.Citizen{},
		operators:  map[string]domain.Operator{},
		sessions:   map[string]domain.Session{},
		tokens:     map[string]domain.RefreshToken{},
		lastExp:    map[string]time.Time{},
		types:      map[string]domain.ActivityType{},
		versions:   map[string][]domain.CoefficientVersion{},
		actions:    map[string]domain.Action{},
		byKey:      map[[2]string]string{},
		byEvidence: map[string]string{},
		ledger:     map[string]domain.LedgerEntry{},
		typeUsage:  map[[3]string]typeUsage{},
		dayPoints:  map[[2]string]int64{},
		banks:      map[string]domain.Bank{},
		benefits:   map[string]domain.Benefit{},
		vouchers:   map[string]domain.Voucher{},
		claimKeys:  map[[2]string]string{},
		fault:      os.Getenv(faultEnv),
	}
}

// broken reports whether the store was started with fault f on purpose.
func (s *refStore) broken(f string) bool { return slices.Contains(strings.Split(s.fault, ","), f) }

func (s *refStore) Ping(context.Context) error { return nil }
func (s *refStore) Close() error               { return nil }

func (s *refStore) FindOrCreateCitizen(_ context.Context, draft domain.Citizen) (domain.Citizen, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.citizens {
		if c.Identity == draft.Identity {
			return c, false, nil
		}
	}
	s.citizens[draft.ID] = draft
	return draft, true, nil
}

func (s *refStore) GetCitizen(_ context.Context, id string) (domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.citizens[id]
	if !ok {
		return domain.Citizen{}, domain.ErrNotFound
	}
	return c, nil
}

func (s *refStore) SaveCitizenProfile(_ context.Context, c domain.Citizen) (domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.citizens[c.ID]
	if !ok {
		return domain.Citizen{}, domain.ErrNotFound
	}
	if old.Version != c.Version {
		return domain.Citizen{}, domain.ErrConflict
	}
	for id, o := range s.citizens {
		if id != c.ID && o.Identity == c.Identity {
			return domain.Citizen{}, domain.ErrConflict
		}
	}
	c.Balance, c.CO2eGramsTotal, c.PointsEarnedTotal = old.Balance, old.CO2eGramsTotal, old.PointsEarnedTotal
	c.CreatedAt = old.CreatedAt
	c.Version++
	s.citizens[c.ID] = c
	return c, nil
}

func (s *refStore) CreateOperator(_ context.Context, o domain.Operator) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.operators {
		if x.Username == o.Username || x.ID == o.ID {
			return domain.ErrConflict
		}
	}
	s.operators[o.ID] = o
	return nil
}

func (s *refStore) GetOperatorByUsername(_ context.Context, username string) (domain.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.operators {
		if o.Username == username {
			return o, nil
		}
	}
	return domain.Operator{}, domain.ErrNotFound
}

func (s *refStore) GetOperator(_ context.Context, id string) (domain.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.operators[id]
	if !ok {
		return domain.Operator{}, domain.ErrNotFound
	}
	return o, nil
}

func (s *refStore) ListOperators(_ context.Context, afterID string, limit int) ([]domain.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Operator
	for _, o := range s.operators {
		if o.ID > afterID {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b domain.Operator) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

func (s *refStore) CreateSession(_ context.Context, sess domain.Session, first domain.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sess.ID] = sess
	s.tokens[first.Hash] = first
	s.lastExp[sess.ID] = first.ExpiresAt
	return nil
}

func (s *refStore) GetSession(_ context.Context, id string) (domain.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return domain.Session{}, domain.ErrNotFound
	}
	return sess, nil
}

func (s *refStore) RevokeSession(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return domain.ErrNotFound
	}
	if sess.RevokedAt == nil {
		sess.RevokedAt = &at
		s.sessions[id] = sess
	}
	return nil
}

func (s *refStore) RevokeSubjectSessions(_ context.Context, subjectID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if sess.SubjectID == subjectID && sess.RevokedAt == nil {
			sess.RevokedAt = &at
			s.sessions[id] = sess
		}
	}
	return nil
}

func (s *refStore) GetRefreshToken(_ context.Context, hash string) (domain.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok {
		return domain.RefreshToken{}, domain.ErrNotFound
	}
	return t, nil
}

func (s *refStore) SpendRefreshToken(_ context.Context, hash string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok {
		return domain.ErrNotFound
	}
	if t.UsedAt != nil {
		return domain.ErrConflict
	}
	t.UsedAt = &at
	s.tokens[hash] = t
	return nil
}

func (s *refStore) AddRefreshToken(_ context.Context, t domain.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[t.SessionID]; !ok {
		return domain.ErrNotFound
	}
	s.tokens[t.Hash] = t
	if t.ExpiresAt.After(s.lastExp[t.SessionID]) {
		s.lastExp[t.SessionID] = t.ExpiresAt
	}
	return nil
}

func (s *refStore) PruneSessions(_ context.Context, before time.Time) (tokens, sessions int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if (sess.RevokedAt != nil && sess.RevokedAt.Before(before)) || s.lastExp[id].Before(before) {
			delete(s.sessions, id)
			delete(s.lastExp, id)
			sessions++
		}
	}
	for hash, t := range s.tokens {
		if _, ok := s.sessions[t.SessionID]; !ok || t.ExpiresAt.Before(before) {
			delete(s.tokens, hash)
			tokens++
		}
	}
	return tokens, sessions, nil
}

func cloneVersion(v domain.CoefficientVersion) domain.CoefficientVersion {
	v.Evidence.Sources = slices.Clone(v.Evidence.Sources)
	return v
}

func (s *refStore) CreateActivityType(_ context.Context, t domain.ActivityType, first domain.CoefficientVersion) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.types[t.Code]; ok {
		return domain.ErrConflict
	}
	s.types[t.Code] = t
	s.versions[t.Code] = []domain.CoefficientVersion{cloneVersion(first)}
	return nil
}

func (s *refStore) AddCoefficientVersion(_ context.Context, v domain.CoefficientVersion) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, ok := s.versions[v.TypeCode]
	if !ok {
		return domain.ErrNotFound
	}
	if v.Version != vs[len(vs)-1].Version+1 && !s.broken("any-version") {
		return domain.ErrConflict
	}
	s.versions[v.TypeCode] = append(vs, cloneVersion(v))
	return nil
}

func (s *refStore) ListActivityTypes(context.Context) ([]domain.ActivityType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.ActivityType
	for _, t := range s.types {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b domain.ActivityType) int { return cmp.Compare(a.Code, b.Code) })
	return out, nil
}

func (s *refStore) ListCoefficientVersions(context.Context) ([]domain.CoefficientVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.CoefficientVersion
	for _, vs := range s.versions {
		for _, v := range vs {
			out = append(out, cloneVersion(v))
		}
	}
	slices.SortFunc(out, func(a, b domain.CoefficientVersion) int {
		if s.broken("versions-by-text") {
			return cmp.Or(cmp.Compare(a.TypeCode, b.TypeCode), cmp.Compare(fmt.Sprint(a.Version), fmt.Sprint(b.Version)))
		}
		return cmp.Or(cmp.Compare(a.TypeCode, b.TypeCode), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

func cloneAction(a domain.Action) domain.Action {
	if a.Cap != nil {
		c := *a.Cap
		a.Cap = &c
	}
	return a
}

func (s *refStore) RecordAction(_ context.Context, a domain.Action, newEntryID string, decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.citizens[a.CitizenID]
	if !ok || (c.Erased() && !s.broken("erased-records")) {
		return domain.Action{}, domain.ErrNotFound
	}
	if id, ok := s.byKey[[2]string{a.CitizenID, a.IdempotencyKey}]; ok && !s.broken("no-idempotency") {
		return domain.Action{}, &domain.DuplicateRequestError{Existing: cloneAction(s.actions[id])}
	}
	if _, ok := s.byEvidence[a.EvidenceKey]; ok && !s.broken("no-evidence-check") {
		return domain.Action{}, domain.ErrEvidenceUsed
	}
	day, typ := a.Day, a.TypeCode
	if s.broken("usage-ignores-day") {
		day = ""
	}
	if s.broken("usage-total-per-type") {
		day = a.Day + "/" + a.TypeCode
	}
	tu := s.typeUsage[[3]string{a.CitizenID, day, typ}]
	used := domain.DayUsage{TypeQuantity: tu.quantity, TypePoints: tu.points, TotalPoints: s.dayPoints[[2]string{a.CitizenID, day}]}
	if s.broken("no-usage") {
		used = domain.DayUsage{}
	}
	if s.broken("decide-unlocked") {
		// Reads usage, lets others run, decides on what it read: the lost update
		// a store without an atomic read-decide-write step would make.
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
		c = s.citizens[a.CitizenID]
	}
	credit, err := decide(used)
	if err != nil {
		if s.broken("refusal-takes-evidence") {
			s.byEvidence[a.EvidenceKey] = ""
		}
		return domain.Action{}, err
	}

	a.Status, a.CreditedQuantity, a.CO2eGrams, a.Points = credit.Status, credit.CreditedQuantity, credit.CO2eGrams, credit.Points
	a.Cap = nil
	if credit.Cap != nil {
		capCopy := *credit.Cap
		a.Cap = &capCopy
	}
	c.Balance += credit.Points
	c.CO2eGramsTotal += credit.CO2eGrams
	if !s.broken("earned-not-kept") {
		c.PointsEarnedTotal += credit.Points
	}
	a.BalanceAfter = c.Balance
	a.LedgerEntryID = ""
	if credit.Points != 0 || credit.CO2eGrams != 0 || s.broken("ledger-always") {
		a.LedgerEntryID = newEntryID
		s.ledger[newEntryID] = domain.LedgerEntry{
			ID: newEntryID, CitizenID: a.CitizenID, Kind: domain.LedgerEarn,
			Points: credit.Points, CO2eGrams: credit.CO2eGrams, BalanceAfter: c.Balance,
			CauseType: "action", CauseID: a.ID, CreatedAt: a.RecordedAt,
		}
	}
	s.citizens[a.CitizenID] = c
	s.actions[a.ID] = cloneAction(a)
	s.byKey[[2]string{a.CitizenID, a.IdempotencyKey}] = a.ID
	s.byEvidence[a.EvidenceKey] = a.ID
	tu.quantity += credit.CreditedQuantity
	tu.points += credit.Points
	s.typeUsage[[3]string{a.CitizenID, day, typ}] = tu
	s.dayPoints[[2]string{a.CitizenID, day}] += credit.Points
	return a, nil
}

func (s *refStore) GetAction(_ context.Context, id string) (domain.Action, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.actions[id]
	if !ok {
		return domain.Action{}, domain.ErrNotFound
	}
	return cloneAction(a), nil
}

func (s *refStore) FindActionByIdempotencyKey(_ context.Context, citizenID, key string) (domain.Action, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byKey[[2]string{citizenID, key}]
	if !ok || s.broken("find-by-key-blind") {
		return domain.Action{}, domain.ErrNotFound
	}
	return cloneAction(s.actions[id]), nil
}

// newestFirstPage keeps the items with id below beforeID ("" = all), newest first, up to limit.
func newestFirstPage[T any](items []T, id func(T) string, beforeID string, limit int) []T {
	var out []T
	for _, it := range items {
		if beforeID == "" || id(it) < beforeID {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(id(b), id(a)) })
	return out[:min(limit, len(out))]
}

func (s *refStore) ListActions(_ context.Context, citizenID, beforeID string, limit int) ([]domain.Action, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []domain.Action
	for _, a := range s.actions {
		if a.CitizenID == citizenID && a.Status != domain.ActionRecording {
			mine = append(mine, cloneAction(a))
		}
	}
	if s.broken("list-oldest-first") {
		slices.SortFunc(mine, func(a, b domain.Action) int { return cmp.Compare(a.ID, b.ID) })
		return mine[:min(limit, len(mine))], nil
	}
	return newestFirstPage(mine, func(a domain.Action) string { return a.ID }, beforeID, limit), nil
}

func (s *refStore) ListLedgerEntries(_ context.Context, citizenID, beforeID string, limit int) ([]domain.LedgerEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []domain.LedgerEntry
	for _, e := range s.ledger {
		if e.CitizenID == citizenID || s.broken("ledger-of-everyone") {
			mine = append(mine, e)
		}
	}
	return newestFirstPage(mine, func(e domain.LedgerEntry) string { return e.ID }, beforeID, limit), nil
}

func (s *refStore) AnonymiseActions(_ context.Context, citizenID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, a := range s.actions {
		if a.CitizenID == citizenID {
			if s.broken("anonymise-frees-evidence") {
				delete(s.byEvidence, a.EvidenceKey)
			}
			a.Evidence = domain.Evidence{}
			s.actions[id] = a
		}
	}
	return nil
}

// CompleteInterruptedActions has nothing to do: the reference store records in one step.
func (s *refStore) CompleteInterruptedActions(context.Context, time.Time) (int, int, error) {
	return 0, 0, nil
}

func (s *refStore) CheckBalances(_ context.Context, afterID string, limit int) ([]domain.BalanceCheck, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.BalanceCheck
	for id, c := range s.citizens {
		if id <= afterID && !s.broken("check-ignores-after") {
			continue
		}
		check := domain.BalanceCheck{CitizenID: id, Balance: c.Balance, CO2eGramsTotal: c.CO2eGramsTotal, PointsEarnedTotal: c.PointsEarnedTotal}
		for _, e := range s.ledger {
			if e.CitizenID != id {
				continue
			}
			check.LedgerPoints += e.Points
			check.LedgerCO2eGrams += e.CO2eGrams
			if e.Kind == domain.LedgerEarn && e.Points > 0 {
				check.LedgerEarned += e.Points
			}
		}
		out = append(out, check)
	}
	slices.SortFunc(out, func(a, b domain.BalanceCheck) int { return cmp.Compare(a.CitizenID, b.CitizenID) })
	return out[:min(limit, len(out))], nil
}

func (s *refStore) ScanCarbonEntries(_ context.Context, afterID string, limit int) ([]domain.LedgerEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.LedgerEntry
	for id, e := range s.ledger {
		carbon := e.CO2eGrams != 0 || s.broken("scan-zero-co2e")
		after := id > afterID || (id == afterID && s.broken("scan-after-inclusive"))
		if carbon && after {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b domain.LedgerEntry) int { return cmp.Compare(a.ID, b.ID) })
	return out[:max(min(limit, len(out)), 0)], nil
}

func (s *refStore) ScanCitizens(_ context.Context, afterID string, limit int) ([]domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Citizen
	for id, c := range s.citizens {
		if id > afterID && (!c.Erased() || !s.broken("scan-skips-erased")) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b domain.Citizen) int { return cmp.Compare(a.ID, b.ID) })
	return out[:max(min(limit, len(out)), 0)], nil
}

func (s *refStore) CreateBank(_ context.Context, b domain.Bank) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.banks {
		if x.Code == b.Code && !s.broken("bank-code-not-unique") {
			return domain.ErrConflict
		}
	}
	s.banks[b.ID] = b
	return nil
}

func (s *refStore) GetBank(_ context.Context, id string) (domain.Bank, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.banks[id]
	if !ok {
		return domain.Bank{}, domain.ErrNotFound
	}
	return b, nil
}

func (s *refStore) ListBanks(context.Context) ([]domain.Bank, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Bank
	for _, b := range s.banks {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b domain.Bank) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func cloneBenefit(b domain.Benefit) domain.Benefit {
	b.Districts = slices.Clone(b.Districts)
	return b
}

func (s *refStore) CreateBenefit(_ context.Context, b domain.Benefit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.broken("benefit-keeps-claimed") {
		b.Claimed = 0
	}
	s.benefits[b.ID] = cloneBenefit(b)
	return nil
}

func (s *refStore) GetBenefit(_ context.Context, id string) (domain.Benefit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.benefits[id]
	if !ok {
		return domain.Benefit{}, domain.ErrNotFound
	}
	return cloneBenefit(b), nil
}

func (s *refStore) ListBenefits(_ context.Context, bankID, afterID string, limit int) ([]domain.Benefit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Benefit
	for _, b := range s.benefits {
		if b.ID > afterID && (bankID == "" || b.BankID == bankID || s.broken("benefits-ignore-bank")) {
			out = append(out, cloneBenefit(b))
		}
	}
	slices.SortFunc(out, func(a, b domain.Benefit) int { return cmp.Compare(a.ID, b.ID) })
	return out[:max(min(limit, len(out)), 0)], nil
}

func (s *refStore) ClaimBenefit(_ context.Context, c domain.Claim, decide func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error)) (domain.Voucher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	citizen, ok := s.citizens[c.CitizenID]
	if !ok || (citizen.Erased() && !s.broken("claim-erased")) {
		return domain.Voucher{}, domain.ErrNotFound
	}
	b, ok := s.benefits[c.BenefitID]
	if !ok {
		return domain.Voucher{}, domain.ErrNotFound
	}
	key := [2]string{c.CitizenID, c.IdempotencyKey}
	if id, ok := s.claimKeys[key]; ok && !s.broken("claim-no-idempotency") {
		return domain.Voucher{}, &domain.DuplicateClaimError{Existing: s.vouchers[id]}
	}
	held := 0
	for _, v := range s.vouchers {
		if v.CitizenID == c.CitizenID && v.BenefitID == c.BenefitID && (v.Status == domain.VoucherIssued || !s.broken("held-only-issued")) {
			held++
		}
	}
	seen := cloneBenefit(b)
	if s.broken("claim-ignores-stock") {
		seen.Claimed = 0
	}
	if s.broken("claim-ignores-limit") {
		held = 0
	}
	if s.broken("claim-decide-unlocked") {
		// Reads, lets others run, then writes what it read: the lost update of a
		// store without an atomic read-decide-write step.
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	terms, err := decide(seen, citizen, held)
	if err != nil {
		if s.broken("refusal-takes-claim-key") {
			s.claimKeys[key] = ""
		}
		return domain.Voucher{}, err
	}
	cost := terms.PointsCost
	if s.broken("claim-uses-benefit-cost") {
		cost = b.PointsCost
	}
	citizen.Balance -= cost
	var co2e int64
	if s.broken("claim-lowers-co2e") {
		co2e = -cost
		citizen.CO2eGramsTotal += co2e
	}
	s.citizens[c.CitizenID] = citizen
	b.Claimed++
	s.benefits[b.ID] = b
	s.ledger[c.EntryID] = domain.LedgerEntry{
		ID: c.EntryID, CitizenID: c.CitizenID, Kind: domain.LedgerClaim, Points: -cost, CO2eGrams: co2e,
		BalanceAfter: citizen.Balance, CauseType: "voucher", CauseID: c.VoucherID, CreatedAt: c.At,
	}
	v := domain.Voucher{
		ID: c.VoucherID, Code: c.Code, BenefitID: b.ID, BankID: b.BankID, CitizenID: c.CitizenID,
		PointsSpent: cost, Status: domain.VoucherIssued, IssuedAt: c.At, ExpiresAt: terms.ExpiresAt,
		IdempotencyKey: c.IdempotencyKey, LedgerEntryID: c.EntryID, BalanceAfter: citizen.Balance,
	}
	stored := v
	if s.broken("voucher-forgets-balance") {
		stored.BalanceAfter = 0
	}
	s.vouchers[v.ID] = stored
	s.claimKeys[key] = v.ID
	return v, nil
}

func (s *refStore) FindClaimByIdempotencyKey(_ context.Context, citizenID, key string) (domain.Voucher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.claimKeys[[2]string{citizenID, key}]
	if !ok || s.broken("claim-find-blind") {
		return domain.Voucher{}, domain.ErrNotFound
	}
	return s.vouchers[id], nil
}

func (s *refStore) ListVouchers(_ context.Context, citizenID, beforeID string, limit int) ([]domain.Voucher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []domain.Voucher
	for _, v := range s.vouchers {
		if v.CitizenID == citizenID && v.Status != domain.VoucherClaiming {
			mine = append(mine, v)
		}
	}
	if s.broken("vouchers-oldest-first") {
		slices.SortFunc(mine, func(a, b domain.Voucher) int { return cmp.Compare(a.ID, b.ID) })
		return mine[:min(limit, len(mine))], nil
	}
	return newestFirstPage(mine, func(v domain.Voucher) string { return v.ID }, beforeID, limit), nil
}

func (s *refStore) ExpireVouchers(_ context.Context, now time.Time, limit int, newEntryID func() string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []domain.Voucher
	for _, v := range s.vouchers {
		issued := v.Status == domain.VoucherIssued || s.broken("refund-twice")
		inTime := !v.ExpiresAt.After(now)
		if s.broken("expire-strictly-before") {
			inTime = v.ExpiresAt.Before(now)
		}
		if issued && inTime {
			due = append(due, v)
		}
	}
	slices.SortFunc(due, func(a, b domain.Voucher) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.ID, b.ID))
	})
	if !s.broken("expire-ignores-limit") {
		due = due[:max(min(limit, len(due)), 0)]
	}
	for _, v := range due {
		c := s.citizens[v.CitizenID]
		c.Balance += v.PointsSpent
		if s.broken("refund-counts-as-earned") {
			c.PointsEarnedTotal += v.PointsSpent
		}
		s.citizens[v.CitizenID] = c
		id := newEntryID()
		s.ledger[id] = domain.LedgerEntry{
			ID: id, CitizenID: v.CitizenID, Kind: domain.LedgerRefund, Points: v.PointsSpent,
			BalanceAfter: c.Balance, CauseType: "voucher", CauseID: v.ID, CreatedAt: now,
		}
		v.Status, v.RefundEntryID = domain.VoucherExpired, id
		s.vouchers[v.ID] = v
	}
	return len(due), nil
}

// CompleteInterruptedClaims has nothing to do: the reference store claims in one step.
func (s *refStore) CompleteInterruptedClaims(context.Context, time.Time) (int, int, error) {
	return 0, 0, nil
}
