package redis

import (
	"os"
	"testing"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/leaderboardtest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// TestLeaderboardContract holds the Redis boards to the same contract as the
// in-process ones, on a real server when REDIS_URL is set, else on miniredis.
// Every board gets a key prefix of its own, deleted when its subtest ends.
func TestLeaderboardContract(t *testing.T) {
	if os.Getenv("REDIS_URL") != "" {
		t.Log("running against REDIS_URL")
	} else {
		t.Log("REDIS_URL not set: running against in-process miniredis")
	}
	leaderboardtest.Run(t, func(t *testing.T) domain.Leaderboard {
		lb, _, _ := openLeaderboard(t)
		return lb
	})
}

// TestLeaderboardService runs domain.LeaderboardService on the Redis boards.
func TestLeaderboardService(t *testing.T) {
	leaderboardtest.RunService(t, func(t *testing.T) domain.Leaderboard {
		lb, _, _ := openLeaderboard(t)
		return lb
	})
}
