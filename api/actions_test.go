package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type action struct {
	ID               string  `json:"id"`
	Type             string  `json:"type"`
	Status           string  `json:"status"`
	RuleVersion      int     `json:"rule_version"`
	Quantity         float64 `json:"quantity"`
	CreditedQuantity float64 `json:"credited_quantity"`
	CO2eGrams        int64   `json:"co2e_g"`
	Points           int64   `json:"points"`
	Balance          int64   `json:"balance"`
	Capped           bool    `json:"capped"`
	Cap              *struct {
		Limit          string `json:"limit"`
		PointsWithheld int64  `json:"points_withheld"`
	} `json:"cap"`
	Evidence *struct{ Source, Reference string } `json:"evidence"`
}

var evidenceSeq struct {
	sync.Mutex
	n int
}

// ride is a metro ride with fresh evidence, a minute ago.
func ride() map[string]any {
	evidenceSeq.Lock()
	evidenceSeq.n++
	n := evidenceSeq.n
	evidenceSeq.Unlock()
	return map[string]any{
		"type": "travel.metro", "quantity": 1, "occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339),
		"evidence": map[string]any{"source": "transit_card", "reference": fmt.Sprintf("ride-%d-%d", time.Now().UnixNano(), n)},
	}
}

func (h *harness) record(bearer, key string, body map[string]any) response {
	h.t.Helper()
	return h.do(req{method: "POST", path: "/v1/actions", bearer: bearer, body: body, headers: map[string]string{"Idempotency-Key": key}})
}

func TestRecordingAMetroRideCreditsPointsEverywhere(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	var a action
	r := h.record(tk, "k1", ride()).expect(t, 201)
	r.decode(t, &a)
	if a.Status != "credited" || a.RuleVersion != 1 || a.CO2eGrams <= 0 || a.Points <= 0 || a.Balance != a.Points || a.Capped {
		t.Fatalf("recorded %+v", a)
	}
	if r.Header.Get("Location") != "/v1/actions/"+a.ID {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	var me struct {
		Balance           int64 `json:"balance"`
		CO2eGramsTotal    int64 `json:"co2e_g_total"`
		PointsEarnedTotal int64 `json:"points_earned_total"`
	}
	h.do(req{method: "GET", path: "/v1/me", bearer: tk}).expect(t, 200).decode(t, &me)
	if me.Balance != a.Points || me.CO2eGramsTotal != a.CO2eGrams || me.PointsEarnedTotal != a.Points {
		t.Fatalf("profile %+v after %+v", me, a)
	}
	var list struct{ Items []action }
	h.do(req{method: "GET", path: "/v1/actions", bearer: tk}).expect(t, 200).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != a.ID {
		t.Fatalf("history %+v", list)
	}
	h.do(req{method: "GET", path: "/v1/actions/" + a.ID, bearer: tk}).expect(t, 200)
	var ledger struct {
		Items []struct {
			Kind         string `json:"kind"`
			Points       int64  `json:"points"`
			BalanceAfter int64  `json:"balance_after"`
			Cause        struct{ Type, ID string }
		}
	}
	h.do(req{method: "GET", path: "/v1/me/ledger", bearer: tk}).expect(t, 200).decode(t, &ledger)
	if len(ledger.Items) != 1 || ledger.Items[0].Kind != "earn" || ledger.Items[0].Points != a.Points || ledger.Items[0].Cause.ID != a.ID {
		t.Fatalf("ledger %+v", ledger)
	}
	var export struct {
		Identity struct{ Phone string }
		Actions  []action
		Ledger   []any
	}
	h.do(req{method: "GET", path: "/v1/me/export", bearer: tk}).expect(t, 200).decode(t, &export)
	if export.Identity.Phone != "+8613800138000" || len(export.Actions) != 1 || len(export.Ledger) != 1 {
		t.Fatalf("export %+v", export)
	}
}

func TestTheSameIdempotencyKeyReplaysAndADifferentBodyIsRefused(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	body := ride()
	var first, again action
	h.record(tk, "same-key", body).expect(t, 201).decode(t, &first)
	r := h.record(tk, "same-key", body).expect(t, 201)
	r.decode(t, &again)
	if again.ID != first.ID || again.Balance != first.Balance || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %+v (header %q) of %+v", again, r.Header.Get("Idempotent-Replayed"), first)
	}
	h.record(tk, "same-key", ride()).expect(t, 422, "idempotency_key_reused")
	// Keys belong to the citizen: another citizen may use the same one.
	other := h.devLogin("13900139000").AccessToken
	h.record(other, "same-key", ride()).expect(t, 201)
	h.do(req{method: "POST", path: "/v1/actions", bearer: tk, body: ride()}).expect(t, 400, "idempotency_key_required")
}

func TestTwentyConcurrentRetriesHaveOneEffect(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	body := ride()
	ids := make(chan string, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a action
			r := h.record(tk, "retry-key", body)
			if r.Status != 201 {
				t.Errorf("status %d: %s", r.Status, r.Body)
				return
			}
			r.decode(t, &a)
			ids <- a.ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	var list struct{ Items []action }
	h.do(req{method: "GET", path: "/v1/actions", bearer: tk}).expect(t, 200).decode(t, &list)
	if len(seen) != 1 || len(list.Items) != 1 {
		t.Fatalf("%d distinct responses, %d actions recorded", len(seen), len(list.Items))
	}
}

func TestCitizensCannotSeeEachOthersActions(t *testing.T) {
	h := newHarness(t)
	alice := h.devLogin("13800138000").AccessToken
	bob := h.devLogin("13900139000").AccessToken
	var a action
	h.record(alice, "k", ride()).expect(t, 201).decode(t, &a)
	h.do(req{method: "GET", path: "/v1/actions/" + a.ID, bearer: bob}).expect(t, 404, "action_not_found")
	var list struct{ Items []action }
	h.do(req{method: "GET", path: "/v1/actions", bearer: bob}).expect(t, 200).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatal("bob sees alice's actions")
	}
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.record(admin, "k", ride()).expect(t, 403, "forbidden_role")
}

func TestEvidenceIsCreditedOnceAcrossCitizens(t *testing.T) {
	h := newHarness(t)
	alice := h.devLogin("13800138000").AccessToken
	bob := h.devLogin("13900139000").AccessToken
	body := ride()
	h.record(alice, "a", body).expect(t, 201)
	h.record(bob, "b", body).expect(t, 409, "evidence_already_used")
}

func TestTheDailyCapCreditsUpToTheCapThenRefuses(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	var total int64
	for i := 0; ; i++ {
		r := h.record(tk, fmt.Sprint("ride-", i), ride())
		if r.Status == 422 {
			r.expect(t, 422, "daily_cap_reached")
			break
		}
		var a action
		r.expect(t, 201).decode(t, &a)
		total += a.Points
		if i > 50 {
			t.Fatal("no daily cap on metro rides")
		}
	}
	var me struct{ Balance int64 }
	h.do(req{method: "GET", path: "/v1/me", bearer: tk}).expect(t, 200).decode(t, &me)
	if me.Balance != total {
		t.Fatalf("balance %d, credited %d", me.Balance, total)
	}
}

func TestBadActionsAreRefusedAndWriteNothing(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	now := time.Now()
	with := func(change func(map[string]any)) map[string]any {
		b := ride()
		change(b)
		return b
	}
	cases := map[string]struct {
		body   map[string]any
		status int
		code   string
		field  string
	}{
		"unknown type":        {with(func(b map[string]any) { b["type"] = "travel.teleport" }), 400, "validation_failed", "type"},
		"zero quantity":       {with(func(b map[string]any) { b["quantity"] = 0 }), 400, "validation_failed", "quantity"},
		"negative quantity":   {with(func(b map[string]any) { b["quantity"] = -1 }), 400, "validation_failed", "quantity"},
		"half a trip":         {with(func(b map[string]any) { b["quantity"] = 0.5 }), 400, "validation_failed", "quantity"},
		"exponent":            {with(func(b map[string]any) { b["quantity"] = 1e3 }), 400, "validation_failed", "quantity"},
		"above maximum":       {with(func(b map[string]any) { b["quantity"] = 1000 }), 400, "validation_failed", "quantity"},
		"quantity as text":    {with(func(b map[string]any) { b["quantity"] = "lots" }), 400, "validation_failed", "quantity"},
		"in the future":       {with(func(b map[string]any) { b["occurred_at"] = now.Add(time.Hour).Format(time.RFC3339) }), 400, "validation_failed", "occurred_at"},
		"too long ago":        {with(func(b map[string]any) { b["occurred_at"] = now.Add(-40 * 24 * time.Hour).Format(time.RFC3339) }), 400, "validation_failed", "occurred_at"},
		"not a time":          {with(func(b map[string]any) { b["occurred_at"] = "yesterday" }), 400, "validation_failed", "occurred_at"},
		"missing evidence":    {with(func(b map[string]any) { delete(b, "evidence") }), 400, "validation_failed", "evidence"},
		"half evidence":       {with(func(b map[string]any) { b["evidence"] = map[string]any{"source": "transit_card"} }), 400, "validation_failed", "evidence"},
		"unaccepted source":   {with(func(b map[string]any) { b["evidence"].(map[string]any)["source"] = "my_word" }), 400, "validation_failed", "evidence.source"},
		"injection in type":   {with(func(b map[string]any) { b["type"] = map[string]any{"$ne": ""} }), 400, "validation_failed", "type"},
		"injection in ref":    {with(func(b map[string]any) { b["evidence"].(map[string]any)["reference"] = map[string]any{"$gt": ""} }), 400, "validation_failed", "evidence.reference"},
		"unknown field":       {with(func(b map[string]any) { b["points"] = 1000000 }), 400, "validation_failed", "points"},
		"missing type":        {with(func(b map[string]any) { delete(b, "type") }), 400, "validation_failed", "type"},
		"huge reference":      {with(func(b map[string]any) { b["evidence"].(map[string]any)["reference"] = strings.Repeat("r", 300) }), 400, "validation_failed", "evidence"},
		"missing occurred_at": {with(func(b map[string]any) { delete(b, "occurred_at") }), 400, "validation_failed", "occurred_at"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := h.record(tk, "key-"+name, c.body).expect(t, c.status, c.code).problem(t)
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Fatalf("errors %+v, want field %s", p.Errors, c.field)
			}
		})
	}
	var list struct{ Items []action }
	h.do(req{method: "GET", path: "/v1/actions", bearer: tk}).expect(t, 200).decode(t, &list)
	var ledger struct{ Items []any }
	h.do(req{method: "GET", path: "/v1/me/ledger", bearer: tk}).expect(t, 200).decode(t, &ledger)
	if len(list.Items) != 0 || len(ledger.Items) != 0 {
		t.Fatalf("refused actions wrote %d actions and %d ledger entries", len(list.Items), len(ledger.Items))
	}
	// And the keys of refused requests stay free for a corrected request.
	h.record(tk, "key-unknown type", ride()).expect(t, 201)
}

func TestErasureKeepsTheLedgerButNotTheEvidence(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	body := ride()
	var a action
	h.record(tk, "k", body).expect(t, 201).decode(t, &a)
	h.do(req{method: "DELETE", path: "/v1/me", bearer: tk}).expect(t, 204)
	stored, err := h.store.GetAction(t.Context(), a.ID)
	if err != nil || stored.Evidence.Reference != "" || stored.Points != a.Points {
		t.Fatalf("after erasure: %+v, %v", stored, err)
	}
	// The erased account's evidence still cannot be credited again.
	h.record(h.devLogin("13800138000").AccessToken, "k", body).expect(t, 409, "evidence_already_used")
}

func TestActivityTypesListTheCoefficientsInForce(t *testing.T) {
	h := newHarness(t)
	var list struct {
		Items []struct {
			Code         string `json:"code"`
			Category     string `json:"category"`
			RuleVersion  int    `json:"rule_version"`
			Coefficients struct {
				CO2eMgPerUnit int64 `json:"co2e_mg_per_unit"`
				Methodology   string
			} `json:"coefficients"`
		}
	}
	h.do(req{method: "GET", path: "/v1/activity-types"}).expect(t, 200).decode(t, &list)
	categories := map[string]int{}
	for _, it := range list.Items {
		categories[it.Category]++
		if it.Coefficients.Methodology == "" || it.RuleVersion < 1 {
			t.Errorf("%s lacks methodology or version", it.Code)
		}
	}
	if len(list.Items) < 18 || len(categories) != 3 {
		t.Fatalf("%d types over %v", len(list.Items), categories)
	}
}
