package api_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/seeds"
)

type benefitBank struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type ineligibleReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type offer struct {
	ID                string             `json:"id"`
	Bank              benefitBank        `json:"bank"`
	Title             string             `json:"title"`
	Kind              string             `json:"kind"`
	RateBP            *int               `json:"rate_bp"`
	AmountFen         *int64             `json:"amount_fen"`
	PointsCost        int64              `json:"points_cost"`
	StockLeft         int64              `json:"stock_left"`
	PerCitizenLimit   int                `json:"per_citizen_limit"`
	Held              int                `json:"held"`
	MinLevel          int                `json:"min_level"`
	Districts         []string           `json:"districts"`
	VoucherTTLDays    int                `json:"voucher_ttl_days"`
	Eligible          bool               `json:"eligible"`
	IneligibleReasons []ineligibleReason `json:"ineligible_reasons"`
}

func (o offer) reasons() []string {
	var out []string
	for _, r := range o.IneligibleReasons {
		out = append(out, r.Code)
	}
	return out
}

type adminBenefit struct {
	offer
	Stock     int64  `json:"stock"`
	Claimed   int64  `json:"claimed"`
	CreatedBy string `json:"created_by"`
}

type voucher struct {
	ID           string      `json:"id"`
	Code         string      `json:"code"`
	BenefitID    string      `json:"benefit_id"`
	BenefitTitle string      `json:"benefit_title"`
	Bank         benefitBank `json:"bank"`
	PointsSpent  int64       `json:"points_spent"`
	Balance      int64       `json:"balance"`
	Status       string      `json:"status"`
	IssuedAt     time.Time   `json:"issued_at"`
	ExpiresAt    time.Time   `json:"expires_at"`
}

var voucherCodeShape = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

// addBank stores a partner bank directly (the bank routes are tested on their own).
func (h *harness) addBank(code, name string) domain.Bank {
	h.t.Helper()
	now := domain.Now()
	b := domain.Bank{ID: domain.NewID(now), Code: code, Name: name, CreatedAt: now, CreatedBy: "test"}
	if err := h.store.CreateBank(context.Background(), b); err != nil {
		h.t.Fatal(err)
	}
	return b
}

// storeBenefit writes a benefit straight to the store, bypassing the operator
// rules (for windows an operator could not create).
func (h *harness) storeBenefit(b domain.Benefit) domain.Benefit {
	h.t.Helper()
	now := domain.Now()
	b.ID, b.CreatedAt, b.CreatedBy = domain.NewID(now), now, "test"
	if err := h.store.CreateBenefit(context.Background(), b); err != nil {
		h.t.Fatal(err)
	}
	return b
}

var creditSeq atomic.Int64

// credit gives the citizen points and CO2e through the store, as one credited
// action would.
func (h *harness) credit(bearer string, points, co2e int64) {
	h.t.Helper()
	var me struct {
		ID string `json:"id"`
	}
	h.do(req{method: "GET", path: "/v1/me", bearer: bearer}).expect(h.t, 200).decode(h.t, &me)
	now := domain.Now()
	n := creditSeq.Add(1)
	a := domain.Action{
		ID: domain.NewID(now), CitizenID: me.ID, TypeCode: "travel.metro", RuleVersion: 1, Quantity: domain.Units(1),
		OccurredAt: now.Add(-time.Minute), RecordedAt: now, EvidenceKey: fmt.Sprintf("test-credit-%d", n),
		IdempotencyKey: fmt.Sprintf("test-credit-%d", n), RequestHash: "test-credit",
	}
	a.Day = domain.DayOf(a.OccurredAt)
	_, err := h.store.RecordAction(context.Background(), a, domain.NewID(now), func(domain.DayUsage) (domain.Credit, error) {
		return domain.Credit{Status: domain.ActionCredited, CreditedQuantity: domain.Units(1), CO2eGrams: co2e, Points: points}, nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) balance(bearer string) (balance, co2e int64) {
	h.t.Helper()
	var me struct {
		Balance int64 `json:"balance"`
		CO2e    int64 `json:"co2e_g_total"`
	}
	h.do(req{method: "GET", path: "/v1/me", bearer: bearer}).expect(h.t, 200).decode(h.t, &me)
	return me.Balance, me.CO2e
}

func (h *harness) claim(bearer, benefitID, key string) response {
	h.t.Helper()
	headers := map[string]string{}
	if key != "" {
		headers["Idempotency-Key"] = key
	}
	return h.do(req{method: "POST", path: "/v1/benefits/" + benefitID + "/claims", bearer: bearer, headers: headers})
}

func (h *harness) offers(bearer, query string) (items []offer, next *string) {
	h.t.Helper()
	var page struct {
		Items      []offer `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	h.do(req{method: "GET", path: "/v1/benefits" + query, bearer: bearer}).expect(h.t, 200).decode(h.t, &page)
	return page.Items, page.NextCursor
}

func (h *harness) vouchers(bearer string) []voucher {
	h.t.Helper()
	var page struct {
		Items []voucher `json:"items"`
	}
	h.do(req{method: "GET", path: "/v1/me/vouchers", bearer: bearer}).expect(h.t, 200).decode(h.t, &page)
	return page.Items
}

// benefitRequest is a valid POST /v1/admin/benefits body: a 10 bp loan discount
// for 100 points, 5 in stock, one per citizen, open since an hour ago for a day.
func benefitRequest(bankID string, change ...func(map[string]any)) map[string]any {
	now := time.Now()
	body := map[string]any{
		"bank_id": bankID, "title": "绿色贷款利率优惠", "terms": "凭券贷款利率下调 10 个基点。", "kind": "loan_rate_discount",
		"rate_bp": 10, "points_cost": 100, "stock": 5, "per_citizen_limit": 1,
		"valid_from": now.Add(-time.Hour).Format(time.RFC3339), "valid_until": now.Add(24 * time.Hour).Format(time.RFC3339),
		"voucher_ttl_days": 30,
	}
	for _, c := range change {
		if c != nil {
			c(body)
		}
	}
	return body
}

func (h *harness) createBenefit(bearer string, body map[string]any) adminBenefit {
	h.t.Helper()
	var b adminBenefit
	r := h.do(req{method: "POST", path: "/v1/admin/benefits", bearer: bearer, body: body}).expect(h.t, 201)
	r.decode(h.t, &b)
	if r.Header.Get("Location") != "/v1/admin/benefits/"+b.ID {
		h.t.Fatalf("Location %q for benefit %s", r.Header.Get("Location"), b.ID)
	}
	return b
}

func TestSeededBenefitsAreListedWithEachCitizensEligibility(t *testing.T) {
	h := newHarness(t)
	banks, benefits, err := seeds.LoadBanks(context.Background(), h.store, domain.Now())
	if err != nil || banks == 0 || benefits == 0 {
		t.Fatalf("seeding banks: %d banks, %d benefits, %v", banks, benefits, err)
	}
	// Neither a benefit not open yet nor one that closed is offered.
	seeded, err := h.store.ListBenefits(context.Background(), "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	closed := seeded[0]
	closed.ValidFrom, closed.ValidUntil = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	h.storeBenefit(closed)
	closed.ValidFrom, closed.ValidUntil = time.Now().Add(time.Hour), time.Now().Add(48*time.Hour)
	h.storeBenefit(closed)

	poor := h.signUp("13800138000", "小王", "wuxing")
	var all []offer
	cursor := ""
	for range benefits {
		page, next := h.offers(poor, "?limit=2"+cursor)
		all = append(all, page...)
		if next == nil {
			break
		}
		cursor = "&cursor=" + *next
	}
	if len(all) != benefits {
		t.Fatalf("%d offers, want the %d seeded benefits", len(all), benefits)
	}
	byTitle := map[string]offer{}
	for _, o := range all {
		byTitle[o.Title] = o
		if o.Eligible || o.Bank.Name == "" || o.StockLeft <= 0 || o.Held != 0 || !slices.Contains(o.reasons(), "insufficient_points") {
			t.Errorf("offer to a citizen without points: %+v", o)
		}
		switch o.Kind {
		case "loan_rate_discount", "deposit_rate_bonus":
			if o.RateBP == nil || o.AmountFen != nil {
				t.Errorf("rate offer without rate_bp: %+v", o)
			}
		case "cashback":
			if o.RateBP != nil || o.AmountFen == nil || *o.AmountFen <= 0 {
				t.Errorf("cashback offer without amount_fen: %+v", o)
			}
		}
		for _, r := range o.IneligibleReasons {
			if r.Message == "" {
				t.Errorf("reason %s without a message", r.Code)
			}
		}
	}
	loan, deposit := byTitle["绿色消费贷利率优惠 50BP"], byTitle["两山绿色存款加息 20BP"]
	if got := loan.reasons(); !slices.Equal(got, []string{"level_too_low", "insufficient_points"}) || loan.Bank.Name != "湖州银行" || *loan.RateBP != 50 {
		t.Errorf("the 中绿 loan discount to a poor 浅绿 citizen: %+v", loan)
	}
	if got := deposit.reasons(); !slices.Equal(got, []string{"district_not_eligible", "insufficient_points"}) {
		t.Errorf("the Anji deposit bonus to a Wuxing citizen: %+v", deposit)
	}

	// An Anji citizen at 中绿 with points may claim both.
	rich := h.signUp("13900139000", "小李", "anji")
	h.credit(rich, 10_000, 60_000)
	items, _ := h.offers(rich, "")
	for _, o := range items {
		if (o.ID == loan.ID || o.ID == deposit.ID) && (!o.Eligible || len(o.IneligibleReasons) != 0) {
			t.Errorf("eligible citizen refused: %+v", o)
		}
		if o.MinLevel == 3 && !slices.Equal(o.reasons(), []string{"level_too_low"}) {
			t.Errorf("the 深绿 offer to a 中绿 citizen: %+v", o)
		}
	}
}

func TestClaimingABenefitSpendsPointsAndIssuesAVoucher(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	bank := h.addBank("huzhou_bank", "湖州银行")
	b := h.createBenefit(admin, benefitRequest(bank.ID, func(m map[string]any) { m["per_citizen_limit"] = 2 }))
	other := h.createBenefit(admin, benefitRequest(bank.ID))
	tk := h.devLogin("13800138000").AccessToken
	h.credit(tk, 250, 1000)

	r := h.claim(tk, b.ID, "claim-1").expect(t, 201)
	var v voucher
	r.decode(t, &v)
	if r.Header.Get("Location") != "/v1/me/vouchers/"+v.ID {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	if !voucherCodeShape.MatchString(v.Code) || v.BenefitID != b.ID || v.BenefitTitle != b.Title || v.Bank != (benefitBank{bank.ID, "湖州银行"}) ||
		v.PointsSpent != 100 || v.Balance != 150 || v.Status != "issued" || !v.ExpiresAt.Equal(v.IssuedAt.Add(30*24*time.Hour)) {
		t.Fatalf("voucher %+v", v)
	}
	// Spending lowers the balance, never the CO2e.
	if balance, co2e := h.balance(tk); balance != 150 || co2e != 1000 {
		t.Fatalf("balance %d, co2e %d after the claim", balance, co2e)
	}
	type ledgerRow struct {
		Kind         string `json:"kind"`
		Points       int64  `json:"points"`
		CO2e         int64  `json:"co2e_g"`
		BalanceAfter int64  `json:"balance_after"`
		Cause        struct{ Type, ID string }
	}
	var ledger struct{ Items []ledgerRow }
	h.do(req{method: "GET", path: "/v1/me/ledger", bearer: tk}).expect(t, 200).decode(t, &ledger)
	// (The earn entry may sort either side of the claim: ULIDs made in the same
	// millisecond are not ordered.)
	claims := slices.DeleteFunc(slices.Clone(ledger.Items), func(e ledgerRow) bool { return e.Kind != "claim" })
	if len(ledger.Items) != 2 || len(claims) != 1 {
		t.Fatalf("ledger %+v", ledger)
	}
	if e := claims[0]; e.Points != -100 || e.CO2e != 0 || e.BalanceAfter != 150 || e.Cause.Type != "voucher" || e.Cause.ID != v.ID {
		t.Fatalf("claim entry %+v", e)
	}
	if list := h.vouchers(tk); len(list) != 1 || list[0] != v {
		t.Fatalf("vouchers %+v, want %+v", list, v)
	}
	var got voucher
	h.do(req{method: "GET", path: "/v1/me/vouchers/" + v.ID, bearer: tk}).expect(t, 200).decode(t, &got)
	if got != v {
		t.Fatalf("voucher %+v, want %+v", got, v)
	}

	// A retry gets the same voucher and spends nothing.
	r = h.claim(tk, b.ID, "claim-1").expect(t, 200)
	var again voucher
	r.decode(t, &again)
	if again != v || r.Header.Get("Idempotent-Replayed") != "true" || r.Header.Get("Location") != "/v1/me/vouchers/"+v.ID {
		t.Fatalf("replay %+v (headers %v), want %+v", again, r.Header, v)
	}
	if balance, _ := h.balance(tk); balance != 150 {
		t.Fatalf("balance %d after a replay", balance)
	}
	h.claim(tk, other.ID, "claim-1").expect(t, 422, "idempotency_key_reused")
	h.claim(tk, b.ID, "").expect(t, 400, "idempotency_key_required")
	h.claim(tk, b.ID, strings.Repeat("k", 129)).expect(t, 400, "idempotency_key_required")
	h.claim(tk, "01NOSUCHBENEFIT0000000000", "claim-2").expect(t, 404, "benefit_not_found")

	// A second voucher of the same benefit (the limit is 2), then the count shows.
	// (A millisecond later, so that its ULID sorts after the first's.)
	time.Sleep(2 * time.Millisecond)
	var second voucher
	h.claim(tk, b.ID, "claim-2").expect(t, 201).decode(t, &second)
	if second.ID == v.ID || second.Code == v.Code || second.Balance != 50 {
		t.Fatalf("second voucher %+v", second)
	}
	if list := h.vouchers(tk); len(list) != 2 || list[0].ID != second.ID || list[1].ID != v.ID {
		t.Fatalf("vouchers not newest first: %+v", list)
	}
	var page struct {
		Items      []voucher `json:"items"`
		NextCursor *string   `json:"next_cursor"`
	}
	h.do(req{method: "GET", path: "/v1/me/vouchers?limit=1", bearer: tk}).expect(t, 200).decode(t, &page)
	if len(page.Items) != 1 || page.NextCursor == nil {
		t.Fatalf("first page %+v", page)
	}
	h.do(req{method: "GET", path: "/v1/me/vouchers?limit=1&cursor=" + *page.NextCursor, bearer: tk}).expect(t, 200).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != v.ID || page.NextCursor != nil {
		t.Fatalf("second page %+v", page)
	}
	items, _ := h.offers(tk, "")
	for _, o := range items {
		if o.ID == b.ID && (o.Held != 2 || o.StockLeft != 3 || !slices.Equal(o.reasons(), []string{"claim_limit_reached", "insufficient_points"})) {
			t.Fatalf("offer after two claims: %+v", o)
		}
	}
	var seen adminBenefit
	h.do(req{method: "GET", path: "/v1/admin/benefits/" + b.ID, bearer: admin}).expect(t, 200).decode(t, &seen)
	if seen.Claimed != 2 || seen.StockLeft != 3 || seen.Stock != 5 {
		t.Fatalf("benefit after two claims %+v", seen)
	}

	// Vouchers are their holder's alone.
	bob := h.devLogin("13900139000").AccessToken
	h.do(req{method: "GET", path: "/v1/me/vouchers/" + v.ID, bearer: bob}).expect(t, 404, "voucher_not_found")
	h.do(req{method: "GET", path: "/v1/me/vouchers/nope", bearer: tk}).expect(t, 404, "voucher_not_found")
	if list := h.vouchers(bob); len(list) != 0 {
		t.Fatalf("bob sees vouchers: %+v", list)
	}
	// Keys are the citizen's: bob may use claim-1 too (and has no points).
	h.claim(bob, b.ID, "claim-1").expect(t, 422, "insufficient_points")
}

func TestClaimRefusalsNameTheReasonAndSpendNothing(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	bank := h.addBank("anji_rcb", "浙江安吉农村商业银行")
	create := func(change func(map[string]any)) string {
		return h.createBenefit(admin, benefitRequest(bank.ID, change)).ID
	}
	soldOut := create(func(m map[string]any) { m["stock"] = 1 })
	limited := create(nil)
	pricey := create(func(m map[string]any) { m["points_cost"] = 1_000_000 })
	darkGreen := create(func(m map[string]any) { m["min_level"] = 3 })
	anjiOnly := create(func(m map[string]any) { m["districts"] = []string{"anji"} })
	later := create(func(m map[string]any) { m["valid_from"] = time.Now().Add(time.Hour).Format(time.RFC3339) })
	ended := h.storeBenefit(domain.Benefit{
		BankID: bank.ID, Title: "已结束", Terms: "已结束。", Kind: domain.BenefitFeeWaiver, PointsCost: 1, Stock: 5, PerCitizenLimit: 1,
		ValidFrom: time.Now().Add(-48 * time.Hour), ValidUntil: time.Now().Add(-time.Hour), VoucherTTL: 24 * time.Hour,
	}).ID

	first := h.signUp("13700137000", "先来", "wuxing")
	h.credit(first, 1000, 60_000)
	h.claim(first, soldOut, "a").expect(t, 201)
	h.claim(first, limited, "b").expect(t, 201)

	tk := h.signUp("13800138000", "后到", "wuxing")
	h.credit(tk, 10_000, 60_000) // 中绿
	cases := []struct {
		who, benefit, code string
	}{
		{first, limited, "claim_limit_reached"},
		{tk, soldOut, "sold_out"},
		{tk, pricey, "insufficient_points"},
		{tk, darkGreen, "level_too_low"},
		{tk, anjiOnly, "district_not_eligible"},
		{tk, later, "not_yet_available"},
		{tk, ended, "no_longer_available"},
	}
	for _, c := range cases {
		before, _ := h.balance(c.who)
		h.claim(c.who, c.benefit, "refused-"+c.code).expect(t, 422, c.code)
		if after, _ := h.balance(c.who); after != before {
			t.Errorf("%s: balance %d → %d", c.code, before, after)
		}
	}
	if list := h.vouchers(tk); len(list) != 0 {
		t.Fatalf("refused claims issued vouchers: %+v", list)
	}
	// A refused claim did not use its key: after moving to Anji it goes through.
	h.patchMe(tk, map[string]any{"district": "anji"})
	h.claim(tk, anjiOnly, "refused-district_not_eligible").expect(t, 201)
}

func TestOperatorsCreateAndReadBenefits(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.createOperator(admin, "ops", domain.RoleOperator)
	ops := h.operatorLogin("ops", adminPassword).AccessToken
	huzhou, anji := h.addBank("huzhou_bank", "湖州银行"), h.addBank("anji_rcb", "安吉农商银行")

	loan := h.createBenefit(ops, benefitRequest(huzhou.ID, func(m map[string]any) {
		m["min_level"], m["districts"] = 2, []string{"anji", "deqing"}
	}))
	if loan.Bank != (benefitBank{huzhou.ID, "湖州银行"}) || loan.Kind != "loan_rate_discount" || loan.RateBP == nil || *loan.RateBP != 10 ||
		loan.AmountFen != nil || loan.Stock != 5 || loan.StockLeft != 5 || loan.Claimed != 0 || loan.MinLevel != 2 ||
		!slices.Equal(loan.Districts, []string{"anji", "deqing"}) || loan.VoucherTTLDays != 30 || loan.CreatedBy == "" {
		t.Fatalf("created %+v", loan)
	}
	cashback := h.createBenefit(ops, benefitRequest(anji.ID, func(m map[string]any) {
		m["kind"], m["amount_fen"] = "cashback", 500
		delete(m, "rate_bp")
	}))
	if cashback.AmountFen == nil || *cashback.AmountFen != 500 || cashback.RateBP != nil || len(cashback.Districts) != 0 {
		t.Fatalf("cashback %+v", cashback)
	}
	waiver := h.createBenefit(admin, benefitRequest(anji.ID, func(m map[string]any) {
		m["kind"] = "fee_waiver"
		delete(m, "rate_bp")
	}))
	if waiver.AmountFen != nil || waiver.RateBP != nil {
		t.Fatalf("fee waiver %+v", waiver)
	}
	bonus := h.createBenefit(admin, benefitRequest(anji.ID, func(m map[string]any) { m["kind"] = "deposit_rate_bonus" }))

	var got adminBenefit
	h.do(req{method: "GET", path: "/v1/admin/benefits/" + loan.ID, bearer: admin}).expect(t, 200).decode(t, &got)
	if got.ID != loan.ID || got.Title != loan.Title || got.Bank.Name != "湖州银行" {
		t.Fatalf("read back %+v", got)
	}
	h.do(req{method: "GET", path: "/v1/admin/benefits/nope", bearer: admin}).expect(t, 404, "benefit_not_found")

	type page struct {
		Items      []adminBenefit `json:"items"`
		NextCursor *string        `json:"next_cursor"`
	}
	var all []string
	path := "/v1/admin/benefits?limit=3"
	for {
		var p page
		h.do(req{method: "GET", path: path, bearer: admin}).expect(t, 200).decode(t, &p)
		for _, b := range p.Items {
			all = append(all, b.ID)
		}
		if p.NextCursor == nil {
			break
		}
		path = "/v1/admin/benefits?limit=3&cursor=" + *p.NextCursor
	}
	want := []string{loan.ID, cashback.ID, waiver.ID, bonus.ID}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("listed %v, want %v", all, want)
	}
	var ofAnji page
	h.do(req{method: "GET", path: "/v1/admin/benefits?bank_id=" + anji.ID, bearer: admin}).expect(t, 200).decode(t, &ofAnji)
	if len(ofAnji.Items) != 3 || slices.ContainsFunc(ofAnji.Items, func(b adminBenefit) bool { return b.Bank.ID != anji.ID }) {
		t.Fatalf("anji's benefits %+v", ofAnji)
	}
	r := h.do(req{method: "GET", path: "/v1/admin/benefits?bank_id=nope", bearer: admin}).expect(t, 400, "validation_failed")
	if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "bank_id" || p.Errors[0].Code != "unknown_bank" {
		t.Fatalf("errors %+v", p.Errors)
	}
	h.do(req{method: "GET", path: "/v1/admin/benefits?limit=0", bearer: admin}).expect(t, 400, "validation_failed")
	h.do(req{method: "GET", path: "/v1/admin/benefits?cursor=!!", bearer: admin}).expect(t, 400, "validation_failed")
}

func TestBenefitInputIsValidated(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	bank := h.addBank("huzhou_bank", "湖州银行")
	set := func(kv ...any) func(map[string]any) {
		return func(m map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(m, kv[i].(string))
				} else {
					m[kv[i].(string)] = kv[i+1]
				}
			}
		}
	}
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	cases := []struct {
		name   string
		change func(map[string]any)
		field  string
		code   string
	}{
		{"unknown kind", set("kind", "lottery"), "kind", "unknown_kind"},
		{"no kind", set("kind", nil), "kind", "required"},
		{"rate of 0", set("rate_bp", 0), "rate_bp", "out_of_range"},
		{"rate of 10000 bp", set("rate_bp", 10_000), "rate_bp", "out_of_range"},
		{"negative rate", set("rate_bp", -5), "rate_bp", "out_of_range"},
		{"rate on cashback", set("kind", "cashback", "amount_fen", 500), "rate_bp", "not_allowed"},
		{"amount on a discount", set("amount_fen", 500), "amount_fen", "not_allowed"},
		{"cashback of 0", set("kind", "cashback", "rate_bp", nil, "amount_fen", 0), "amount_fen", "out_of_range"},
		{"fee waiver with a rate", set("kind", "fee_waiver"), "kind", "invalid"},
		{"unknown bank", set("bank_id", "01NOSUCHBANK00000000000000"), "bank_id", "unknown_bank"},
		{"no bank", set("bank_id", nil), "bank_id", "required"},
		{"unknown district", set("districts", []string{"hangzhou"}), "districts", "unknown_district"},
		{"district twice", set("districts", []string{"anji", "anji"}), "districts", "duplicate"},
		{"six districts", set("districts", []string{"anji", "wuxing", "nanxun", "deqing", "changxing", "anji"}), "districts", "max"},
		{"window backwards", set("valid_until", past, "valid_from", time.Now().Format(time.RFC3339)), "valid_until", "not_after_valid_from"},
		{"window over", set("valid_from", time.Now().Add(-48*time.Hour).Format(time.RFC3339), "valid_until", past), "valid_until", "in_past"},
		{"not a time", set("valid_from", "tomorrow"), "valid_from", "invalid_time"},
		{"no window", set("valid_until", nil), "valid_until", "required"},
		{"free", set("points_cost", 0), "points_cost", "out_of_range"},
		{"no price", set("points_cost", nil), "points_cost", "required"},
		{"fractional price", set("points_cost", 1.5), "points_cost", "wrong_type"},
		{"price as a string", set("points_cost", "100"), "points_cost", "wrong_type"},
		{"price over int64", set("points_cost", 1e30), "points_cost", "wrong_type"},
		{"no stock", set("stock", 0), "stock", "out_of_range"},
		{"limit above stock", set("per_citizen_limit", 6), "per_citizen_limit", "out_of_range"},
		{"unknown level", set("min_level", 9), "min_level", "unknown_level"},
		{"negative level", set("min_level", -1), "min_level", "unknown_level"},
		{"voucher lives 0 days", set("voucher_ttl_days", 0), "voucher_ttl_days", "out_of_range"},
		{"voucher lives 2 years", set("voucher_ttl_days", 730), "voucher_ttl_days", "out_of_range"},
		{"voucher lives for ever", set("voucher_ttl_days", 106_751_991_167_300), "voucher_ttl_days", "out_of_range"},
		{"empty title", set("title", ""), "title", "required"},
		{"long title", set("title", strings.Repeat("绿", 65)), "title", "too_long"},
		{"padded terms", set("terms", " 条款 "), "terms", "surrounding_space"},
		{"title injection", set("title", map[string]any{"$gt": ""}), "title", "wrong_type"},
		{"bank injection", set("bank_id", map[string]any{"$ne": nil}), "bank_id", "wrong_type"},
		{"unknown field", set("discount_bp", 10), "discount_bp", "unknown_field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(req{method: "POST", path: "/v1/admin/benefits", bearer: admin, body: benefitRequest(bank.ID, c.change)}).
				expect(t, 400, "validation_failed")
			if p := r.problem(t); !slices.ContainsFunc(p.Errors, func(f domain.FieldError) bool { return f.Field == c.field && f.Code == c.code }) {
				t.Fatalf("errors %+v, want %s %s", p.Errors, c.field, c.code)
			}
		})
	}
	// Every bad field is named at once.
	r := h.do(req{method: "POST", path: "/v1/admin/benefits", bearer: admin,
		body: benefitRequest("01NOSUCHBANK00000000000000", set("rate_bp", 0, "stock", 0, "title", ""))}).expect(t, 400, "validation_failed")
	if p := r.problem(t); len(p.Errors) < 4 || p.Errors[0].Field != "bank_id" {
		t.Fatalf("errors %+v", p.Errors)
	}
	var list struct{ Items []any }
	h.do(req{method: "GET", path: "/v1/admin/benefits", bearer: admin}).expect(t, 200).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused benefits were created: %d", len(list.Items))
	}
}

// The benefit routes that take a body refuse malformed and hostile input like
// every JSON route (TestBadBodiesAreRefusedWithAProblem), and write nothing.
func TestBadBenefitBodiesAreRefusedWithAProblem(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	bank := h.addBank("huzhou_bank", "湖州银行")
	b := h.createBenefit(admin, benefitRequest(bank.ID))
	citizen := h.devLogin("13800138000").AccessToken
	h.credit(citizen, 1000, 0)
	key := map[string]string{"Idempotency-Key": "bad-body"}

	routes := []struct {
		method, path, bearer string
		headers              map[string]string
		stringField          string
		bodyRequired         bool
	}{
		{"POST", "/v1/admin/benefits", admin, nil, "title", true},
		{"POST", "/v1/benefits/" + b.ID + "/claims", citizen, key, "note", false},
	}
	bodies := []struct {
		name        string
		raw         string
		contentType string
		code        string
	}{
		{"malformed JSON", `{"a":`, "", "malformed_json"},
		{"not JSON at all", `title=x`, "", "malformed_json"},
		{"empty body", ``, "", "empty_body"},
		{"array instead of object", `[1,2]`, "", "malformed_json"},
		{"string instead of object", `"hi"`, "", "malformed_json"},
		{"null", `null`, "", "validation_failed"},
		{"trailing data", `{} {}`, "", "malformed_json"},
		{"trailing garbage", `{}x`, "", "malformed_json"},
		{"unknown field", `{"is_admin": true}`, "", "validation_failed"},
		{"wrong type", `{"FIELD": 12}`, "", "validation_failed"},
		{"mongo operator injection", `{"FIELD": {"$gt": ""}}`, "", "validation_failed"},
		{"mongo $where injection", `{"FIELD": {"$where": "sleep(1000)"}}`, "", "validation_failed"},
		{"null byte soup", "{\"FIELD\": \"\u0000\u0000\"", "", "malformed_json"},
		{"form content type", `{}`, "application/x-www-form-urlencoded", "unsupported_media_type"},
		{"text content type", `{}`, "text/plain", "unsupported_media_type"},
		{"deeply nested", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "", "malformed_json"},
	}
	for _, route := range routes {
		for _, body := range bodies {
			if body.raw == "" && !route.bodyRequired {
				continue // a claim needs no body
			}
			if body.raw == "null" && !route.bodyRequired {
				continue // null decodes to no fields: an empty claim
			}
			t.Run(route.path+"/"+body.name, func(t *testing.T) {
				raw := strings.ReplaceAll(body.raw, "FIELD", route.stringField)
				h.do(req{method: route.method, path: route.path, bearer: route.bearer, headers: route.headers,
					raw: []byte(raw), contentType: body.contentType}).expect(t, 400, body.code)
			})
		}
		t.Run(route.path+"/oversized body", func(t *testing.T) {
			big := `{"` + route.stringField + `":"` + strings.Repeat("x", 70<<10) + `"}`
			h.doRaw(req{method: route.method, path: route.path, bearer: route.bearer, raw: []byte(big)}).expect(t, 413, "body_too_large")
		})
	}
	if balance, _ := h.balance(citizen); balance != 1000 {
		t.Fatalf("a refused claim spent points: balance %d", balance)
	}
	var list struct{ Items []any }
	h.do(req{method: "GET", path: "/v1/admin/benefits", bearer: admin}).expect(t, 200).decode(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("bad bodies created benefits: %d exist", len(list.Items))
	}
	// An empty object is a claim like no body at all.
	h.do(req{method: "POST", path: "/v1/benefits/" + b.ID + "/claims", bearer: citizen, headers: key, raw: []byte(`{}`)}).expect(t, 201)
}

func TestBenefitRoutesAdmitTheirRolesOnly(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.createOperator(admin, "audit", domain.RoleAuditor)
	h.createOperator(admin, "ops", domain.RoleOperator)
	audit := h.operatorLogin("audit", adminPassword).AccessToken
	ops := h.operatorLogin("ops", adminPassword).AccessToken
	citizen := h.devLogin("13800138000").AccessToken
	bank := h.addBank("huzhou_bank", "湖州银行")
	b := h.createBenefit(ops, benefitRequest(bank.ID))
	h.credit(citizen, 1000, 0)
	var v voucher
	h.claim(citizen, b.ID, "k").expect(t, 201).decode(t, &v)

	create := benefitRequest(bank.ID)
	h.do(req{method: "POST", path: "/v1/admin/benefits", bearer: audit, body: create}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/benefits", bearer: citizen, body: create}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/benefits", body: create}).expect(t, 401, "missing_token")
	for _, path := range []string{"/v1/admin/benefits", "/v1/admin/benefits/" + b.ID} {
		h.do(req{method: "GET", path: path, bearer: audit}).expect(t, 200)
		h.do(req{method: "GET", path: path, bearer: ops}).expect(t, 200)
		h.do(req{method: "GET", path: path, bearer: citizen}).expect(t, 403, "forbidden_role")
		h.do(req{method: "GET", path: path}).expect(t, 401, "missing_token")
	}
	for _, op := range []string{admin, ops, audit} {
		h.do(req{method: "GET", path: "/v1/benefits", bearer: op}).expect(t, 403, "forbidden_role")
		h.claim(op, b.ID, "k2").expect(t, 403, "forbidden_role")
		h.do(req{method: "GET", path: "/v1/me/vouchers", bearer: op}).expect(t, 403, "forbidden_role")
		h.do(req{method: "GET", path: "/v1/me/vouchers/" + v.ID, bearer: op}).expect(t, 403, "forbidden_role")
	}
	h.do(req{method: "GET", path: "/v1/benefits"}).expect(t, 401, "missing_token")
	h.claim("", b.ID, "k3").expect(t, 401, "missing_token")

	// A deleted account cannot list or claim, even with a token still valid.
	h.do(req{method: "DELETE", path: "/v1/me", bearer: citizen}).expect(t, 204)
	for _, r := range []response{
		h.do(req{method: "GET", path: "/v1/benefits", bearer: citizen}),
		h.claim(citizen, b.ID, "after-erasure"),
	} {
		if r.Status != 401 {
			t.Fatalf("after erasure: %d %s", r.Status, r.Body)
		}
	}
}

func TestConcurrentClaimsNeverOversell(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	bank := h.addBank("huzhou_bank", "湖州银行")
	b := h.createBenefit(admin, benefitRequest(bank.ID, func(m map[string]any) { m["stock"] = 3 }))
	citizens := make([]string, 20)
	for i := range citizens {
		citizens[i] = h.devLogin(fmt.Sprintf("1380013%04d", i)).AccessToken
		h.credit(citizens[i], 1000, 0)
	}
	var created, soldOut atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tk := range citizens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := h.claim(tk, b.ID, fmt.Sprint("race-", i))
			switch {
			case r.Status == 201:
				created.Add(1)
			case r.Status == 422 && strings.Contains(string(r.Body), `"code":"sold_out"`):
				soldOut.Add(1)
			default:
				t.Errorf("claim answered %d: %s", r.Status, r.Body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if created.Load() != 3 || soldOut.Load() != 17 {
		t.Fatalf("%d issued, %d sold out; want 3 and 17", created.Load(), soldOut.Load())
	}
	var seen adminBenefit
	h.do(req{method: "GET", path: "/v1/admin/benefits/" + b.ID, bearer: admin}).expect(t, 200).decode(t, &seen)
	var spent int64
	for _, tk := range citizens {
		balance, _ := h.balance(tk)
		spent += 1000 - balance
	}
	if seen.Claimed != 3 || seen.StockLeft != 0 || spent != 300 {
		t.Fatalf("claimed %d, stock left %d, points spent %d", seen.Claimed, seen.StockLeft, spent)
	}
}

func TestOneCitizensParallelClaimsKeepTheLimitAndTheKey(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	bank := h.addBank("huzhou_bank", "湖州银行")
	b := h.createBenefit(admin, benefitRequest(bank.ID, func(m map[string]any) { m["stock"], m["per_citizen_limit"] = 50, 2 }))
	tk := h.devLogin("13800138000").AccessToken
	h.credit(tk, 10_000, 0)

	// Ten claims with ten keys: two vouchers, the limit.
	statuses := make(chan int, 20)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); statuses <- h.claim(tk, b.ID, fmt.Sprint("key-", i)).Status }()
	}
	wg.Wait()
	// Ten retries of one more key (on a fresh benefit): one voucher, the same to all.
	other := h.createBenefit(admin, benefitRequest(bank.ID, func(m map[string]any) { m["stock"] = 50 }))
	ids := make(chan string, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.claim(tk, other.ID, "retried")
			if r.Status != 201 && r.Status != 200 {
				t.Errorf("retry answered %d: %s", r.Status, r.Body)
				return
			}
			var v voucher
			r.decode(t, &v)
			ids <- v.ID
		}()
	}
	wg.Wait()
	close(statuses)
	close(ids)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	distinct := map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	if count[201] != 2 || count[422] != 8 || len(distinct) != 1 {
		t.Fatalf("statuses %v, %d distinct vouchers for one key", count, len(distinct))
	}
	if balance, _ := h.balance(tk); balance != 10_000-3*100 {
		t.Fatalf("balance %d after three vouchers", balance)
	}
	if list := h.vouchers(tk); len(list) != 3 {
		t.Fatalf("%d vouchers", len(list))
	}
}
