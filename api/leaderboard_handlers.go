package api

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Defaults of GET /v1/leaderboards; the bounds are the domain's (View checks them).
const (
	defaultBoardLimit      = 20
	defaultBoardNeighbours = 2
)

// getLeaderboard answers the current (or a recent) period's board with the
// citizen's standing.
// Only the handler reads the query string; View checks every value and names each
// bad one, so all of them are reported at once.
func (s *server) getLeaderboard(c *fiber.Ctx) error {
	me := principal(c).SubjectID
	view, err := s.Leaderboards.View(c.UserContext(), me, domain.LeaderboardQuery{
		Period:     domain.Period(strings.Clone(c.Query("period", string(domain.PeriodAll)))),
		Date:       strings.Clone(c.Query("date")),
		District:   strings.Clone(c.Query("district")),
		Limit:      wholeNumberQuery(c, "limit", defaultBoardLimit),
		Neighbours: wholeNumberQuery(c, "neighbours", defaultBoardNeighbours),
	})
	if err != nil {
		return err
	}
	return c.JSON(leaderboardOf(view, me))
}

// wholeNumberQuery reads an integer query parameter, def when absent or empty. A
// value that is not a whole number reads as -1, below every range the domain
// accepts, so it is reported as out_of_range like any other bad value (as
// pageParams reports ?limit=x).
func wholeNumberQuery(c *fiber.Ctx, name string, def int) int {
	raw := c.Query(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return -1
	}
	return n
}
