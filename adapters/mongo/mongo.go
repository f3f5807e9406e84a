// Package mongo is the production document store: it implements domain.Store on
// MongoDB with go.mongodb.org/mongo-driver/v2.
//
// It follows the Mongo adapter rules of DESIGN.md §3 so that it stays correct on a
// replica set or a sharded cluster: every write is a single-document atomic update,
// guarded by a filter where a lost update would matter; unique indexes provide
// idempotency; every query is served by an index; no multi-document transactions
// and no $lookup. Writes that span documents (recording an action: the action, the
// citizen's account and a ledger entry; claiming a benefit: the voucher, the
// benefit's stock, the account and a ledger entry) are idempotent steps around one
// guarded single-document commit, finished or undone after a crash by
// CompleteInterruptedActions (see actions.go) and CompleteInterruptedClaims (see
// vouchers.go); the catalog keeps each type with all its versions in one document
// (see catalog.go).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Collection names.
const (
	collCitizens      = "citizens"
	collOperators     = "operators"
	collSessions      = "sessions"
	collRefreshTokens = "refresh_tokens"
	collActivityTypes = "activity_types"
	collActions       = "actions"
	collLedger        = "ledger_entries"
	collBanks         = "banks"
	collBenefits      = "benefits"
	collVouchers      = "vouchers"
)

// disconnectTimeout bounds Close, which has no context of its own.
const disconnectTimeout = 10 * time.Second

// Store implements domain.Store on one MongoDB database.
type Store struct {
	client        *mongodrv.Client
	db            *mongodrv.Database
	citizens      *mongodrv.Collection
	operators     *mongodrv.Collection
	sessions      *mongodrv.Collection
	refreshTokens *mongodrv.Collection
	activityTypes *mongodrv.Collection
	actions       *mongodrv.Collection
	ledger        *mongodrv.Collection
	banks         *mongodrv.Collection
	benefits      *mongodrv.Collection
	vouchers      *mongodrv.Collection
	pruneBatch    int // sessions per PruneSessions round
	accountLocks  *accountLocks
	hooks         testHooks // crash points for tests; zero in production
}

var _ domain.Store = (*Store)(nil)

// Open connects to the MongoDB deployment at uri, checks that it answers, and makes
// sure the indexes of database exist (creating them is idempotent, so every replica
// may do it at start-up). opts adjust the client options after the URI is applied,
// for example:
//
//	mongo.Open(ctx, uri, "carbon", func(o *options.ClientOptions) { o.SetMaxPoolSize(1) })
func Open(ctx context.Context, uri, database string, opts ...func(*options.ClientOptions)) (*Store, error) {
	if database == "" {
		return nil, errors.New("mongo: open: database name is empty")
	}
	co := options.Client().ApplyURI(uri)
	for _, o := range opts {
		o(co)
	}
	client, err := mongodrv.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	db := client.Database(database)
	s := &Store{
		client:        client,
		db:            db,
		citizens:      db.Collection(collCitizens),
		operators:     db.Collection(collOperators),
		sessions:      db.Collection(collSessions),
		refreshTokens: db.Collection(collRefreshTokens),
		activityTypes: db.Collection(collActivityTypes),
		actions:       db.Collection(collActions),
		ledger:        db.Collection(collLedger),
		banks:         db.Collection(collBanks),
		benefits:      db.Collection(collBenefits),
		vouchers:      db.Collection(collVouchers),
		pruneBatch:    defaultPruneBatch,
		accountLocks:  newAccountLocks(),
	}
	// Connect is lazy; ping so that a wrong URI fails here rather than on the first
	// request.
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// indexSpec names every index explicitly: creating an index that already exists
// with the same name and definition is a no-op, while a changed definition under the
// same name fails loudly instead of silently leaving the old one in place.
type indexSpec struct {
	coll   *mongodrv.Collection
	name   string
	keys   bson.D
	unique bool
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	specs := []indexSpec{
		// Sign-in looks citizens up by identity, and the unique key makes
		// FindOrCreateCitizen idempotent under concurrency.
		{s.citizens, "identity_unique", bson.D{{Key: "identity.provider", Value: 1}, {Key: "identity.subject", Value: 1}}, true},
		{s.operators, "username_unique", bson.D{{Key: "username", Value: 1}}, true},
		// Erasing an account revokes all sessions of the subject.
		{s.sessions, "subject_id", bson.D{{Key: "subject_id", Value: 1}}, false},
		// Refresh tokens are keyed by their hash (_id); this serves per-session lookups
		// such as revoking or cleaning up a family.
		{s.refreshTokens, "session_id", bson.D{{Key: "session_id", Value: 1}}, false},
		// PruneSessions: expired tokens, and sessions that were revoked or whose
		// every token expired (see sessionDoc).
		{s.refreshTokens, "expires_at", bson.D{{Key: "expires_at", Value: 1}}, false},
		{s.sessions, "revoked_at", bson.D{{Key: "revoked_at", Value: 1}}, false},
		{s.sessions, "last_token_expires_at", bson.D{{Key: "last_token_expires_at", Value: 1}}, false},
		// Actions (see actions.go). The idempotency key is scoped to the citizen; the
		// evidence key is global, so evidence is never credited twice.
		{s.actions, "citizen_idempotency_key_unique", bson.D{{Key: "citizen_id", Value: 1}, {Key: "idempotency_key", Value: 1}}, true},
		{s.actions, "evidence_key_unique", bson.D{{Key: "evidence_key", Value: 1}}, true},
		// A citizen's actions newest first, and AnonymiseActions.
		{s.actions, "citizen_id", bson.D{{Key: "citizen_id", Value: 1}, {Key: "_id", Value: 1}}, false},
		// CompleteInterruptedActions: recordings older than the grace period.
		{s.actions, "status_recorded_at", bson.D{{Key: "status", Value: 1}, {Key: "recorded_at", Value: 1}}, false},
		// A citizen's ledger newest first, and CheckBalances' per-citizen sums.
		{s.ledger, "citizen_id", bson.D{{Key: "citizen_id", Value: 1}, {Key: "_id", Value: 1}}, false},
		// At most one entry per cause (domain.LedgerEntry).
		{s.ledger, "cause_unique", bson.D{{Key: "kind", Value: 1}, {Key: "cause_type", Value: 1}, {Key: "cause_id", Value: 1}}, true},
		// CompleteInterruptedActions and CompleteInterruptedClaims: citizens with
		// applied actions, claims or refunds left pending.
		{s.citizens, "pending_at", bson.D{{Key: "pending.at", Value: 1}}, false},
		// Banks (see banks.go): the code names one bank.
		{s.banks, "code_unique", bson.D{{Key: "code", Value: 1}}, true},
		// Benefits (see benefits.go): one bank's benefits in id order, and
		// CompleteInterruptedClaims' search for stock reservations left behind.
		{s.benefits, "bank_id", bson.D{{Key: "bank_id", Value: 1}, {Key: "_id", Value: 1}}, false},
		{s.benefits, "reserved", bson.D{{Key: "reserved", Value: 1}}, false},
		// Vouchers (see vouchers.go). The code is what a bank looks a voucher up by;
		// the idempotency key is scoped to the citizen.
		{s.vouchers, "code_unique", bson.D{{Key: "code", Value: 1}}, true},
		{s.vouchers, "citizen_idempotency_key_unique", bson.D{{Key: "citizen_id", Value: 1}, {Key: "idempotency_key", Value: 1}}, true},
		// A citizen's vouchers newest first.
		{s.vouchers, "citizen_id", bson.D{{Key: "citizen_id", Value: 1}, {Key: "_id", Value: 1}}, false},
		// ExpireVouchers: issued vouchers due, and expiries left half done.
		{s.vouchers, "status_expires_at", bson.D{{Key: "status", Value: 1}, {Key: "expires_at", Value: 1}}, false},
		// CompleteInterruptedClaims: claims started before the grace period.
		{s.vouchers, "status_issued_at", bson.D{{Key: "status", Value: 1}, {Key: "issued_at", Value: 1}}, false},
		// Banks exchange client_id for tokens; issuing retries on a taken one.
		{s.bankCredentials(), "client_id_unique", bson.D{{Key: "client_id", Value: 1}}, true},
		{s.bankCredentials(), "bank_id", bson.D{{Key: "bank_id", Value: 1}, {Key: "_id", Value: 1}}, false},
		// Redemptions (see redemptions.go): one per key of a bank and one per
		// voucher; a bank's redemptions by time; recovery of pending ones.
		{s.redemptions(), "bank_idempotency_key_unique", bson.D{{Key: "bank_id", Value: 1}, {Key: "idempotency_key", Value: 1}}, true},
		{s.redemptions(), "voucher_id_unique", bson.D{{Key: "voucher_id", Value: 1}}, true},
		{s.redemptions(), "bank_redeemed_at", bson.D{{Key: "bank_id", Value: 1}, {Key: "redeemed_at", Value: 1}, {Key: "_id", Value: 1}}, false},
		{s.redemptions(), "state_redeemed_at", bson.D{{Key: "state", Value: 1}, {Key: "redeemed_at", Value: 1}}, false},
		// Consents (see consents.go): banks exchange codes by hash; a citizen's
		// consents newest first; one pseudonymous reference per (bank, citizen).
		{s.consents(), "code_hash_unique", bson.D{{Key: "code_hash", Value: 1}}, true},
		{s.consents(), "citizen_id", bson.D{{Key: "citizen_id", Value: 1}, {Key: "_id", Value: 1}}, false},
		{s.bankCitizenRefs(), "bank_citizen_unique", bson.D{{Key: "bank_id", Value: 1}, {Key: "citizen_id", Value: 1}}, true},
	}
	for _, sp := range specs {
		opts := options.Index().SetName(sp.name)
		if sp.unique {
			opts.SetUnique(true)
		}
		_, err := sp.coll.Indexes().CreateOne(ctx, mongodrv.IndexModel{Keys: sp.keys, Options: opts})
		if err != nil {
			return fmt.Errorf("mongo: create index %s.%s: %w", sp.coll.Name(), sp.name, err)
		}
	}
	return nil
}

// Ping reports whether the deployment answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongo: ping: %w", err)
	}
	return nil
}

// Close disconnects the client, waiting a bounded time for in-flight operations.
// Closing twice is not an error, so shutdown paths need not track who closed first.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil && !errors.Is(err, mongodrv.ErrClientDisconnected) {
		return fmt.Errorf("mongo: disconnect: %w", err)
	}
	return nil
}
