package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const day = 24 * time.Hour

// pruneBefore is the cutoff the prune subtests pass: "now" is at(60*day) and the
// retention is 7 days.
var pruneBefore = at(53 * day)

// seedChain stores a session whose tokens expire at(e) for each e, in order: the
// first through CreateSession, the rest through AddRefreshToken.
func seedChain(t *testing.T, st domain.Store, expiries ...time.Duration) (domain.Session, []domain.RefreshToken) {
	t.Helper()
	s, first := newSession(domain.NewID(time.Now()))
	first.ExpiresAt = at(expiries[0])
	mustNoErr(t, "CreateSession", st.CreateSession(t.Context(), s, first))
	chain := []domain.RefreshToken{first}
	for _, e := range expiries[1:] {
		next := domain.RefreshToken{Hash: tokenHash(domain.RandomToken(32)), SessionID: s.ID, IssuedAt: at(e - 30*day), ExpiresAt: at(e)}
		mustNoErr(t, "AddRefreshToken", st.AddRefreshToken(t.Context(), next))
		chain = append(chain, next)
	}
	return s, chain
}

func revoke(t *testing.T, st domain.Store, s domain.Session, when time.Duration) {
	t.Helper()
	mustNoErr(t, "RevokeSession", st.RevokeSession(t.Context(), s.ID, at(when)))
}

func wantSession(t *testing.T, st domain.Store, what string, s domain.Session, kept bool) {
	t.Helper()
	_, err := st.GetSession(t.Context(), s.ID)
	checkKept(t, what+": session", err, kept)
}

func wantTokens(t *testing.T, st domain.Store, what string, tokens []domain.RefreshToken, kept bool) {
	t.Helper()
	for i, tok := range tokens {
		_, err := st.GetRefreshToken(t.Context(), tok.Hash)
		checkKept(t, fmt.Sprintf("%s: token %d", what, i), err, kept)
	}
}

func checkKept(t *testing.T, what string, err error, kept bool) {
	t.Helper()
	switch {
	case kept && err != nil:
		t.Errorf("%s: want kept, got %v", what, err)
	case !kept && !errors.Is(err, domain.ErrNotFound):
		t.Errorf("%s: want deleted (ErrNotFound), got %v", what, err)
	}
}

func prune(t *testing.T, st domain.Store, wantTokens, wantSessions int) {
	t.Helper()
	tokens, sessions, err := st.PruneSessions(t.Context(), pruneBefore)
	mustNoErr(t, "PruneSessions", err)
	if tokens != wantTokens || sessions != wantSessions {
		t.Errorf("PruneSessions = %d tokens, %d sessions; want %d, %d", tokens, sessions, wantTokens, wantSessions)
	}
}

func runPruneSessions(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("PruneSessions deletes what ended before the cutoff and keeps the rest", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		live, liveChain := seedChain(t, st, 30*day, 90*day)       // refreshed: old token expired, new one live
		expired, expiredChain := seedChain(t, st, 30*day, 40*day) // every token expired before the cutoff
		recent, recentChain := seedChain(t, st, 55*day)           // expired, but within the retention
		edge, edgeChain := seedChain(t, st, 53*day)               // expires exactly at the cutoff: not before it
		revokedOld, revokedOldChain := seedChain(t, st, 90*day)   // revoked before the cutoff, token still unexpired
		revokedNew, revokedNewChain := seedChain(t, st, 90*day)   // revoked after the cutoff
		revoke(t, st, revokedOld, 50*day)
		revoke(t, st, revokedNew, 58*day)

		prune(t, st, 4, 2) // liveChain[0], expiredChain (2), revokedOldChain; expired, revokedOld

		wantSession(t, st, "live", live, true)
		wantTokens(t, st, "live, expired", liveChain[:1], false)
		wantTokens(t, st, "live, current", liveChain[1:], true)
		wantSession(t, st, "expired", expired, false)
		wantTokens(t, st, "expired", expiredChain, false)
		wantSession(t, st, "recent", recent, true)
		wantTokens(t, st, "recent", recentChain, true)
		wantSession(t, st, "edge", edge, true)
		wantTokens(t, st, "edge", edgeChain, true)
		wantSession(t, st, "revoked before cutoff", revokedOld, false)
		wantTokens(t, st, "revoked before cutoff", revokedOldChain, false)
		wantSession(t, st, "revoked after cutoff", revokedNew, true)
		wantTokens(t, st, "revoked after cutoff", revokedNewChain, true)

		// The surviving session keeps working.
		mustNoErr(t, "SpendRefreshToken(live)", st.SpendRefreshToken(t.Context(), liveChain[1].Hash, at(60*day)))
		next := domain.RefreshToken{Hash: tokenHash(domain.RandomToken(32)), SessionID: live.ID, IssuedAt: at(60 * day), ExpiresAt: at(120 * day)}
		mustNoErr(t, "AddRefreshToken(live)", st.AddRefreshToken(t.Context(), next))
	})

	t.Run("PruneSessions is idempotent", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		prune(t, st, 0, 0) // empty store
		live, liveChain := seedChain(t, st, 90*day)
		seedChain(t, st, 30*day)
		prune(t, st, 1, 1)
		prune(t, st, 0, 0)
		wantSession(t, st, "live", live, true)
		wantTokens(t, st, "live", liveChain, true)
	})

	t.Run("PruneSessions deletes everything that ended, however many", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		const n = 7 // more than adapters' test batch sizes, so batching is exercised
		for i := range n {
			s, _ := seedChain(t, st, 10*day, 20*day)
			if i%2 == 0 {
				revoke(t, st, s, 21*day) // both reasons to end, in one run
			}
		}
		live, liveChain := seedChain(t, st, 10*day, 90*day)
		prune(t, st, 2*n+1, n)
		wantSession(t, st, "live", live, true)
		wantTokens(t, st, "live, current", liveChain[1:], true)
	})

	t.Run("PruneSessions racing with sign-ins and refreshes never deletes a live session or token", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		const n = 8
		refreshed, fresh, ended := make([]domain.Session, n), make([]domain.Session, n), make([]domain.Session, n)
		added, firsts := make([]domain.RefreshToken, n), make([]domain.RefreshToken, n)
		for i := range n {
			refreshed[i], _ = seedChain(t, st, 55*day) // expired, but within the retention
			ended[i], _ = seedChain(t, st, 30*day)
			fresh[i], firsts[i] = newSession(domain.NewID(time.Now()))
			firsts[i].ExpiresAt = at(90 * day)
		}
		errs := race(2*n+1, func(i int) error {
			switch {
			case i == 2*n:
				_, _, err := st.PruneSessions(t.Context(), pruneBefore)
				return err
			case i >= n:
				return st.CreateSession(t.Context(), fresh[i-n], firsts[i-n])
			}
			added[i] = domain.RefreshToken{Hash: tokenHash(domain.RandomToken(32)), SessionID: refreshed[i].ID, IssuedAt: at(55 * day), ExpiresAt: at(85 * day)}
			return st.AddRefreshToken(t.Context(), added[i])
		})
		for i, err := range errs {
			mustNoErr(t, fmt.Sprintf("racing call %d", i), err)
		}
		// A second run finishes whatever the racing one had not reached, as the next
		// scheduled run would.
		_, _, err := st.PruneSessions(t.Context(), pruneBefore)
		mustNoErr(t, "PruneSessions(again)", err)
		for i := range n {
			wantSession(t, st, "refreshed", refreshed[i], true)
			wantTokens(t, st, "refreshed, new", added[i:i+1], true)
			wantSession(t, st, "signed in", fresh[i], true)
			wantTokens(t, st, "signed in", firsts[i:i+1], true)
			wantSession(t, st, "ended", ended[i], false)
		}
	})
}
