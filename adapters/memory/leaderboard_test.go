package memory_test

import (
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/leaderboardtest"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The in-process boards meet the same contract as Redis's, and carry the
// leaderboard service the same way.

func TestLeaderboardContract(t *testing.T) {
	leaderboardtest.Run(t, func(t *testing.T) domain.Leaderboard { return memory.NewLeaderboard(time.Now) })
}

func TestLeaderboardService(t *testing.T) {
	leaderboardtest.RunService(t, func(t *testing.T) domain.Leaderboard { return memory.NewLeaderboard(time.Now) })
}
