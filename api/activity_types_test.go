package api_test

import (
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func coefficients(mgPerUnit int64) map[string]any {
	return map[string]any{
		"enabled": true, "co2e_mg_per_unit": mgPerUnit, "points_per_kg": 1000, "points_per_unit": 0,
		"quantity_decimals": 0, "max_quantity": 2, "daily_max_quantity": 4, "daily_max_points": 0,
		"evidence":    map[string]any{"required": true, "sources": []string{"ferry_ticket"}, "review": false},
		"methodology": "test factor", "confidence": "C",
	}
}

func TestOperatorsCreateTypesAndVersionTheirCoefficients(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.createOperator(admin, "ops", domain.RoleOperator)
	h.createOperator(admin, "audit", domain.RoleAuditor)
	ops := h.operatorLogin("ops", adminPassword).AccessToken
	audit := h.operatorLogin("audit", adminPassword).AccessToken
	citizen := h.devLogin("13800138000").AccessToken

	start := time.Now().Add(50 * time.Millisecond)
	create := map[string]any{"code": "travel.ferry", "category": "green_travel", "unit": "trip", "name": "渡轮", "name_en": "Ferry",
		"coefficients": coefficients(100_000), "effective_from": start.Format(time.RFC3339Nano), "note": "pilot"}
	h.do(req{method: "POST", path: "/v1/admin/activity-types", bearer: audit, body: create}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/activity-types", bearer: citizen, body: create}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/activity-types", bearer: ops, body: create}).expect(t, 201)
	h.do(req{method: "POST", path: "/v1/admin/activity-types", bearer: ops, body: create}).expect(t, 409, "activity_type_exists")

	// Version 2 doubles the factor from a moment later; version 1 stays as it was.
	switchAt := start.Add(500 * time.Millisecond)
	h.do(req{method: "POST", path: "/v1/admin/activity-types/travel.ferry/versions", bearer: ops, body: map[string]any{
		"coefficients": coefficients(200_000), "effective_from": switchAt.Format(time.RFC3339Nano), "note": "new survey"}}).expect(t, 201)
	h.do(req{method: "POST", path: "/v1/admin/activity-types/travel.ferry/versions", bearer: ops, body: map[string]any{
		"coefficients": coefficients(300_000), "effective_from": time.Now().Add(-time.Hour).Format(time.RFC3339), "note": "backdated"}}).
		expect(t, 400, "validation_failed")
	h.do(req{method: "POST", path: "/v1/admin/activity-types/travel.nothing/versions", bearer: ops, body: map[string]any{
		"coefficients": coefficients(1), "effective_from": time.Now().Add(time.Hour).Format(time.RFC3339), "note": "x"}}).
		expect(t, 404, "activity_type_not_found")

	var history struct {
		Versions []struct {
			RuleVersion  int    `json:"rule_version"`
			CreatedBy    string `json:"created_by"`
			Coefficients struct {
				CO2eMgPerUnit int64 `json:"co2e_mg_per_unit"`
			} `json:"coefficients"`
		}
	}
	h.do(req{method: "GET", path: "/v1/admin/activity-types/travel.ferry/versions", bearer: audit}).expect(t, 200).decode(t, &history)
	if len(history.Versions) != 2 || history.Versions[0].Coefficients.CO2eMgPerUnit != 100_000 || history.Versions[1].RuleVersion != 2 {
		t.Fatalf("history %+v", history)
	}
	h.do(req{method: "GET", path: "/v1/admin/activity-types", bearer: audit}).expect(t, 200)
	h.do(req{method: "GET", path: "/v1/admin/activity-types/travel.nothing/versions", bearer: audit}).expect(t, 404)

	// An action uses the version in force when it happened.
	time.Sleep(time.Until(switchAt.Add(50 * time.Millisecond)))
	ferry := func(at time.Time, ref string) action {
		var a action
		h.record(citizen, ref, map[string]any{"type": "travel.ferry", "quantity": 1, "occurred_at": at.Format(time.RFC3339Nano),
			"evidence": map[string]any{"source": "ferry_ticket", "reference": ref}}).expect(t, 201).decode(t, &a)
		return a
	}
	before, after := ferry(start.Add(10*time.Millisecond), "t1"), ferry(switchAt.Add(10*time.Millisecond), "t2")
	if before.RuleVersion != 1 || before.CO2eGrams != 100 || after.RuleVersion != 2 || after.CO2eGrams != 200 {
		t.Fatalf("before %+v, after %+v", before, after)
	}
}

func TestCoefficientsAreValidated(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	later := time.Now().Add(time.Hour).Format(time.RFC3339)
	bad := func(change func(map[string]any)) map[string]any {
		c := coefficients(1000)
		change(c)
		return map[string]any{"code": "waste.test", "category": "waste_sorting", "unit": "kg", "name": "测试", "name_en": "Test",
			"coefficients": c, "effective_from": later}
	}
	cases := map[string]map[string]any{
		"negative factor":     bad(func(c map[string]any) { c["co2e_mg_per_unit"] = -1 }),
		"fractional factor":   bad(func(c map[string]any) { c["co2e_mg_per_unit"] = 1.5 }),
		"no maximum":          bad(func(c map[string]any) { c["max_quantity"] = 0 }),
		"float maximum":       bad(func(c map[string]any) { c["max_quantity"] = 0.0001 }),
		"bad confidence":      bad(func(c map[string]any) { c["confidence"] = "Z" }),
		"missing methodology": bad(func(c map[string]any) { delete(c, "methodology") }),
		"missing enabled":     bad(func(c map[string]any) { delete(c, "enabled") }),
		"too many decimals":   bad(func(c map[string]any) { c["quantity_decimals"] = 7 }),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			h.do(req{method: "POST", path: "/v1/admin/activity-types", bearer: admin, body: body}).expect(t, 400, "validation_failed")
		})
	}
	wrongCategory := bad(func(map[string]any) {})
	wrongCategory["category"] = "space_travel"
	h.do(req{method: "POST", path: "/v1/admin/activity-types", bearer: admin, body: wrongCategory}).expect(t, 400, "validation_failed")
}
