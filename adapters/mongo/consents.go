package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Collections of consents (one document per consent, keyed by its id, holding
// its exchange log entry once exchanged) and of the per-bank pseudonymous
// citizen references (keyed by the reference, unique per (bank_id, citizen_id)).
const (
	collConsents        = "consents"
	collBankCitizenRefs = "bank_citizen_refs"
)

var _ domain.ConsentStore = (*Store)(nil)

// consentDoc keeps the exchange log entry in the consent itself, so that marking
// the consent exchanged and logging who exchanged it are one single-document
// update: no window in which a consent is spent without a log entry.
type consentDoc struct {
	ID            string              `bson:"_id"`
	CitizenID     string              `bson:"citizen_id"`
	BankID        string              `bson:"bank_id"`
	Scope         string              `bson:"scope"`
	CodeHash      string              `bson:"code_hash"` // hex SHA-256; the code is never stored
	CodeExpiresAt time.Time           `bson:"code_expires_at"`
	CreatedAt     time.Time           `bson:"created_at"`
	ExchangedAt   *time.Time          `bson:"exchanged_at"` // null until exchanged
	RevokedAt     *time.Time          `bson:"revoked_at"`   // null until revoked
	Exchange      *consentExchangeDoc `bson:"exchange"`     // null until exchanged
}

type consentExchangeDoc struct {
	ID           string    `bson:"id"`
	BankID       string    `bson:"bank_id"`
	CredentialID string    `bson:"credential_id"`
	At           time.Time `bson:"at"`
}

type bankCitizenRefDoc struct {
	Ref       string `bson:"_id"`
	BankID    string `bson:"bank_id"`
	CitizenID string `bson:"citizen_id"`
}

func consentToDoc(c domain.Consent) consentDoc {
	return consentDoc{
		ID: c.ID, CitizenID: c.CitizenID, BankID: c.BankID, Scope: string(c.Scope), CodeHash: c.CodeHash,
		CodeExpiresAt: toDate(c.CodeExpiresAt), CreatedAt: toDate(c.CreatedAt),
		ExchangedAt: toDatePtr(c.ExchangedAt), RevokedAt: toDatePtr(c.RevokedAt),
	}
}

func (d consentDoc) toDomain() domain.Consent {
	return domain.Consent{
		ID: d.ID, CitizenID: d.CitizenID, BankID: d.BankID, Scope: domain.ConsentScope(d.Scope), CodeHash: d.CodeHash,
		CodeExpiresAt: fromDate(d.CodeExpiresAt), CreatedAt: fromDate(d.CreatedAt),
		ExchangedAt: fromDatePtr(d.ExchangedAt), RevokedAt: fromDatePtr(d.RevokedAt),
	}
}

func (s *Store) consents() *mongodrv.Collection        { return s.db.Collection(collConsents) }
func (s *Store) bankCitizenRefs() *mongodrv.Collection { return s.db.Collection(collBankCitizenRefs) }

// CreateConsent inserts c; _id and the unique code_hash index make a taken id or
// code ErrConflict.
func (s *Store) CreateConsent(ctx context.Context, c domain.Consent) error {
	_, err := s.consents().InsertOne(ctx, consentToDoc(c))
	return mapErr("create consent", err)
}

// ListConsents returns a newest-first page of the citizen's consents (the
// (citizen_id, _id) index).
func (s *Store) ListConsents(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Consent, error) {
	out := []domain.Consent{}
	if limit <= 0 {
		return out, nil
	}
	filter, opts := citizenPage(citizenID, beforeID, limit)
	var docs []consentDoc
	if err := findAll(ctx, s.consents(), "list consents", filter, opts, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}

// RevokeConsent sets revoked_at only while it is unset and only on the citizen's
// own consent; when that matches nothing it tells "already revoked" from "not
// theirs or missing".
func (s *Store) RevokeConsent(ctx context.Context, citizenID, id string, at time.Time) error {
	own := bson.D{{Key: "_id", Value: id}, {Key: "citizen_id", Value: citizenID}}
	filter := append(own, bson.E{Key: "revoked_at", Value: nil})
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: toDate(at)}}}}
	res, err := s.consents().UpdateOne(ctx, filter, update)
	if err != nil {
		return mapErr("revoke consent", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	opts := options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})
	err = s.consents().FindOne(ctx, own, opts).Err()
	if err != nil {
		return mapErr("revoke consent", err) // ErrNoDocuments is ErrNotFound
	}
	return nil // already revoked
}

// ExchangeConsentCode is one guarded findOneAndUpdate on the unique code_hash: it
// matches only the bank's own consent while unexchanged, unrevoked and unexpired,
// and sets exchanged_at with the log entry. Of racing exchanges only one matches.
// When nothing matches, a read of the consent says why.
func (s *Store) ExchangeConsentCode(ctx context.Context, codeHash string, x domain.ConsentExchange) (domain.Consent, error) {
	when := toDate(x.At)
	filter := bson.D{
		{Key: "code_hash", Value: codeHash},
		{Key: "bank_id", Value: x.BankID},
		{Key: "exchanged_at", Value: nil},
		{Key: "revoked_at", Value: nil},
		{Key: "code_expires_at", Value: bson.D{{Key: "$gt", Value: when}}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "exchanged_at", Value: when},
		{Key: "exchange", Value: consentExchangeDoc{ID: x.ID, BankID: x.BankID, CredentialID: x.CredentialID, At: when}},
	}}}
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	var doc consentDoc
	err := s.consents().FindOneAndUpdate(ctx, filter, update, opts).Decode(&doc)
	if err == nil {
		return doc.toDomain(), nil
	}
	if !errors.Is(err, mongodrv.ErrNoDocuments) {
		return domain.Consent{}, mapErr("exchange consent code", err)
	}
	err = s.consents().FindOne(ctx, bson.D{{Key: "code_hash", Value: codeHash}, {Key: "bank_id", Value: x.BankID}}).Decode(&doc)
	if err != nil {
		return domain.Consent{}, mapErr("exchange consent code", err) // none: ErrNotFound
	}
	switch {
	case doc.RevokedAt != nil:
		return domain.Consent{}, domain.ErrConsentRevoked
	case doc.ExchangedAt != nil:
		return domain.Consent{}, domain.ErrConsentCodeUsed
	default:
		return domain.Consent{}, domain.ErrConsentCodeExpired
	}
}

// GetConsentExchange reads the log entry kept in the consent.
func (s *Store) GetConsentExchange(ctx context.Context, consentID string) (domain.ConsentExchange, error) {
	var doc consentDoc
	if err := s.consents().FindOne(ctx, bson.D{{Key: "_id", Value: consentID}}).Decode(&doc); err != nil {
		return domain.ConsentExchange{}, mapErr("get consent exchange", err)
	}
	if doc.Exchange == nil {
		return domain.ConsentExchange{}, domain.ErrNotFound
	}
	e := doc.Exchange
	return domain.ConsentExchange{ID: e.ID, ConsentID: doc.ID, BankID: e.BankID, CredentialID: e.CredentialID, At: fromDate(e.At)}, nil
}

// BankCitizenRef inserts the candidate and, when the unique (bank_id,
// citizen_id) index refuses it, reads the reference that won. Insert rather than
// an upsert: FerretDB v1 does not report duplicate keys raised by updates as
// such, and an insert is as race-free.
func (s *Store) BankCitizenRef(ctx context.Context, bankID, citizenID, candidate string) (string, error) {
	_, err := s.bankCitizenRefs().InsertOne(ctx, bankCitizenRefDoc{Ref: candidate, BankID: bankID, CitizenID: citizenID})
	if err == nil {
		return candidate, nil
	}
	if !isDuplicateKey(err) {
		return "", mapErr("bank citizen ref", err)
	}
	var doc bankCitizenRefDoc
	err = s.bankCitizenRefs().FindOne(ctx, bson.D{{Key: "bank_id", Value: bankID}, {Key: "citizen_id", Value: citizenID}}).Decode(&doc)
	if err != nil {
		return "", mapErr("bank citizen ref", err)
	}
	return doc.Ref, nil
}
