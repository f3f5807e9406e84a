package api

import (
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// leaderboardRowBody is one ranked citizen as every citizen may see them: a rank,
// a public nickname and a score, never an id or a phone number.
type leaderboardRowBody struct {
	Rank      int64  `json:"rank"`
	Nickname  string `json:"nickname"`
	CO2eGrams int64  `json:"co2e_g"`
	Me        bool   `json:"me"` // the row of the citizen asking
}

// leaderboardMeBody is the asking citizen's standing.
type leaderboardMeBody struct {
	Rank      *int64               `json:"rank"` // null when not ranked on this board
	CO2eGrams int64                `json:"co2e_g"`
	Above     []leaderboardRowBody `json:"above"`
	Below     []leaderboardRowBody `json:"below"`
}

type leaderboardBody struct {
	Period      domain.Period        `json:"period"`
	District    *string              `json:"district"`
	PeriodStart *time.Time           `json:"period_start"`
	PeriodEnd   *time.Time           `json:"period_end"` // exclusive
	Ranked      int64                `json:"ranked"`
	Items       []leaderboardRowBody `json:"items"`
	Me          leaderboardMeBody    `json:"me"`
}

// leaderboardOf renders a board for the citizen meID, marking their own rows.
func leaderboardOf(v domain.LeaderboardView, meID string) leaderboardBody {
	rows := func(in []domain.BoardRow) []leaderboardRowBody {
		out := make([]leaderboardRowBody, 0, len(in))
		for _, r := range in {
			out = append(out, leaderboardRowBody{Rank: r.Rank, Nickname: r.Nickname, CO2eGrams: r.CO2eGrams, Me: r.CitizenID == meID})
		}
		return out
	}
	b := leaderboardBody{Period: v.Span.Period, Ranked: v.Page.Ranked, Items: rows(v.Page.Top),
		Me: leaderboardMeBody{Above: []leaderboardRowBody{}, Below: []leaderboardRowBody{}}}
	if v.District != "" {
		d := v.District
		b.District = &d
	}
	if !v.Span.Start.IsZero() {
		start, end := v.Span.Start.UTC(), v.Span.End.UTC()
		b.PeriodStart, b.PeriodEnd = &start, &end
	}
	if me := v.Page.Me; me != nil {
		b.Me.CO2eGrams = me.CO2eGrams
		if me.Rank > 0 {
			rank := me.Rank
			b.Me.Rank = &rank
			b.Me.Above, b.Me.Below = rows(me.Above), rows(me.Below)
		}
	}
	return b
}
