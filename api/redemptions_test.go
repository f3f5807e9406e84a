package api_test

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// redemptionClock is the redemption service's clock: real time shifted by a
// duration the test moves forward.
type redemptionClock struct{ shift atomic.Int64 }

func (c *redemptionClock) now() time.Time {
	return domain.Now().Add(time.Duration(c.shift.Load()))
}
func (c *redemptionClock) advance(d time.Duration) { c.shift.Add(int64(d)) }

// withRedemptions wires the redemption service on the harness's store, on clock.
func withRedemptions(clock *redemptionClock) harnessOption {
	return func(d *api.Deps, auth *domain.AuthService) {
		store, _ := auth.Operators.(domain.Store)
		d.Redemptions = &domain.RedemptionService{Redemptions: store, Benefits: store, Now: clock.now,
			ReversalWindow: domain.DefaultReversalWindow}
	}
}

type redemptionJSON struct {
	ID          string `json:"id"`
	VoucherCode string `json:"voucher_code"`
	ExternalRef string `json:"external_ref"`
	RedeemedAt  string `json:"redeemed_at"`
	Benefit     struct {
		ID        string `json:"id"`
		Title     string `json:"title"`
		Kind      string `json:"kind"`
		Terms     string `json:"terms"`
		RateBP    *int   `json:"rate_bp"`
		AmountFen *int64 `json:"amount_fen"`
	} `json:"benefit"`
	DiscountBP      *int    `json:"discount_bp"`
	PointsSpent     int64   `json:"points_spent"`
	ReversibleUntil string  `json:"reversible_until"`
	ReversedAt      *string `json:"reversed_at"`
	ReversalReason  *string `json:"reversal_reason"`
	RefundedPoints  int64   `json:"refunded_points"`
}

// redemptionSetup is a harness with bank X (token with every scope) offering a
// benefit, bank Y (token with every scope), and a citizen with 1000 points.
type redemptionSetup struct {
	h              *harness
	clock          *redemptionClock
	admin          string
	bankX, bankY   bankJSON
	tokenX, tokenY string
	benefit        domain.Benefit
	citizen        string // access token
}

func newRedemptionSetup(t *testing.T) *redemptionSetup {
	t.Helper()
	clock := &redemptionClock{}
	h, admin, bankX, credX := newBankSetup(t, withRedemptions(clock))
	bankY := h.createBank(admin, "other_bank", "另一家银行")
	credY := h.issueCredential(admin, bankY.ID, nil)
	now := domain.Now()
	b := h.storeBenefit(domain.Benefit{
		BankID: bankX.ID, Title: "绿色消费贷利率优惠", Terms: "贷款利率下调 15 个基点。", Kind: domain.BenefitLoanRateDiscount,
		RateBP: 15, PointsCost: 100, Stock: 100, PerCitizenLimit: 10,
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(30 * 24 * time.Hour), VoucherTTL: 30 * 24 * time.Hour,
	})
	citizen := h.devLogin("13800138000").AccessToken
	h.credit(citizen, 1000, 5000)
	return &redemptionSetup{h: h, clock: clock, admin: admin, bankX: bankX, bankY: bankY,
		tokenX: h.bankToken(credX, "").AccessToken, tokenY: h.bankToken(credY, "").AccessToken, benefit: b, citizen: citizen}
}

// claimVoucher has the citizen claim the benefit and returns the voucher code.
func (s *redemptionSetup) claimVoucher(t *testing.T) string {
	t.Helper()
	var v voucher
	s.h.claim(s.citizen, s.benefit.ID, "claim-"+domain.RandomToken(8)).expect(t, 201).decode(t, &v)
	return v.Code
}

func (s *redemptionSetup) redeem(bearer, key string, body any) response {
	s.h.t.Helper()
	headers := map[string]string{}
	if key != "" {
		headers["Idempotency-Key"] = key
	}
	return s.h.do(req{method: "POST", path: "/v1/bank/redemptions", bearer: bearer, headers: headers, body: body})
}

func (s *redemptionSetup) reverse(bearer, id string, body any) response {
	s.h.t.Helper()
	return s.h.do(req{method: "POST", path: "/v1/bank/redemptions/" + id + "/reversal", bearer: bearer, body: body})
}

func (s *redemptionSetup) list(bearer, query string, headers map[string]string) response {
	s.h.t.Helper()
	return s.h.do(req{method: "GET", path: "/v1/bank/redemptions?" + query, bearer: bearer, headers: headers})
}

func rangeQuery(from, to time.Time) string {
	return url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}.Encode()
}

func TestBankRedeemsItsVoucherOnceWithReplay(t *testing.T) {
	s := newRedemptionSetup(t)
	code := s.claimVoucher(t)
	body := map[string]any{"voucher_code": strings.ToLower(code), "external_ref": "LOAN-2026-0042"}

	r := s.redeem(s.tokenX, "redeem-1", body).expect(t, 201)
	var got redemptionJSON
	r.decode(t, &got)
	if got.VoucherCode != code || got.ExternalRef != "LOAN-2026-0042" || got.PointsSpent != 100 ||
		got.Benefit.ID != s.benefit.ID || got.Benefit.Kind != "loan_rate_discount" || got.Benefit.RateBP == nil ||
		*got.Benefit.RateBP != 15 || got.Benefit.AmountFen != nil || got.DiscountBP == nil || *got.DiscountBP != 15 ||
		got.ReversedAt != nil || got.RefundedPoints != 0 {
		t.Fatalf("redemption %s", r.Body)
	}
	if r.Header.Get("Location") != "/v1/bank/redemptions/"+got.ID {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	redeemed, _ := time.Parse(time.RFC3339Nano, got.RedeemedAt)
	until, _ := time.Parse(time.RFC3339Nano, got.ReversibleUntil)
	if until.Sub(redeemed) != domain.DefaultReversalWindow {
		t.Errorf("reversible_until %s is not 72h after redeemed_at %s", got.ReversibleUntil, got.RedeemedAt)
	}
	if strings.Contains(string(r.Body), "citizen") {
		t.Errorf("the bank sees a citizen field: %s", r.Body)
	}

	replay := s.redeem(s.tokenX, "redeem-1", body).expect(t, 200)
	var again redemptionJSON
	replay.decode(t, &again)
	if again.ID != got.ID || replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay %s (headers %v)", replay.Body, replay.Header)
	}
	s.redeem(s.tokenX, "redeem-2", body).expect(t, 409, "voucher_already_redeemed")
	other := s.claimVoucher(t)
	s.redeem(s.tokenX, "redeem-1", map[string]any{"voucher_code": other, "external_ref": "x"}).expect(t, 422, "idempotency_key_reused")
	s.redeem(s.tokenX, "", map[string]any{"voucher_code": other, "external_ref": "x"}).expect(t, 400, "idempotency_key_required")

	var mine []voucher
	for _, v := range s.h.vouchers(s.citizen) {
		if v.Code == code {
			mine = append(mine, v)
		}
	}
	if len(mine) != 1 || mine[0].Status != "redeemed" {
		t.Errorf("the citizen's voucher after redemption: %+v", mine)
	}
}

func TestAnotherBankCannotSeeOrRedeemTheVoucher(t *testing.T) {
	s := newRedemptionSetup(t)
	code := s.claimVoucher(t)
	body := map[string]any{"voucher_code": code, "external_ref": "Y-1"}
	foreign := s.redeem(s.tokenY, "y-1", body).expect(t, 404, "voucher_not_found")
	unknown := s.redeem(s.tokenY, "y-2", map[string]any{"voucher_code": domain.NewVoucherCode(), "external_ref": "Y-1"}).expect(t, 404, "voucher_not_found")
	if fp, up := foreign.problem(t), unknown.problem(t); fp.Detail != up.Detail || fp.Title != up.Title || fp.Type != up.Type {
		t.Errorf("another bank's code %+v differs from an unknown one %+v", fp, up)
	}

	var got redemptionJSON
	s.redeem(s.tokenX, "x-1", body).expect(t, 201).decode(t, &got)
	s.reverse(s.tokenY, got.ID, map[string]any{"reason": "mine now"}).expect(t, 404, "redemption_not_found")
	s.reverse(s.tokenY, domain.NewID(time.Now()), map[string]any{"reason": "mine now"}).expect(t, 404, "redemption_not_found")
	q := rangeQuery(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	var page struct {
		Items []redemptionJSON `json:"items"`
	}
	s.list(s.tokenY, q, nil).expect(t, 200).decode(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("bank Y lists bank X's redemptions: %+v", page.Items)
	}
	s.list(s.tokenX, q, nil).expect(t, 200).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != got.ID {
		t.Errorf("bank X lists %+v", page.Items)
	}
}

func TestExpiredVoucherIsRefused(t *testing.T) {
	s := newRedemptionSetup(t)
	code := s.claimVoucher(t)
	s.clock.advance(31 * 24 * time.Hour) // past the 30-day voucher TTL
	s.redeem(s.tokenX, "late", map[string]any{"voucher_code": code, "external_ref": "R"}).expect(t, 409, "voucher_expired")
}

func TestReversalRefundsOnceWithinTheWindow(t *testing.T) {
	s := newRedemptionSetup(t)
	code := s.claimVoucher(t)
	if b, _ := s.h.balance(s.citizen); b != 900 {
		t.Fatalf("balance after the claim %d, want 900", b)
	}
	var r redemptionJSON
	s.redeem(s.tokenX, "k", map[string]any{"voucher_code": code, "external_ref": "R"}).expect(t, 201).decode(t, &r)

	s.reverse(s.tokenX, r.ID, map[string]any{"reason": ""}).expect(t, 400, "validation_failed")
	var rev redemptionJSON
	s.reverse(s.tokenX, r.ID, map[string]any{"reason": "贷款取消"}).expect(t, 200).decode(t, &rev)
	if rev.ReversedAt == nil || rev.ReversalReason == nil || *rev.ReversalReason != "贷款取消" || rev.RefundedPoints != 100 {
		t.Fatalf("reversal %+v", rev)
	}
	if b, _ := s.h.balance(s.citizen); b != 1000 {
		t.Errorf("balance after the reversal %d, want 1000", b)
	}
	var ledger struct {
		Items []struct {
			Kind         string `json:"kind"`
			Points       int64  `json:"points"`
			BalanceAfter int64  `json:"balance_after"`
			Cause        struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"cause"`
		} `json:"items"`
	}
	s.h.do(req{method: "GET", path: "/v1/me/ledger", bearer: s.citizen}).expect(t, 200).decode(t, &ledger)
	var sum int64
	refunds := 0
	for _, e := range ledger.Items {
		sum += e.Points
		if e.Kind == "refund" {
			refunds++
			if e.Points != 100 || e.BalanceAfter != 1000 || e.Cause.Type != "redemption" || e.Cause.ID != r.ID {
				t.Errorf("refund entry %+v", e)
			}
		}
	}
	if refunds != 1 || sum != 1000 {
		t.Errorf("%d refunds, ledger sum %d; want 1 and 1000", refunds, sum)
	}

	replay := s.reverse(s.tokenX, r.ID, map[string]any{"reason": "贷款取消"}).expect(t, 200)
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("same reason again is not a replay: %v", replay.Header)
	}
	s.reverse(s.tokenX, r.ID, map[string]any{"reason": "another"}).expect(t, 409, "already_reversed")
	if b, _ := s.h.balance(s.citizen); b != 1000 {
		t.Errorf("balance after repeated reversals %d, want 1000", b)
	}
	s.redeem(s.tokenX, "k2", map[string]any{"voucher_code": code, "external_ref": "R"}).expect(t, 409, "voucher_already_redeemed")
	for _, v := range s.h.vouchers(s.citizen) { // the citizen's view, checked against openapi.yaml
		if v.Code == code && v.Status != "reversed" {
			t.Errorf("the citizen's voucher after reversal is %q, want reversed", v.Status)
		}
	}

	// The window closes 72 hours after the redemption.
	code2 := s.claimVoucher(t)
	var r2 redemptionJSON
	s.redeem(s.tokenX, "k3", map[string]any{"voucher_code": code2, "external_ref": "R"}).expect(t, 201).decode(t, &r2)
	s.clock.advance(72 * time.Hour)
	s.reverse(s.tokenX, r2.ID, map[string]any{"reason": "too late"}).expect(t, 422, "reversal_window_closed")
	if b, _ := s.h.balance(s.citizen); b != 900 {
		t.Errorf("balance after a refused reversal %d, want 900", b)
	}
}

func TestRedemptionsCSVExport(t *testing.T) {
	s := newRedemptionSetup(t)
	start := time.Now().Add(-time.Minute)
	var ids []string
	for i := range 3 {
		var r redemptionJSON
		s.redeem(s.tokenX, fmt.Sprintf("csv-%d", i), map[string]any{"voucher_code": s.claimVoucher(t),
			"external_ref": fmt.Sprintf("=HYPERLINK(%d)", i)}).expect(t, 201).decode(t, &r)
		ids = append(ids, r.ID)
	}
	s.reverse(s.tokenX, ids[1], map[string]any{"reason": "customer, \"changed mind\""}).expect(t, 200)

	res := s.list(s.tokenX, rangeQuery(start, time.Now().Add(time.Minute)), map[string]string{"Accept": "text/csv"}).expect(t, 200)
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV %q: %v", res.Body, err)
	}
	want := "id,redeemed_at,voucher_code,benefit_id,benefit_title,kind,rate_bp,amount_fen,points_spent,external_ref,reversed_at,reversal_reason"
	if len(rows) != 4 || strings.Join(rows[0], ",") != want {
		t.Fatalf("CSV rows %q", rows)
	}
	for i, row := range rows[1:] {
		if row[0] != ids[i] || row[3] != s.benefit.ID || row[4] != s.benefit.Title || row[5] != "loan_rate_discount" ||
			row[6] != "15" || row[7] != "" || row[8] != "100" || row[9] != fmt.Sprintf("'=HYPERLINK(%d)", i) {
			t.Errorf("row %d: %q", i, row)
		}
		if reversed := row[10] != ""; reversed != (i == 1) {
			t.Errorf("row %d reversed_at %q", i, row[10])
		}
	}
	if rows[2][11] != "customer, \"changed mind\"" {
		t.Errorf("reversal_reason %q", rows[2][11])
	}

	// JSON pages through the same range.
	var p1 struct {
		Items      []redemptionJSON `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	s.list(s.tokenX, rangeQuery(start, time.Now().Add(time.Minute))+"&limit=2", nil).expect(t, 200).decode(t, &p1)
	if len(p1.Items) != 2 || p1.NextCursor == nil || p1.Items[0].ID != ids[0] {
		t.Fatalf("first page %+v", p1)
	}
	s.list(s.tokenX, rangeQuery(start, time.Now().Add(time.Minute))+"&limit=2&cursor="+*p1.NextCursor, nil).expect(t, 200).decode(t, &p1)
	if len(p1.Items) != 1 || p1.NextCursor != nil || p1.Items[0].ID != ids[2] {
		t.Fatalf("second page %+v", p1)
	}
}

func TestRedemptionRoutesNeedTheirScopes(t *testing.T) {
	s := newRedemptionSetup(t)
	readOnly := s.h.issueCredential(s.admin, s.bankX.ID, []string{domain.ScopeRedemptionsRead})
	readTok := s.h.bankToken(readOnly, "").AccessToken
	writeTok := s.h.bankToken(s.h.issueCredential(s.admin, s.bankX.ID, []string{domain.ScopeRedemptionsWrite}), "").AccessToken
	body := map[string]any{"voucher_code": s.claimVoucher(t), "external_ref": "R"}

	r := s.redeem(readTok, "k", body).expect(t, 403, "insufficient_scope")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), "redemptions:write") {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	s.reverse(readTok, "whatever", map[string]any{"reason": "x"}).expect(t, 403, "insufficient_scope")
	q := rangeQuery(time.Now().Add(-time.Hour), time.Now())
	s.list(writeTok, q, nil).expect(t, 403, "insufficient_scope")
	s.list(readTok, q, nil).expect(t, 200)
	s.list(s.citizen, q, nil).expect(t, 403, "forbidden_role")
	s.redeem(s.citizen, "k", body).expect(t, 403, "forbidden_role")
	s.redeem("", "k", body).expect(t, 401, "missing_token")
	s.redeem(writeTok, "k", body).expect(t, 201)
}

func TestBadRedemptionRequestsAreRefused(t *testing.T) {
	s := newRedemptionSetup(t)
	code := s.claimVoucher(t)
	long := strings.Repeat("A", 65)
	for _, tc := range []struct {
		name string
		raw  string
		code string
	}{
		{"operator injection in the code", `{"voucher_code": {"$gt": ""}, "external_ref": "R"}`, "validation_failed"},
		{"operator injection in the ref", `{"voucher_code": "` + code + `", "external_ref": {"$ne": null}}`, "validation_failed"},
		{"missing code", `{"external_ref": "R"}`, "validation_failed"},
		{"missing ref", `{"voucher_code": "` + code + `"}`, "validation_failed"},
		{"empty ref", `{"voucher_code": "` + code + `", "external_ref": ""}`, "validation_failed"},
		{"long code", `{"voucher_code": "` + long + `", "external_ref": "R"}`, "validation_failed"},
		{"long ref", `{"voucher_code": "` + code + `", "external_ref": "` + long + `"}`, "validation_failed"},
		{"control character in the ref", `{"voucher_code": "` + code + `", "external_ref": "a\u0000b"}`, "validation_failed"},
		{"non-ASCII ref", `{"voucher_code": "` + code + `", "external_ref": "贷款"}`, "validation_failed"},
		{"bad code characters", `{"voucher_code": "../../x", "external_ref": "R"}`, "validation_failed"},
		{"unknown field", `{"voucher_code": "` + code + `", "external_ref": "R", "citizen_id": "x"}`, "validation_failed"},
		{"array", `[]`, "malformed_json"},
		{"not JSON", `voucher_code=1`, "malformed_json"},
		{"number code", `{"voucher_code": 1, "external_ref": "R"}`, "validation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.h.do(req{method: "POST", path: "/v1/bank/redemptions", bearer: s.tokenX, raw: []byte(tc.raw),
				headers: map[string]string{"Idempotency-Key": "bad-" + domain.RandomToken(6)}}).expect(t, 400, tc.code)
		})
	}
	var r redemptionJSON
	s.redeem(s.tokenX, "ok", map[string]any{"voucher_code": code, "external_ref": "R"}).expect(t, 201).decode(t, &r)
	for _, tc := range []struct{ name, raw string }{
		{"operator injection", `{"reason": {"$gt": ""}}`},
		{"missing", `{}`},
		{"blank", `{"reason": "   "}`},
		{"too long", `{"reason": "` + strings.Repeat("长", 257) + `"}`},
		{"control character", `{"reason": "a\u0007b"}`},
		{"unknown field", `{"reason": "x", "points": 1000}`},
	} {
		t.Run("reversal "+tc.name, func(t *testing.T) {
			s.h.do(req{method: "POST", path: "/v1/bank/redemptions/" + r.ID + "/reversal", bearer: s.tokenX, raw: []byte(tc.raw)}).
				expect(t, 400, "validation_failed")
		})
	}
	if b, _ := s.h.balance(s.citizen); b != 900 {
		t.Errorf("balance %d after refused reversals, want 900", b)
	}
	now := time.Now()
	for name, q := range map[string]string{
		"no range":       "",
		"only from":      url.Values{"from": {now.Format(time.RFC3339)}}.Encode(),
		"not a time":     "from=yesterday&to=today",
		"to before from": rangeQuery(now, now.Add(-time.Hour)),
		"over 92 days":   rangeQuery(now.Add(-93*24*time.Hour), now),
		"bad limit":      rangeQuery(now.Add(-time.Hour), now) + "&limit=0",
		"bad cursor":     rangeQuery(now.Add(-time.Hour), now) + "&cursor=%24%24",
	} {
		t.Run("list "+name, func(t *testing.T) {
			s.list(s.tokenX, q, nil).expect(t, 400, "validation_failed")
		})
	}
}
