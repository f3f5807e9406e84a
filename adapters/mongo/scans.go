package mongo

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.CarbonLedger = (*Store)(nil)

// The scans of domain.CarbonLedger walk the _id index from afterID: ledger entry
// and citizen ids are the documents' _id, so a page is one range read on the
// primary index, however far into the collection it starts. Filtering out entries
// without CO2e happens on the fetched documents: almost every entry is a carbon
// credit, and MongoDB's partial indexes cannot express co2e_g != 0 anyway.

// scanOptions is an ascending page of at most limit documents, returned in one
// batch: the server's default first batch is 101 documents, which would cost a
// page of a thousand a second round trip.
func scanOptions(limit int) *options.FindOptionsBuilder {
	return options.Find().
		SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(limit)).
		SetBatchSize(int32(min(limit, math.MaxInt32)))
}

// ScanCarbonEntries returns up to limit ledger entries with a non-zero CO2e and an
// ID above afterID, in ID order.
//
// An applied action's entry is in a pending item on its citizen until RecordAction
// (or, after a crash, CompleteInterruptedActions, which may run an hour later)
// copies it into ledger_entries (see actions.go). It counts from the moment it is
// pending, as CheckBalances counts it, so the scan returns such entries too:
// otherwise the catch-up, which rereads only the last minutes, would never see the
// entry of a crashed request, whose id is older by the time it reaches the ledger.
// Pending items are read first: an entry moves from the item to the ledger by an
// insert before the $pull, so a read in this order cannot miss it in between.
// Pending claims and refunds (vouchers.go) carry entries without CO2e and are
// skipped like their entries in the ledger.
func (s *Store) ScanCarbonEntries(ctx context.Context, afterID string, limit int) ([]domain.LedgerEntry, error) {
	out := []domain.LedgerEntry{}
	if limit <= 0 {
		return out, nil // a limit of 0 would mean none
	}
	pending, err := s.pendingCarbonEntries(ctx, afterID)
	if err != nil {
		return nil, err
	}
	filter := bson.D{
		{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}},
		{Key: "co2e_g", Value: bson.D{{Key: "$ne", Value: int64(0)}}},
	}
	var docs []ledgerEntryDoc
	if err := findAll(ctx, s.ledger, "scan carbon entries", filter, scanOptions(limit), &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		delete(pending, d.ID) // already copied into the ledger
		out = append(out, d.toDomain())
	}
	if len(pending) == 0 {
		return out, nil
	}
	// The first limit entries of ledger and pending items together are among the
	// first limit of the ledger and all the pending ones.
	for _, d := range pending {
		out = append(out, d.toDomain())
	}
	slices.SortFunc(out, func(a, b domain.LedgerEntry) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

// pendingCarbonEntries returns, by id, the carbon entries above afterID that are
// in citizens' pending items. Pending items are few at any time (requests in
// flight, and those a crash cut short until the recovery pass), and the pending.at
// index finds their citizens: every recorded time is a date after 1970, and a
// citizen with nothing pending has no date in the index.
func (s *Store) pendingCarbonEntries(ctx context.Context, afterID string) (map[string]ledgerEntryDoc, error) {
	filter := bson.D{{Key: "pending.at", Value: bson.D{{Key: "$gte", Value: time.UnixMilli(0).UTC()}}}}
	opts := options.Find().SetProjection(bson.D{{Key: "pending", Value: 1}})
	var holders []pendingHolder
	if err := findAll(ctx, s.citizens, "scan carbon entries: pending", filter, opts, &holders); err != nil {
		return nil, err
	}
	out := map[string]ledgerEntryDoc{}
	for _, h := range holders {
		for _, raw := range h.Pending {
			var item pendingDoc
			if err := bson.Unmarshal(raw, &item); err != nil {
				return nil, fmt.Errorf("mongo: scan carbon entries: decode pending action of citizen %s: %w", h.ID, err)
			}
			if e := item.Entry; e != nil && e.CO2eGrams != 0 && e.ID > afterID {
				out[e.ID] = *e
			}
		}
	}
	return out, nil
}

// ScanCitizens returns up to limit citizens, erased ones included, with an ID
// above afterID, in ID order, as GetCitizen reads them.
func (s *Store) ScanCitizens(ctx context.Context, afterID string, limit int) ([]domain.Citizen, error) {
	out := []domain.Citizen{}
	if limit <= 0 {
		return out, nil
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}}}
	var docs []citizenDoc
	if err := findAll(ctx, s.citizens, "scan citizens", filter, scanOptions(limit).SetProjection(ledgerOnlyFields), &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}
