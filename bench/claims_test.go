package bench

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/bench/internal/benchtest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Claiming a benefit on the embedded default (SQLite), three ways, each as claims
// per second with parallel callers:
//
//	go test -run '^$' -bench Claim -benchtime 3s ./bench/
//
// Store calls ClaimBenefit with the service's rules; Service goes through
// BenefitService.Claim (idempotency lookup first); HTTP posts
// /v1/benefits/{id}/claims to the app on a loopback port. Compare with
// BenchmarkRecordActionDirect in the same run for the raw cost of one write
// transaction on this store.

const claimCitizens = 64

type claimEnv struct {
	w       benchtest.Wiring
	benefit string
	ids     []string
	bearers []string
	seq     atomic.Int64
}

// newClaimEnv makes a benefit with unlimited stock costing 1 point, and citizens
// with enough points (earned by recording actions, so the ledger adds up) for n
// claims between them.
func newClaimEnv(b *testing.B, n int) *claimEnv {
	b.Helper()
	ctx := context.Background()
	e := &claimEnv{w: benchtest.New(b)}
	banks, err := e.w.Store.ListBanks(ctx)
	if err != nil || len(banks) == 0 {
		b.Fatalf("no seeded bank: %v", err)
	}
	now := domain.Now()
	e.benefit = domain.NewID(now)
	if err := e.w.Store.CreateBenefit(ctx, domain.Benefit{
		ID: e.benefit, BankID: banks[0].ID, Title: "bench", Terms: "bench", Kind: domain.BenefitFeeWaiver,
		PointsCost: 1, Stock: domain.MaxBenefitStock, PerCitizenLimit: int(domain.MaxBenefitStock),
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour), VoucherTTL: 24 * time.Hour,
		CreatedAt: now, CreatedBy: "bench",
	}); err != nil {
		b.Fatal(err)
	}
	need := int64(n/claimCitizens + 1)
	for i := range claimCitizens {
		c, _, err := e.w.Store.FindOrCreateCitizen(ctx, domain.Citizen{
			ID: domain.NewID(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: fmt.Sprintf("+86138%08d", i)},
			CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			b.Fatal(err)
		}
		e.fund(b, c.ID, i, need)
		tok, err := e.w.Tokens.Mint(token.Principal{SubjectID: c.ID, Role: domain.RoleCitizen})
		if err != nil {
			b.Fatal(err)
		}
		e.ids, e.bearers = append(e.ids, c.ID), append(e.bearers, "Bearer "+tok)
	}
	return e
}

// fund records 60 km metro journeys (2808 points each, two a day under the
// type's daily cap) on past days until the citizen has need points.
func (e *claimEnv) fund(b *testing.B, citizen string, n int, need int64) {
	ctx := context.Background()
	for j, have := 0, int64(0); have < need; j++ {
		if j >= 58 {
			b.Fatalf("cannot fund %d points within the 30 days actions may be recorded", need)
		}
		ref := fmt.Sprintf("fund-%d-%d", n, j)
		a, err := e.w.Actions.Record(ctx, domain.RecordActionInput{
			CitizenID: citizen, IdempotencyKey: ref, TypeCode: "travel.metro_km", Quantity: "60",
			OccurredAt: time.Now().Add(-time.Duration(j/2)*24*time.Hour - time.Hour),
			Evidence:   &domain.Evidence{Source: "transit_card", Reference: ref},
		})
		if err != nil {
			b.Fatal(err)
		}
		have = a.BalanceAfter
	}
}

func (e *claimEnv) next() (citizen int, key string) {
	i := e.seq.Add(1)
	return int(i % claimCitizens), fmt.Sprintf("claim-%d", i)
}

func BenchmarkClaimStore(b *testing.B) {
	e := newClaimEnv(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i, key := e.next()
			now := domain.Now()
			_, err := e.w.Store.ClaimBenefit(ctx, domain.Claim{
				VoucherID: domain.NewID(now), Code: domain.NewVoucherCode(), CitizenID: e.ids[i], BenefitID: e.benefit,
				IdempotencyKey: key, EntryID: domain.NewID(now), At: now,
			}, func(bn domain.Benefit, c domain.Citizen, held int) (domain.ClaimTerms, error) {
				if why := domain.Ineligibility(bn, c, held, now, e.w.Benefits.Levels); len(why) > 0 {
					return domain.ClaimTerms{}, fmt.Errorf("refused: %v", why)
				}
				return domain.ClaimTerms{PointsCost: bn.PointsCost, ExpiresAt: now.Add(bn.VoucherTTL)}, nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

func BenchmarkClaimService(b *testing.B) {
	e := newClaimEnv(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i, key := e.next()
			if _, _, err := e.w.Benefits.Claim(ctx, e.ids[i], e.benefit, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

func BenchmarkClaimHTTP(b *testing.B) {
	e := newClaimEnv(b, b.N)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	app := e.w.NewApp()
	go func() { _ = app.Listener(ln) }()
	b.Cleanup(func() { _ = app.Shutdown() })
	url := "http://" + ln.Addr().String() + "/v1/benefits/" + e.benefit + "/claims"
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 1}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(url)
		for pb.Next() {
			i, key := e.next()
			req.Header.Set("Authorization", e.bearers[i])
			req.Header.Set("Idempotency-Key", key)
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusCreated {
				b.Errorf("claim: %v %d %s", err, resp.StatusCode(), resp.Body())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}
