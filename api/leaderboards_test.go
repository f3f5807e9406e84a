package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// rideGrams is the CO2e a metro ride (travel.metro, one trip) earns.
const rideGrams = 515

type boardRow struct {
	Rank      int64  `json:"rank"`
	Nickname  string `json:"nickname"`
	CO2eGrams int64  `json:"co2e_g"`
	Me        bool   `json:"me"`
}

type board struct {
	Period      string     `json:"period"`
	District    *string    `json:"district"`
	PeriodStart *time.Time `json:"period_start"`
	PeriodEnd   *time.Time `json:"period_end"`
	Ranked      int64      `json:"ranked"`
	Items       []boardRow `json:"items"`
	Me          struct {
		Rank      *int64     `json:"rank"`
		CO2eGrams int64      `json:"co2e_g"`
		Above     []boardRow `json:"above"`
		Below     []boardRow `json:"below"`
	} `json:"me"`
}

// names lists the rows' nicknames in order.
func names(rows []boardRow) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Nickname)
	}
	return out
}

// checkRanks fails unless rows are ranked from..from+len(rows)-1 in order.
func checkRanks(t *testing.T, what string, rows []boardRow, from int64) {
	t.Helper()
	for i, r := range rows {
		if r.Rank != from+int64(i) {
			t.Fatalf("%s: row %d has rank %d, want %d: %+v", what, i, r.Rank, from+int64(i), rows)
		}
	}
}

// signUp signs a new citizen in with a nickname and district ("" for none) and
// returns their access token.
func (h *harness) signUp(phone, nickname, district string) string {
	h.t.Helper()
	body := map[string]any{"phone": phone, "nickname": nickname}
	if district != "" {
		body["district"] = district
	}
	var tk tokens
	h.do(req{method: "POST", path: "/v1/auth/dev-login", body: body}).expect(h.t, 200).decode(h.t, &tk)
	return tk.AccessToken
}

// rides records n metro rides for the citizen (at most 5 a day: the type's cap).
func (h *harness) rides(bearer string, n int) {
	h.t.Helper()
	for range n {
		var a action
		h.record(bearer, fmt.Sprintf("ride-%d", time.Now().UnixNano()), ride()).expect(h.t, 201).decode(h.t, &a)
		if a.Status != "credited" || a.CO2eGrams != rideGrams {
			h.t.Fatalf("ride recorded as %+v", a)
		}
	}
}

func (h *harness) board(bearer, query string) board {
	h.t.Helper()
	var b board
	h.do(req{method: "GET", path: "/v1/leaderboards" + query, bearer: bearer}).expect(h.t, 200).decode(h.t, &b)
	return b
}

func (h *harness) patchMe(bearer string, body map[string]any) {
	h.t.Helper()
	h.do(req{method: "PATCH", path: "/v1/me", bearer: bearer, body: body}).expect(h.t, 200)
}

func TestLeaderboardsRankCitizensByCO2eInEveryPeriod(t *testing.T) {
	h := newHarness(t)
	lu := h.signUp("13800138001", "阿绿", "wuxing")
	hu := h.signUp("13800138002", "小湖", "anji")
	tan := h.signUp("13800138003", "碳宝", "")
	watcher := h.signUp("13800138004", "旁观者", "deqing")
	h.rides(lu, 3)
	h.rides(hu, 1)
	h.rides(tan, 2)

	want := []boardRow{{1, "阿绿", 3 * rideGrams, false}, {2, "碳宝", 2 * rideGrams, false}, {3, "小湖", rideGrams, false}}
	for _, period := range []string{"", "?period=day", "?period=week", "?period=month", "?period=all"} {
		b := h.board(watcher, period)
		if !slices.Equal(b.Items, want) || b.Ranked != 3 || b.District != nil {
			t.Fatalf("%s: board %+v, want items %+v", period, b, want)
		}
		// Someone who recorded nothing this period is not ranked.
		if b.Me.Rank != nil || b.Me.CO2eGrams != 0 || len(b.Me.Above) != 0 || len(b.Me.Below) != 0 {
			t.Fatalf("%s: watcher's standing %+v", period, b.Me)
		}
	}
	if b := h.board(watcher, ""); b.Period != "all" || b.PeriodStart != nil || b.PeriodEnd != nil {
		t.Fatalf("default period: %+v", b)
	}

	// A ranked citizen finds their row marked and sees their neighbours.
	b := h.board(tan, "?period=week")
	if !b.Items[1].Me || b.Items[0].Me || b.Items[2].Me {
		t.Fatalf("only the second row is the asker's: %+v", b.Items)
	}
	if b.Me.Rank == nil || *b.Me.Rank != 2 || b.Me.CO2eGrams != 2*rideGrams ||
		!slices.Equal(names(b.Me.Above), []string{"阿绿"}) || !slices.Equal(names(b.Me.Below), []string{"小湖"}) {
		t.Fatalf("standing %+v", b.Me)
	}
	checkRanks(t, "above", b.Me.Above, 1)
	checkRanks(t, "below", b.Me.Below, 3)

	// limit cuts the items, not the count.
	b = h.board(watcher, "?limit=2")
	if !slices.Equal(b.Items, want[:2]) || b.Ranked != 3 {
		t.Fatalf("limit=2: %+v", b)
	}

	// A new ride counts at once.
	h.rides(hu, 3)
	b = h.board(watcher, "?period=day")
	if got := names(b.Items); !slices.Equal(got, []string{"小湖", "阿绿", "碳宝"}) || b.Items[0].CO2eGrams != 4*rideGrams {
		t.Fatalf("after 3 more rides: %+v", b.Items)
	}
}

func TestLeaderboardTiesGoToWhoGotThereFirst(t *testing.T) {
	h := newHarness(t)
	// early signs up first, so the tie-break by id alone would favour them.
	early := h.signUp("13800138001", "先来", "")
	late := h.signUp("13800138002", "后到", "")
	h.rides(late, 1)
	time.Sleep(5 * time.Millisecond) // distinct instants even on a coarse clock
	h.rides(early, 1)
	b := h.board(early, "?period=day")
	if !slices.Equal(names(b.Items), []string{"后到", "先来"}) || b.Items[0].CO2eGrams != b.Items[1].CO2eGrams {
		t.Fatalf("tie: %+v", b.Items)
	}
	checkRanks(t, "items", b.Items, 1)

	// early reaches two rides first; when late catches up, early stays ahead.
	h.rides(early, 1)
	time.Sleep(5 * time.Millisecond)
	h.rides(late, 1)
	b = h.board(early, "?period=day")
	if !slices.Equal(names(b.Items), []string{"先来", "后到"}) || b.Items[0].CO2eGrams != 2*rideGrams || b.Items[1].CO2eGrams != 2*rideGrams {
		t.Fatalf("second tie: %+v", b.Items)
	}
	if b.Me.Rank == nil || *b.Me.Rank != 1 || !b.Items[0].Me {
		t.Fatalf("early's standing %+v", b.Me)
	}
}

func TestLeaderboardShowsTheCitizensNeighbours(t *testing.T) {
	h := newHarness(t)
	// Seven citizens, recorded one after the other: ties go to the earlier one,
	// so citizen i ranks i+1.
	rides := []int{5, 4, 3, 3, 2, 1, 1}
	bearers := make([]string, len(rides))
	for i, n := range rides {
		bearers[i] = h.signUp(fmt.Sprintf("1380013%04d", i), fmt.Sprintf("绿友%d号", i+1), "")
		h.rides(bearers[i], n)
		time.Sleep(2 * time.Millisecond)
	}
	rank := func(rows []boardRow) []int64 {
		out := []int64{}
		for _, r := range rows {
			out = append(out, r.Rank)
		}
		return out
	}
	cases := []struct {
		who          int
		query        string
		above, below []int64
	}{
		{3, "", []int64{2, 3}, []int64{5, 6}},
		{3, "?neighbours=0", []int64{}, []int64{}},
		{3, "?neighbours=10", []int64{1, 2, 3}, []int64{5, 6, 7}},
		{0, "?neighbours=2", []int64{}, []int64{2, 3}},
		{6, "?neighbours=1", []int64{6}, []int64{}},
		{3, "?limit=3&neighbours=1", []int64{3}, []int64{5}},
	}
	for _, c := range cases {
		b := h.board(bearers[c.who], c.query)
		if b.Me.Rank == nil || *b.Me.Rank != int64(c.who+1) || b.Me.CO2eGrams != int64(rides[c.who])*rideGrams {
			t.Fatalf("citizen %d %s: standing %+v", c.who, c.query, b.Me)
		}
		if !slices.Equal(rank(b.Me.Above), c.above) || !slices.Equal(rank(b.Me.Below), c.below) {
			t.Fatalf("citizen %d %s: above %v below %v, want %v and %v", c.who, c.query, rank(b.Me.Above), rank(b.Me.Below), c.above, c.below)
		}
		for _, r := range append(b.Me.Above, b.Me.Below...) {
			if r.Me || r.Nickname != fmt.Sprintf("绿友%d号", r.Rank) {
				t.Fatalf("citizen %d %s: neighbour %+v", c.who, c.query, r)
			}
		}
		if b.Ranked != int64(len(rides)) {
			t.Fatalf("ranked %d", b.Ranked)
		}
	}
	// Outside the top: the items stop at the limit and the citizen is not among them.
	b := h.board(bearers[3], "?limit=3")
	if len(b.Items) != 3 || slices.ContainsFunc(b.Items, func(r boardRow) bool { return r.Me }) {
		t.Fatalf("limit=3 as rank 4: %+v", b.Items)
	}
}

func TestLeaderboardDefaultsToTwentyRowsAndTwoNeighbours(t *testing.T) {
	h := newHarness(t)
	var last string
	for i := range 21 {
		last = h.signUp(fmt.Sprintf("1390013%04d", i), fmt.Sprintf("第%d名", i+1), "")
		h.rides(last, 1)
		time.Sleep(2 * time.Millisecond)
	}
	b := h.board(last, "")
	if len(b.Items) != 20 || b.Ranked != 21 || b.Me.Rank == nil || *b.Me.Rank != 21 || len(b.Me.Below) != 0 ||
		!slices.Equal(names(b.Me.Above), []string{"第19名", "第20名"}) {
		t.Fatalf("defaults: %d items, ranked %d, me %+v", len(b.Items), b.Ranked, b.Me)
	}
	checkRanks(t, "items", b.Items, 1)
	b = h.board(last, "?limit=100")
	if len(b.Items) != 21 || !b.Items[20].Me {
		t.Fatalf("limit=100: %+v", b.Items)
	}
}

func TestOptedOutAndErasedCitizensLeaveTheBoards(t *testing.T) {
	h := newHarness(t)
	lu := h.signUp("13800138001", "阿绿", "wuxing")
	shy := h.signUp("13800138002", "害羞", "wuxing")
	gone := h.signUp("13800138003", "离开", "wuxing")
	h.rides(lu, 1)
	h.rides(shy, 2)
	h.rides(gone, 3)
	if got := names(h.board(lu, "").Items); !slices.Equal(got, []string{"离开", "害羞", "阿绿"}) {
		t.Fatalf("before: %v", got)
	}

	h.patchMe(shy, map[string]any{"leaderboard_opt_out": true})
	for _, q := range []string{"", "?period=day", "?district=wuxing"} {
		b := h.board(shy, q)
		if got := names(b.Items); !slices.Equal(got, []string{"离开", "阿绿"}) || b.Ranked != 2 {
			t.Fatalf("%s after opting out: %v, ranked %d", q, got, b.Ranked)
		}
		checkRanks(t, "items", b.Items, 1)
		// Hidden, but their own score is still theirs to see.
		if b.Me.Rank != nil || b.Me.CO2eGrams != 2*rideGrams || len(b.Me.Above) != 0 || len(b.Me.Below) != 0 {
			t.Fatalf("%s: opted-out standing %+v", q, b.Me)
		}
	}
	if b := h.board(lu, ""); b.Me.Rank == nil || *b.Me.Rank != 2 || !slices.Equal(names(b.Me.Above), []string{"离开"}) {
		t.Fatalf("the others close ranks: %+v", b.Me)
	}

	// Erasing the account takes it off every board.
	h.do(req{method: "DELETE", path: "/v1/me", bearer: gone}).expect(t, 204)
	if got := names(h.board(lu, "").Items); !slices.Equal(got, []string{"阿绿"}) {
		t.Fatalf("after erasure: %v", got)
	}

	// Opting back in puts the whole score back.
	h.patchMe(shy, map[string]any{"leaderboard_opt_out": false})
	b := h.board(shy, "")
	if got := names(b.Items); !slices.Equal(got, []string{"害羞", "阿绿"}) || b.Me.Rank == nil || *b.Me.Rank != 1 || b.Me.CO2eGrams != 2*rideGrams {
		t.Fatalf("after opting back in: %v, me %+v", got, b.Me)
	}
}

func TestDistrictBoardsRankOnlyTheirDistrictsCitizens(t *testing.T) {
	h := newHarness(t)
	wu := h.signUp("13800138001", "吴兴人", "wuxing")
	an := h.signUp("13800138002", "安吉人", "anji")
	none := h.signUp("13800138003", "无区", "")
	h.rides(wu, 2)
	h.rides(an, 3)
	h.rides(none, 1)

	b := h.board(wu, "?district=wuxing&period=month")
	if b.District == nil || *b.District != "wuxing" || b.Period != "month" || !slices.Equal(names(b.Items), []string{"吴兴人"}) || b.Ranked != 1 {
		t.Fatalf("wuxing board: %+v", b)
	}
	if b.Me.Rank == nil || *b.Me.Rank != 1 || !b.Items[0].Me {
		t.Fatalf("wuxing citizen on their board: %+v", b.Me)
	}
	// Citizens of other districts (or none) are not ranked there.
	for _, bearer := range []string{an, none} {
		if b := h.board(bearer, "?district=wuxing"); b.Me.Rank != nil || slices.ContainsFunc(b.Items, func(r boardRow) bool { return r.Me }) {
			t.Fatalf("outsider on the wuxing board: %+v", b)
		}
	}
	if b := h.board(none, "?district=nanxun"); len(b.Items) != 0 || b.Ranked != 0 || b.Me.Rank != nil {
		t.Fatalf("empty nanxun board: %+v", b)
	}
	if got := names(h.board(none, "").Items); !slices.Equal(got, []string{"安吉人", "吴兴人", "无区"}) {
		t.Fatalf("city-wide: %v", got)
	}

	// Moving district moves the whole score.
	h.patchMe(wu, map[string]any{"district": "anji"})
	if b := h.board(wu, "?district=wuxing"); len(b.Items) != 0 || b.Ranked != 0 {
		t.Fatalf("wuxing after the move: %+v", b)
	}
	b = h.board(wu, "?district=anji")
	if got := names(b.Items); !slices.Equal(got, []string{"安吉人", "吴兴人"}) || b.Items[1].CO2eGrams != 2*rideGrams || b.Me.Rank == nil || *b.Me.Rank != 2 {
		t.Fatalf("anji after the move: %+v", b)
	}
}

func TestLeaderboardsRevealNoIDsOrPhoneNumbers(t *testing.T) {
	h := newHarness(t)
	phones := []string{"13800138001", "13800138002"}
	var ids []string
	for i, phone := range phones {
		tk := h.devLogin(phone).AccessToken // a random nickname
		if i == 1 {
			h.patchMe(tk, map[string]any{"district": "nanxun"})
		}
		h.rides(tk, i+1)
		var me profile
		h.do(req{method: "GET", path: "/v1/me", bearer: tk}).expect(t, 200).decode(t, &me)
		ids = append(ids, me.ID)
	}
	asker := h.devLogin(phones[0]).AccessToken
	for _, q := range []string{"", "?period=day&neighbours=10", "?district=nanxun"} {
		r := h.do(req{method: "GET", path: "/v1/leaderboards" + q, bearer: asker}).expect(t, 200)
		body := string(r.Body)
		for _, secret := range append(append([]string{}, ids...), phones...) {
			if strings.Contains(body, secret) {
				t.Fatalf("%s reveals %q: %s", q, secret, body)
			}
		}
		if strings.Contains(body, `"id"`) || strings.Contains(body, "citizen") || strings.Contains(body, "phone") {
			t.Fatalf("%s has an id or phone field: %s", q, body)
		}
		if !strings.Contains(body, "绿友") {
			t.Fatalf("%s shows no nickname: %s", q, body)
		}
	}
}

// withBoardClock fixes the time the leaderboards read their period from.
func withBoardClock(at time.Time) harnessOption {
	return func(d *api.Deps, _ *domain.AuthService) { d.Leaderboards.Now = func() time.Time { return at } }
}

func TestLeaderboardPeriodsAreShanghaiDaysISOWeeksAndMonths(t *testing.T) {
	type span struct{ start, end any } // the raw JSON values
	cases := []struct {
		now  string
		want map[string]span
	}{
		{"2026-11-27T10:00:00+08:00", map[string]span{ // a Friday
			"day":   {"2026-11-26T16:00:00Z", "2026-11-27T16:00:00Z"},
			"week":  {"2026-11-22T16:00:00Z", "2026-11-29T16:00:00Z"},
			"month": {"2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z"},
			"all":   {nil, nil},
		}},
		{"2026-11-30T00:30:00+08:00", map[string]span{ // Monday in Shanghai, still Sunday in UTC
			"day":   {"2026-11-29T16:00:00Z", "2026-11-30T16:00:00Z"},
			"week":  {"2026-11-29T16:00:00Z", "2026-12-06T16:00:00Z"},
			"month": {"2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z"},
			"all":   {nil, nil},
		}},
		{"2027-01-01T07:59:59+08:00", map[string]span{ // ISO week 2026-W53, across the new year
			"day":   {"2026-12-31T16:00:00Z", "2027-01-01T16:00:00Z"},
			"week":  {"2026-12-27T16:00:00Z", "2027-01-03T16:00:00Z"},
			"month": {"2026-12-31T16:00:00Z", "2027-01-31T16:00:00Z"},
			"all":   {nil, nil},
		}},
	}
	for _, c := range cases {
		now, err := time.Parse(time.RFC3339, c.now)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, withBoardClock(now))
		tk := h.devLogin("13800138000").AccessToken
		for period, want := range c.want {
			var raw map[string]any
			h.do(req{method: "GET", path: "/v1/leaderboards?period=" + period, bearer: tk}).expect(t, 200).decode(t, &raw)
			if raw["period"] != period || raw["period_start"] != want.start || raw["period_end"] != want.end || raw["district"] != nil {
				t.Errorf("at %s, period %s: got %v .. %v (period %v), want %v .. %v", c.now, period, raw["period_start"], raw["period_end"], raw["period"], want.start, want.end)
			}
		}
	}
}

func TestPastPeriodsBoardsAreKeptForTheRetention(t *testing.T) {
	h := newHarness(t)
	tk := h.signUp("13800138000", "小湖", "")
	h.rides(tk, 1)
	today := domain.Now().In(domain.Shanghai)
	b := h.board(tk, "?period=day&date="+today.Format(time.DateOnly))
	if b.Ranked != 1 || b.Me.CO2eGrams != rideGrams {
		t.Fatalf("today's board by date: %+v", b)
	}
	yesterday := today.AddDate(0, 0, -1)
	b = h.board(tk, "?period=day&date="+yesterday.Format(time.DateOnly))
	wantStart := time.Date(yesterday.Year(), yesterday.Month(), yesterday.Day(), 0, 0, 0, 0, domain.Shanghai)
	if b.Ranked != 0 || b.PeriodStart == nil || !b.PeriodStart.Equal(wantStart) {
		t.Fatalf("yesterday's board: %+v, want an empty one from %s", b, wantStart)
	}
	// The default retention keeps a board 7 days after its period ends.
	h.do(req{method: "GET", path: "/v1/leaderboards?period=day&date=" + today.AddDate(0, 0, -8).Format(time.DateOnly), bearer: tk}).expect(t, 404, "board_expired")
	if b := h.board(tk, "?period=all&date=2020-01-01"); b.Ranked != 1 {
		t.Fatalf("the all-time board ignores date: %+v", b)
	}
}

func TestLeaderboardQueryIsValidated(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000").AccessToken
	cases := map[string]map[string]string{ // query → field → code
		"period=year":                         {"period": "unknown_period"},
		"period=DAY":                          {"period": "unknown_period"},
		"period=all%00":                       {"period": "unknown_period"},
		"district=hangzhou":                   {"district": "unknown_district"},
		"district=WUXING":                     {"district": "unknown_district"},
		"district=%7B%22%24gt%22%3A%22%22%7D": {"district": "unknown_district"},
		"limit=0":                             {"limit": "out_of_range"},
		"limit=101":                           {"limit": "out_of_range"},
		"limit=-1":                            {"limit": "out_of_range"},
		"limit=x":                             {"limit": "out_of_range"},
		"limit=1.5":                           {"limit": "out_of_range"},
		"limit=99999999999999999999":          {"limit": "out_of_range"},
		"neighbours=-1":                       {"neighbours": "out_of_range"},
		"neighbours=11":                       {"neighbours": "out_of_range"},
		"neighbours=two":                      {"neighbours": "out_of_range"},
		"date=2026-13-01":                     {"date": "invalid_date"},
		"date=yesterday":                      {"date": "invalid_date"},
		"date=2026-11-27T00:00:00Z":           {"date": "invalid_date"},
		"date=2999-01-01":                     {"date": "in_future"},
		"period=year&district=x&limit=abc&neighbours=99": {
			"period": "unknown_period", "district": "unknown_district", "limit": "out_of_range", "neighbours": "out_of_range",
		},
	}
	for q, want := range cases {
		t.Run(q, func(t *testing.T) {
			p := h.do(req{method: "GET", path: "/v1/leaderboards?" + q, bearer: tk}).expect(t, 400, "validation_failed").problem(t)
			got := map[string]string{}
			for _, fe := range p.Errors {
				got[fe.Field] = fe.Code
			}
			if len(got) != len(want) || len(p.Errors) != len(want) {
				t.Fatalf("errors %+v, want %v", p.Errors, want)
			}
			for f, code := range want {
				if got[f] != code {
					t.Fatalf("errors %+v, want %v", p.Errors, want)
				}
			}
		})
	}
	// The boundaries themselves are fine.
	for _, q := range []string{"limit=1", "limit=100", "neighbours=0", "neighbours=10", "district=anji", "period=week&limit=5&neighbours=3&district=changxing"} {
		h.do(req{method: "GET", path: "/v1/leaderboards?" + q, bearer: tk}).expect(t, 200)
	}
}

func TestLeaderboardsAreForCitizensOnly(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.do(req{method: "GET", path: "/v1/leaderboards", bearer: admin}).expect(t, 403, "forbidden_role")
	r := h.do(req{method: "GET", path: "/v1/leaderboards"}).expect(t, 401, "missing_token")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without a challenge")
	}
	h.do(req{method: "GET", path: "/v1/leaderboards", bearer: "not-a-token"}).expect(t, 401, "invalid_token")
}

// The body is one JSON object with exactly the documented fields.
func TestLeaderboardResponseShape(t *testing.T) {
	h := newHarness(t)
	tk := h.signUp("13800138000", "形状", "anji")
	h.rides(tk, 1)
	var raw map[string]json.RawMessage
	h.do(req{method: "GET", path: "/v1/leaderboards?period=week&district=anji", bearer: tk}).expect(t, 200).decode(t, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"district", "items", "me", "period", "period_end", "period_start", "ranked"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	var me map[string]json.RawMessage
	if err := json.Unmarshal(raw["me"], &me); err != nil {
		t.Fatal(err)
	}
	if string(me["rank"]) != "1" || string(me["co2e_g"]) != fmt.Sprint(rideGrams) || string(me["above"]) != "[]" || string(me["below"]) != "[]" {
		t.Fatalf("me %s", raw["me"])
	}
}
