package api_test

import (
	"strings"
	"sync"
	"testing"
)

type profile struct {
	ID                string  `json:"id"`
	Nickname          string  `json:"nickname"`
	District          *string `json:"district"`
	LeaderboardOptOut bool    `json:"leaderboard_opt_out"`
	Balance           int64   `json:"balance"`
	Level             int     `json:"level"`
}

func TestANewCitizenStartsAtLevelOneWithARandomNickname(t *testing.T) {
	h := newHarness(t)
	var me profile
	h.do(req{method: "GET", path: "/v1/me", bearer: h.devLogin("13800138000").AccessToken}).expect(t, 200).decode(t, &me)
	if me.Level != 1 || me.Balance != 0 || me.District != nil || !strings.HasPrefix(me.Nickname, "绿友") {
		t.Fatalf("new profile %+v", me)
	}
	if strings.Contains(me.Nickname, "8000") {
		t.Fatal("the default nickname reveals the phone number")
	}
}

func TestCitizensUpdateTheirProfile(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	var me profile
	h.do(req{method: "PATCH", path: "/v1/me", bearer: tk, body: map[string]any{"nickname": "湖州骑行者", "district": "wuxing", "leaderboard_opt_out": true}}).
		expect(t, 200).decode(t, &me)
	if me.Nickname != "湖州骑行者" || me.District == nil || *me.District != "wuxing" || !me.LeaderboardOptOut {
		t.Fatalf("after patch %+v", me)
	}
	// Fields left out stay as they were; "" clears the district.
	h.do(req{method: "PATCH", path: "/v1/me", bearer: tk, body: map[string]any{"district": ""}}).expect(t, 200).decode(t, &me)
	if me.Nickname != "湖州骑行者" || me.District != nil || !me.LeaderboardOptOut {
		t.Fatalf("after clearing district %+v", me)
	}
}

func TestProfileChangesAreValidated(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	cases := map[string]struct {
		body  map[string]any
		field string
	}{
		"unknown district":  {map[string]any{"district": "hangzhou"}, "district"},
		"empty nickname":    {map[string]any{"nickname": ""}, "nickname"},
		"long nickname":     {map[string]any{"nickname": strings.Repeat("绿", 21)}, "nickname"},
		"padded nickname":   {map[string]any{"nickname": " 小绿 "}, "nickname"},
		"control character": {map[string]any{"nickname": "a\u0007b"}, "nickname"},
		"opt-out as string": {map[string]any{"leaderboard_opt_out": "yes"}, "leaderboard_opt_out"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := h.do(req{method: "PATCH", path: "/v1/me", bearer: tk, body: c.body}).expect(t, 400, "validation_failed").problem(t)
			if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("errors %+v, want field %s", p.Errors, c.field)
			}
		})
	}
	var me profile
	h.do(req{method: "GET", path: "/v1/me", bearer: tk}).expect(t, 200).decode(t, &me)
	if me.District != nil || !strings.HasPrefix(me.Nickname, "绿友") {
		t.Fatalf("a refused change was written: %+v", me)
	}
}

func TestConcurrentProfileUpdatesAllLand(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 10 {
			h.do(req{method: "PATCH", path: "/v1/me", bearer: tk, body: map[string]any{"nickname": "小绿"}}).expect(t, 200)
		}
	}()
	go func() {
		defer wg.Done()
		for range 10 {
			h.do(req{method: "PATCH", path: "/v1/me", bearer: tk, body: map[string]any{"district": "deqing"}}).expect(t, 200)
		}
	}()
	wg.Wait()
	var me profile
	h.do(req{method: "GET", path: "/v1/me", bearer: tk}).expect(t, 200).decode(t, &me)
	if me.Nickname != "小绿" || me.District == nil || *me.District != "deqing" {
		t.Fatalf("one writer's change was lost: %+v", me)
	}
}

func TestDeletingTheAccountErasesItAndSignsOutEverywhere(t *testing.T) {
	h := newHarness(t)
	first := h.devLogin("13800138000")
	second := h.devLogin("13800138000")
	var before profile
	h.do(req{method: "GET", path: "/v1/me", bearer: first.AccessToken}).expect(t, 200).decode(t, &before)

	h.do(req{method: "DELETE", path: "/v1/me", bearer: first.AccessToken}).expect(t, 204)

	h.do(req{method: "GET", path: "/v1/me", bearer: first.AccessToken}).expect(t, 401, "account_erased")
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": second.RefreshToken}}).expect(t, 401, "session_revoked")

	stored, err := h.store.GetCitizen(t.Context(), before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Phone != "" || stored.Nickname != "" || stored.Identity.Subject == "+8613800138000" || stored.ErasedAt == nil {
		t.Fatalf("personal data kept after erasure: %+v", stored)
	}
	// Signing in again with the same number starts a new, empty account.
	var after profile
	h.do(req{method: "GET", path: "/v1/me", bearer: h.devLogin("13800138000").AccessToken}).expect(t, 200).decode(t, &after)
	if after.ID == before.ID {
		t.Fatal("the erased account came back")
	}
}

func TestDistrictsListsHuzhousFive(t *testing.T) {
	h := newHarness(t)
	var got struct {
		Items []struct{ Code, Name string }
	}
	h.do(req{method: "GET", path: "/v1/districts"}).expect(t, 200).decode(t, &got)
	var names []string
	for _, d := range got.Items {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "吴兴区,南浔区,德清县,长兴县,安吉县" {
		t.Fatalf("districts %v", names)
	}
}
