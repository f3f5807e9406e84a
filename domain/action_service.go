package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ActionRules are the operator-wide limits on recording actions.
type ActionRules struct {
	MaxAge         time.Duration // how long after it happened an action may be recorded
	FutureSkew     time.Duration // how far in the future occurred_at may be (device clocks drift)
	DailyPoints    int64         // points a citizen may earn per Shanghai day over all types; 0 = no cap
	PerMinute      int           // actions a citizen may send per minute
	ReplayWaitStep time.Duration // how often a duplicate request polls for the first one's outcome
	ReplayWaitMax  time.Duration // how long it waits
}

// DefaultActionRules follow DESIGN.md: 30 days to record, a generous burst limit.
var DefaultActionRules = ActionRules{
	MaxAge: 30 * 24 * time.Hour, FutureSkew: 5 * time.Minute, DailyPoints: 5000, PerMinute: 120,
	ReplayWaitStep: 10 * time.Millisecond, ReplayWaitMax: 10 * time.Second,
}

// ActionService records citizens' actions and reads their history and ledger.
type ActionService struct {
	Actions ActionStore
	Catalog *Catalog
	Limiter RateLimiter
	Rules   ActionRules
	Now     func() time.Time
	// Credited, when set, hears of every credited action (and of replays, since
	// the first delivery may have been lost); the leaderboards listen here.
	Credited CreditObserver
}

// CreditObserver is told about actions that were credited. It must not fail the
// request: what it does is derived and is caught up from the ledger later.
type CreditObserver interface {
	ActionCredited(ctx context.Context, a Action)
}

// RecordActionInput is a citizen's request to record an action.
type RecordActionInput struct {
	CitizenID      string
	IdempotencyKey string
	TypeCode       string
	Quantity       string // the JSON number literal, parsed exactly
	OccurredAt     time.Time
	Evidence       *Evidence
}

// RecordedAction is the outcome; Replayed is set when an earlier identical request
// with the same idempotency key produced it.
type RecordedAction struct {
	Action
	Replayed bool
}

var (
	// Idempotency keys are 1-128 printable ASCII characters, not starting or ending
	// with a space (UUIDs, ULIDs and "device-42 ride 7" all qualify).
	idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]([\x20-\x7e]{0,126}[\x21-\x7e])?$`)
	errKeyRequired        = Errorf(KindInvalid, "idempotency_key_required", "send an Idempotency-Key header (1-128 printable ASCII characters) so a retry cannot record the action twice")
	errKeyReused          = Errorf(KindUnprocessable, "idempotency_key_reused", "this Idempotency-Key was already used for a different request")
	errRecordingStuck     = Errorf(KindConflict, "request_in_progress", "a request with this Idempotency-Key is still being processed; retry shortly")
	errActionNotFound     = Errorf(KindNotFound, "action_not_found", "no action with this id")
	errTooManyActions     = Errorf(KindRateLimited, "too_many_actions", "too many actions in a short time; slow down")
)

// Record validates an action against the coefficient version in force when it
// happened and records it with its credit. Any rejection writes nothing. A retry
// with the same idempotency key and body gets the first outcome, even when the
// action would no longer be accepted now (too old, limits since reached).
func (s *ActionService) Record(ctx context.Context, in RecordActionInput) (RecordedAction, error) {
	if !idempotencyKeyPattern.MatchString(in.IdempotencyKey) {
		return RecordedAction{}, errKeyRequired
	}
	hash := requestHash(in)
	if existing, err := s.Actions.FindActionByIdempotencyKey(ctx, in.CitizenID, in.IdempotencyKey); err == nil {
		return s.replay(ctx, in, hash, existing)
	} else if !errors.Is(err, ErrNotFound) {
		return RecordedAction{}, err
	}
	now := s.Now()
	if s.Rules.PerMinute > 0 {
		d, err := s.Limiter.Allow(ctx, "actions:"+in.CitizenID, s.Rules.PerMinute, time.Minute)
		if err != nil {
			return RecordedAction{}, err
		}
		if !d.Allowed {
			e := *errTooManyActions
			e.RetryAfter = d.RetryAfter
			return RecordedAction{}, &e
		}
	}
	a, version, err := s.validate(in, now)
	if err != nil {
		return RecordedAction{}, err
	}
	a.RequestHash = hash
	recorded, err := s.Actions.RecordAction(ctx, a, NewID(now), func(used DayUsage) (Credit, error) {
		return decideCredit(version.Coefficients, a.Quantity, used, s.Rules.DailyPoints)
	})
	var dup *DuplicateRequestError
	switch {
	case errors.As(err, &dup):
		return s.replay(ctx, in, hash, dup.Existing)
	case errors.Is(err, ErrNotFound):
		return RecordedAction{}, errAccountErased
	case err != nil:
		return RecordedAction{}, err
	}
	s.notify(ctx, recorded)
	return RecordedAction{Action: recorded}, nil
}

func (s *ActionService) notify(ctx context.Context, a Action) {
	if s.Credited != nil && a.Status == ActionCredited {
		s.Credited.ActionCredited(ctx, a)
	}
}

// validate turns the input into an action draft, or names every invalid field.
func (s *ActionService) validate(in RecordActionInput, now time.Time) (Action, CoefficientVersion, error) {
	var fields []FieldError
	bad := func(field, code, msg string) {
		fields = append(fields, FieldError{Field: field, Code: code, Message: msg})
	}

	switch {
	case in.OccurredAt.IsZero():
		bad("occurred_at", "required", "is required (RFC 3339)")
	case in.OccurredAt.After(now.Add(s.Rules.FutureSkew)):
		bad("occurred_at", "in_future", "is in the future")
	case in.OccurredAt.Before(now.Add(-s.Rules.MaxAge)):
		bad("occurred_at", "too_old", fmt.Sprintf("is more than %d days ago; actions must be recorded within that time", int(s.Rules.MaxAge.Hours()/24)))
	}
	typ, version, ok := s.Catalog.InForce(in.TypeCode, in.OccurredAt)
	if !ok {
		bad("type", "unknown_activity_type", "is not an activity type in force at occurred_at (see GET /v1/activity-types)")
		return Action{}, CoefficientVersion{}, Invalid(fields...)
	}
	if !version.Enabled {
		return Action{}, CoefficientVersion{}, Errorf(KindUnprocessable, "activity_type_disabled", "activity type %s is not accepted at the moment", typ.Code)
	}
	co := version.Coefficients
	q, err := ParseQuantity(in.Quantity, co.QuantityDecimals)
	switch {
	case err != nil:
		bad("quantity", "invalid_quantity", fmt.Sprintf("must be a positive number of %s with at most %d decimals: %v", typ.Unit, co.QuantityDecimals, err))
	case q <= 0:
		bad("quantity", "not_positive", "must be greater than 0")
	case q > co.MaxQuantity:
		bad("quantity", "above_maximum", fmt.Sprintf("must be at most %s %s per action", co.MaxQuantity, typ.Unit))
	}
	var ev Evidence
	if in.Evidence != nil {
		ev = Evidence{Source: strings.TrimSpace(in.Evidence.Source), Reference: strings.TrimSpace(in.Evidence.Reference)}
	}
	switch {
	case ev == (Evidence{}) && co.Evidence.Required:
		bad("evidence", "evidence_required", "this activity type needs evidence: a source and a reference")
	case ev == (Evidence{}):
	case ev.Source == "" || ev.Reference == "":
		bad("evidence", "incomplete_evidence", "needs both source and reference")
	case len(ev.Source) > 64 || len(ev.Reference) > 256:
		bad("evidence", "too_long", "source must be at most 64 and reference at most 256 bytes")
	case len(co.Evidence.Sources) > 0 && !slices.Contains(co.Evidence.Sources, ev.Source):
		bad("evidence.source", "source_not_accepted", "must be one of: "+strings.Join(co.Evidence.Sources, ", "))
	}
	if len(fields) > 0 {
		return Action{}, CoefficientVersion{}, Invalid(fields...)
	}
	a := Action{
		ID: NewID(now), CitizenID: in.CitizenID, TypeCode: typ.Code, RuleVersion: version.Version,
		Quantity: q, OccurredAt: in.OccurredAt.UTC().Truncate(time.Millisecond), RecordedAt: now,
		Evidence: ev, IdempotencyKey: in.IdempotencyKey,
	}
	a.Day = DayOf(a.OccurredAt)
	a.EvidenceKey = evidenceKey(ev, a.ID)
	return a, version, nil
}

// evidenceKey identifies evidence across all citizens without storing it in the
// clear in the unique index; actions without evidence get a key of their own.
func evidenceKey(ev Evidence, actionID string) string {
	if ev == (Evidence{}) {
		return "none:" + actionID
	}
	sum := sha256.Sum256([]byte(strings.ToLower(ev.Source) + "\x00" + ev.Reference))
	return hex.EncodeToString(sum[:])
}

// requestHash fingerprints what the citizen asked for, before any validation, so a
// retry with the same idempotency key can be told apart from a different request
// reusing it.
func requestHash(in RecordActionInput) string {
	var ev Evidence
	if in.Evidence != nil {
		ev = Evidence{Source: strings.TrimSpace(in.Evidence.Source), Reference: strings.TrimSpace(in.Evidence.Reference)}
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%s\x00%s",
		in.TypeCode, strings.TrimSpace(in.Quantity), in.OccurredAt.UnixMilli(), ev.Source, ev.Reference))
	return hex.EncodeToString(sum[:])
}

// replay answers a repeated request with the first one's outcome, waiting while
// the first is still being recorded.
func (s *ActionService) replay(ctx context.Context, in RecordActionInput, hash string, existing Action) (RecordedAction, error) {
	if existing.RequestHash != hash {
		return RecordedAction{}, errKeyReused
	}
	deadline := time.Now().Add(s.Rules.ReplayWaitMax)
	for existing.Status == ActionRecording {
		if time.Now().After(deadline) {
			return RecordedAction{}, errRecordingStuck
		}
		select {
		case <-ctx.Done():
			return RecordedAction{}, ctx.Err()
		case <-time.After(s.Rules.ReplayWaitStep):
		}
		var err error
		existing, err = s.Actions.FindActionByIdempotencyKey(ctx, in.CitizenID, in.IdempotencyKey)
		if errors.Is(err, ErrNotFound) {
			return RecordedAction{}, errRecordingStuck // the first attempt was undone; the client may retry
		} else if err != nil {
			return RecordedAction{}, err
		}
	}
	s.notify(ctx, existing)
	return RecordedAction{Action: existing, Replayed: true}, nil
}

// Get returns one of the citizen's actions; another citizen's action is not found.
func (s *ActionService) Get(ctx context.Context, citizenID, id string) (Action, error) {
	a, err := s.Actions.GetAction(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && a.CitizenID != citizenID) {
		return Action{}, errActionNotFound
	}
	return a, err
}

// List returns a page of the citizen's actions, newest first.
func (s *ActionService) List(ctx context.Context, citizenID, beforeID string, limit int) ([]Action, error) {
	return s.Actions.ListActions(ctx, citizenID, beforeID, limit)
}

// Ledger returns a page of the citizen's ledger, newest first.
func (s *ActionService) Ledger(ctx context.Context, citizenID, beforeID string, limit int) ([]LedgerEntry, error) {
	return s.Actions.ListLedgerEntries(ctx, citizenID, beforeID, limit)
}
