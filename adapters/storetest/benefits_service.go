package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// This file runs domain.BenefitService over the store: whichever adapter keeps the
// data, a claim is refused for the right reason and a retry replays the voucher.

// claimNow is the service's fixed "now" in the claim tests (at the stores'
// precision, so times read back exactly).
var claimNow = time.Date(2025, 3, 20, 10, 0, 0, 0, shanghai)

// claimLevels are the carbon grades of the claim tests.
var claimLevels = []domain.Level{
	{Number: 1, Name: "浅绿", MinCO2e: 0},
	{Number: 2, Name: "中绿", MinCO2e: 50_000},
	{Number: 3, Name: "深绿", MinCO2e: 100_000},
}

// claimEnv is a BenefitService over a fresh store with one bank.
type claimEnv struct {
	store BenefitsStore
	bank  domain.Bank
	svc   *domain.BenefitService

	mu       sync.Mutex // guards citizens and benefits
	citizens []string   // made by holder(), in order
	benefits []string   // made by benefit(), in order
}

func newClaimEnv(t *testing.T, open func(t *testing.T) BenefitsStore) *claimEnv {
	t.Helper()
	s := open(t)
	return &claimEnv{store: s, bank: seedBank(t, s), svc: &domain.BenefitService{
		Benefits: s, Banks: s, Levels: claimLevels, Now: func() time.Time { return claimNow },
		ReplayWaitStep: 2 * time.Millisecond, ReplayWaitMax: 10 * time.Second,
	}}
}

// benefit offers one anybody may claim (100 points, stock 100, 5 a citizen, any
// level and district, from a day ago for 30 days, vouchers valid 14 days), changed
// by mutate.
func (e *claimEnv) benefit(t *testing.T, mutate func(b *domain.Benefit)) domain.Benefit {
	t.Helper()
	b := seedBenefit(t, e.store, e.bank.ID, func(b *domain.Benefit) {
		b.PointsCost, b.Stock, b.PerCitizenLimit, b.MinLevel, b.Districts = 100, 100, 5, 0, nil
		b.ValidFrom, b.ValidUntil, b.VoucherTTL = claimNow.Add(-day), claimNow.Add(30*day), 14*day
		if mutate != nil {
			mutate(b)
		}
	})
	e.mu.Lock()
	e.benefits = append(e.benefits, b.ID)
	e.mu.Unlock()
	return b
}

func (e *claimEnv) holder(t *testing.T, district string, points, co2e int64) domain.Citizen {
	t.Helper()
	c := seedHolder(t, e.store, district, points, co2e)
	e.mu.Lock()
	e.citizens = append(e.citizens, c.ID)
	e.mu.Unlock()
	return c
}

// mark returns how many citizens and benefits the env has made so far.
func (e *claimEnv) mark() (citizens, benefits int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.citizens), len(e.benefits)
}

// worldSince captures the citizens and benefits made since mark.
func (e *claimEnv) worldSince(t *testing.T, citizens, benefits int) world {
	t.Helper()
	e.mu.Lock()
	cs, bs := append([]string(nil), e.citizens[citizens:]...), append([]string(nil), e.benefits[benefits:]...)
	e.mu.Unlock()
	return worldOf(t, e.store, cs, bs)
}

func claimKey() string { return "claim-" + domain.RandomToken(12) }

// claim claims through the service with a fresh key and wants a new voucher.
func (e *claimEnv) claim(t *testing.T, citizenID, benefitID string) domain.Voucher {
	t.Helper()
	v, replayed, err := e.svc.Claim(t.Context(), citizenID, benefitID, claimKey())
	mustNoErr(t, "BenefitService.Claim", err)
	if replayed {
		t.Errorf("BenefitService.Claim with a fresh key: replayed = true")
	}
	return v
}

// serviceVoucher is the voucher the service must issue to citizenID for b under
// key, given what it returned (ids and code are the service's choice).
func (e *claimEnv) serviceVoucher(got domain.Voucher, b domain.Benefit, citizenID, key string, balanceAfter int64) domain.Voucher {
	return domain.Voucher{
		ID: got.ID, Code: got.Code, BenefitID: b.ID, BankID: e.bank.ID, CitizenID: citizenID,
		PointsSpent: b.PointsCost, Status: domain.VoucherIssued, IssuedAt: claimNow, ExpiresAt: claimNow.Add(b.VoucherTTL),
		IdempotencyKey: key, LedgerEntryID: got.LedgerEntryID, BalanceAfter: balanceAfter,
	}
}

func runClaimService(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("a claim debits the cost and issues a voucher; a retry with its key replays it", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		b := e.benefit(t, nil)
		c := e.holder(t, "wuxing", 250, 3000)
		key := claimKey()
		v, replayed, err := e.svc.Claim(t.Context(), c.ID, b.ID, key)
		mustNoErr(t, "Claim", err)
		if replayed {
			t.Errorf("first Claim: replayed = true")
		}
		if v.ID == "" || v.Code == "" || v.LedgerEntryID == "" || v.ID == v.LedgerEntryID {
			t.Errorf("voucher ID %q, Code %q, LedgerEntryID %q: want three distinct non-empty values", v.ID, v.Code, v.LedgerEntryID)
		}
		want := e.serviceVoucher(v, b, c.ID, key, 150)
		diffVoucher(want, v).report(t, "claimed voucher")
		wantStored(t, e.store, "claimed voucher", want)
		wantEntry(t, e.store, "claim entry", claimEntry(want))
		wantTotals(t, e.store, c.ID, 150, 3000, 250)
		wantClaimed(t, e.store, "after a claim", b.ID, 1)

		again, replayed, err := e.svc.Claim(t.Context(), c.ID, b.ID, key)
		mustNoErr(t, "Claim(retry)", err)
		if !replayed {
			t.Errorf("retry: replayed = false, want true")
		}
		diffVoucher(want, again).report(t, "replayed voucher")
		wantTotals(t, e.store, c.ID, 150, 3000, 250)
		wantClaimed(t, e.store, "after a retry", b.ID, 1)
		if n := len(listVouchers(t, e.store, c.ID)); n != 1 {
			t.Errorf("ListVouchers after a retry = %d vouchers, want 1", n)
		}

		// A retry replays even when the citizen could no longer claim.
		last := e.benefit(t, func(b *domain.Benefit) { b.Stock, b.PerCitizenLimit, b.PointsCost = 1, 1, 150 })
		key = claimKey()
		v, _, err = e.svc.Claim(t.Context(), c.ID, last.ID, key)
		mustNoErr(t, "Claim(last unit)", err)
		again, replayed, err = e.svc.Claim(t.Context(), c.ID, last.ID, key)
		mustNoErr(t, "Claim(retry when sold out, at the limit and without points)", err)
		if !replayed {
			t.Errorf("retry when sold out: replayed = false, want true")
		}
		diffVoucher(e.serviceVoucher(v, last, c.ID, key, 0), again).report(t, "voucher replayed when sold out")
		wantTotals(t, e.store, c.ID, 0, 3000, 250)
		checkConsistent(t, e.store)
	})

	t.Run("a claim on the edge of every rule goes through", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		other := e.holder(t, "wuxing", 1000, 0)
		cases := []struct {
			name             string
			district         string
			points, co2e     int64
			mutate           func(b *domain.Benefit)
			before           func(t *testing.T, c domain.Citizen, b domain.Benefit)
			wantBalanceAfter int64
		}{
			{"the whole balance", "wuxing", 100, 0, nil, nil, 0},
			{"from the first instant", "wuxing", 100, 0, func(b *domain.Benefit) { b.ValidFrom = claimNow }, nil, 0},
			{"up to the last millisecond", "wuxing", 100, 0, func(b *domain.Benefit) { b.ValidUntil = claimNow.Add(time.Millisecond) }, nil, 0},
			{"the level exactly reached", "wuxing", 100, 50_000, func(b *domain.Benefit) { b.MinLevel = 2 }, nil, 0},
			{"a listed district", "anji", 100, 0, func(b *domain.Benefit) { b.Districts = []string{"nanxun", "anji"} }, nil, 0},
			{"the last unit of stock", "wuxing", 100, 0, func(b *domain.Benefit) { b.Stock = 2 },
				func(t *testing.T, _ domain.Citizen, b domain.Benefit) { e.claim(t, other.ID, b.ID) }, 0},
			{"the last claim within the limit", "wuxing", 200, 0, func(b *domain.Benefit) { b.PerCitizenLimit = 2 },
				func(t *testing.T, c domain.Citizen, b domain.Benefit) { e.claim(t, c.ID, b.ID) }, 0},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := e.holder(t, tc.district, tc.points, tc.co2e)
				b := e.benefit(t, tc.mutate)
				if tc.before != nil {
					tc.before(t, c, b)
				}
				key := claimKey()
				v, _, err := e.svc.Claim(t.Context(), c.ID, b.ID, key)
				mustNoErr(t, "Claim", err)
				diffVoucher(e.serviceVoucher(v, b, c.ID, key, tc.wantBalanceAfter), v).report(t, "voucher")
			})
		}
		checkConsistent(t, e.store)
	})

	t.Run("every refusal names its reason and writes nothing", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		type setup func(t *testing.T) (c domain.Citizen, b domain.Benefit, key string)
		// plain: a citizen of district with points and co2e asks for a benefit
		// changed by mutate, with a fresh key.
		plain := func(district string, points, co2e int64, mutate func(b *domain.Benefit)) setup {
			return func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				return e.holder(t, district, points, co2e), e.benefit(t, mutate), claimKey()
			}
		}
		withKey := func(key string) setup {
			return func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				return e.holder(t, "wuxing", 500, 0), e.benefit(t, nil), key
			}
		}
		cases := []struct {
			name string
			setup
			kind domain.ErrorKind
			code string
			// keyFree: the key must still be usable afterwards.
			keyFree bool
		}{
			{"not yet valid", plain("wuxing", 500, 0, func(b *domain.Benefit) { b.ValidFrom = claimNow.Add(time.Millisecond) }),
				domain.KindUnprocessable, domain.IneligibleNotYet, true},
			{"no longer valid (ValidUntil is exclusive)", plain("wuxing", 500, 0, func(b *domain.Benefit) { b.ValidUntil = claimNow }),
				domain.KindUnprocessable, domain.IneligibleEnded, true},
			{"sold out", func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				b := e.benefit(t, func(b *domain.Benefit) { b.Stock = 1 })
				e.claim(t, e.holder(t, "wuxing", 500, 0).ID, b.ID)
				return e.holder(t, "wuxing", 500, 0), b, claimKey()
			}, domain.KindUnprocessable, domain.IneligibleSoldOut, true},
			{"no stock at all", plain("wuxing", 500, 0, func(b *domain.Benefit) { b.Stock = 0 }),
				domain.KindUnprocessable, domain.IneligibleSoldOut, true},
			{"per-citizen limit reached", func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				c, b := e.holder(t, "wuxing", 500, 0), e.benefit(t, func(b *domain.Benefit) { b.PerCitizenLimit = 1 })
				e.claim(t, c.ID, b.ID)
				return c, b, claimKey()
			}, domain.KindUnprocessable, domain.IneligibleLimit, true},
			{"per-citizen limit reached by an expired voucher", func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				c, b := e.holder(t, "wuxing", 500, 0), e.benefit(t, func(b *domain.Benefit) { b.PerCitizenLimit, b.VoucherTTL = 1, 0 })
				e.claim(t, c.ID, b.ID)
				if n, err := e.store.ExpireVouchers(t.Context(), claimNow, 10, func() string { return domain.NewID(time.Now()) }); err != nil || n != 1 {
					t.Fatalf("ExpireVouchers = %d, %v; want 1 expired", n, err)
				}
				return c, b, claimKey()
			}, domain.KindUnprocessable, domain.IneligibleLimit, true},
			{"level too low", plain("wuxing", 500, 49_999, func(b *domain.Benefit) { b.MinLevel = 2 }),
				domain.KindUnprocessable, domain.IneligibleLevel, true},
			{"district not listed", plain("wuxing", 500, 0, func(b *domain.Benefit) { b.Districts = []string{"nanxun", "anji"} }),
				domain.KindUnprocessable, domain.IneligibleDistrict, true},
			{"no district chosen", plain("", 500, 0, func(b *domain.Benefit) { b.Districts = []string{"wuxing"} }),
				domain.KindUnprocessable, domain.IneligibleDistrict, true},
			{"too few points", plain("wuxing", 99, 0, nil),
				domain.KindUnprocessable, domain.IneligibleNoPoints, true},
			{"too few points after spending", func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				c := e.holder(t, "wuxing", 150, 0)
				e.claim(t, c.ID, e.benefit(t, nil).ID)
				return c, e.benefit(t, nil), claimKey()
			}, domain.KindUnprocessable, domain.IneligibleNoPoints, true},
			{"several reasons: the most fundamental is named", plain("nanxun", 10, 0, func(b *domain.Benefit) {
				b.Stock, b.MinLevel, b.Districts = 0, 3, []string{"anji"}
			}), domain.KindUnprocessable, domain.IneligibleSoldOut, true},
			{"missing idempotency key", withKey(""), domain.KindInvalid, "idempotency_key_required", false},
			{"idempotency key too long", withKey(strings.Repeat("k", 129)), domain.KindInvalid, "idempotency_key_required", false},
			{"idempotency key starting with a space", withKey(" key-1"), domain.KindInvalid, "idempotency_key_required", false},
			{"idempotency key not ASCII", withKey("幂等键"), domain.KindInvalid, "idempotency_key_required", false},
			{"idempotency key used for another benefit", func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				c := e.holder(t, "wuxing", 500, 0)
				key := claimKey()
				_, _, err := e.svc.Claim(t.Context(), c.ID, e.benefit(t, nil).ID, key)
				mustNoErr(t, "Claim(first use of the key)", err)
				return c, e.benefit(t, nil), key
			}, domain.KindUnprocessable, "idempotency_key_reused", false},
			{"unknown benefit", func(t *testing.T) (domain.Citizen, domain.Benefit, string) {
				return e.holder(t, "wuxing", 500, 0), domain.Benefit{ID: domain.NewID(time.Now())}, claimKey()
			}, domain.KindNotFound, "benefit_not_found", true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				startC, startB := e.mark()
				c, b, key := tc.setup(t)
				var first *domain.Voucher
				if v, err := e.store.FindClaimByIdempotencyKey(t.Context(), c.ID, key); err == nil {
					first = &v
				}
				before := e.worldSince(t, startC, startB) // the cases run one by one: nobody else writes meanwhile
				v, _, err := e.svc.Claim(t.Context(), c.ID, b.ID, key)
				if err == nil {
					t.Fatalf("Claim succeeded (voucher %s), want %s", v.ID, tc.code)
				}
				wantDomainError(t, "Claim", err, tc.kind, tc.code, "", "")
				wantSameWorld(t, e.store, "a refused claim", before)
				got, err := e.store.FindClaimByIdempotencyKey(t.Context(), c.ID, key)
				switch {
				case first != nil:
					mustNoErr(t, "FindClaimByIdempotencyKey(reused key)", err)
					diffVoucher(*first, got).report(t, "the key's first voucher after a refused reuse")
				default:
					wantErr(t, "FindClaimByIdempotencyKey(refused claim)", err, domain.ErrNotFound)
				}
				if tc.keyFree {
					fund(t, e.store, c.ID, 100, 0)
					_, replayed, err := e.svc.Claim(t.Context(), c.ID, e.benefit(t, nil).ID, key)
					mustNoErr(t, "Claim(another benefit with the refused claim's key)", err)
					if replayed {
						t.Errorf("the refused claim's key replayed a voucher")
					}
				}
				checkConsistent(t, e.store)
			})
		}
	})

	// ClaimBenefit answers ErrNotFound for an erased citizen (pinned in "claims");
	// the service tells it from an unknown benefit and answers account_erased, as
	// recording an action does.
	t.Run("an erased citizen cannot claim and nothing is written", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		c := e.holder(t, "wuxing", 500, 0)
		b := e.benefit(t, nil)
		held := e.claim(t, c.ID, b.ID)
		eraseCitizen(t, e.store, c.ID)
		before := worldOf(t, e.store, []string{c.ID}, []string{b.ID})
		key := claimKey()
		v, _, err := e.svc.Claim(t.Context(), c.ID, b.ID, key)
		if err == nil {
			t.Fatalf("Claim by an erased citizen succeeded (voucher %s)", v.ID)
		}
		wantDomainError(t, "Claim by an erased citizen", err, domain.KindUnauthorized, domain.IneligibleNotCitizen, "", "")
		wantSameWorld(t, e.store, "a claim by an erased citizen", before)
		_, err = e.store.FindClaimByIdempotencyKey(t.Context(), c.ID, key)
		wantErr(t, "FindClaimByIdempotencyKey(erased citizen's refused claim)", err, domain.ErrNotFound)
		// The voucher claimed before erasure still replays by its key.
		again, replayed, err := e.svc.Claim(t.Context(), c.ID, b.ID, held.IdempotencyKey)
		mustNoErr(t, "Claim(retry of a claim made before erasure)", err)
		if !replayed || again.ID != held.ID {
			t.Errorf("retry of a claim made before erasure: replayed=%v voucher %s, want the first voucher %s replayed", replayed, again.ID, held.ID)
		}
	})
}
