package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// runScans checks domain.CarbonLedger, what rebuilding and catching up the
// leaderboards read: ID-ordered pages of every citizen's carbon entries and of
// every citizen.
func runScans(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("scans of an empty store return nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		entries, err := s.ScanCarbonEntries(t.Context(), "", 10)
		mustNoErr(t, "ScanCarbonEntries(empty store)", err)
		if len(entries) != 0 {
			t.Errorf("ScanCarbonEntries(empty store) = %v, want none", idsOf(entries, entryID))
		}
		citizens, err := s.ScanCitizens(t.Context(), "", 10)
		mustNoErr(t, "ScanCitizens(empty store)", err)
		if len(citizens) != 0 {
			t.Errorf("ScanCitizens(empty store) = %v, want none", idsOf(citizens, citizenID))
		}

		seedAccount(t, s) // a citizen without entries
		entries, err = s.ScanCarbonEntries(t.Context(), "", 10)
		mustNoErr(t, "ScanCarbonEntries(no entries)", err)
		if len(entries) != 0 {
			t.Errorf("ScanCarbonEntries(no entries) = %v, want none", idsOf(entries, entryID))
		}
	})

	t.Run("ScanCarbonEntries returns every citizen's carbon entries in ID order, paged by afterID", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		citizens := []domain.Citizen{seedAccount(t, s), seedAccount(t, s), seedAccount(t, s)}
		// Entry IDs a millisecond apart, recorded out of order and across
		// citizens, so that neither insertion order nor citizen order is ID order.
		now := time.Now()
		ids := make([]string, 6)
		for i := range ids {
			ids[i] = domain.NewID(now.Add(time.Duration(i) * time.Millisecond))
		}
		credits := []domain.Credit{
			earn(domain.Units(1), 250, 25),
			earn(domain.Units(2), 500, 50),
			{Status: domain.ActionCredited, CreditedQuantity: domain.Units(1), CO2eGrams: 300}, // CO2e without points
			earn(domain.Units(3), 750, 75),
			earn(domain.Units(1), 120, 12),
			earn(domain.Units(4), 1000, 100),
		}
		var want []domain.LedgerEntry
		for _, i := range []int{3, 0, 5, 1, 4, 2} {
			a := newAction(citizens[i%len(citizens)].ID, "travel.metro", testDay)
			got, err := s.RecordAction(t.Context(), a, ids[i], grant(credits[i]))
			mustNoErr(t, "RecordAction", err)
			want = append(want, earnEntry(got))
		}
		slices.SortFunc(want, func(a, b domain.LedgerEntry) int { return cmp.Compare(a.ID, b.ID) })
		if wantIDs := idsOf(want, entryID); !slices.Equal(wantIDs, ids) {
			t.Fatalf("entries recorded under %v, want %v", wantIDs, ids)
		}

		got, err := s.ScanCarbonEntries(t.Context(), "", 100)
		mustNoErr(t, "ScanCarbonEntries", err)
		if len(got) != len(want) {
			t.Fatalf("ScanCarbonEntries = %v, want %v", idsOf(got, entryID), ids)
		}
		for i := range want {
			diffEntry(want[i], got[i]).report(t, "ScanCarbonEntries["+want[i].ID+"]")
		}
		checkPaging(t, "ScanCarbonEntries", ids, func(after string, limit int) []string {
			page, err := s.ScanCarbonEntries(t.Context(), after, limit)
			mustNoErr(t, "ScanCarbonEntries", err)
			return idsOf(page, entryID)
		})
		// The catch-up starts from the lowest ID of a time, which is no entry's:
		// a ULID's first ten characters are its millisecond.
		page, err := s.ScanCarbonEntries(t.Context(), ids[2][:10], 100)
		mustNoErr(t, "ScanCarbonEntries(from a time)", err)
		if got := idsOf(page, entryID); !slices.Equal(got, ids[2:]) {
			t.Errorf("ScanCarbonEntries after %s (the millisecond of %s) = %v, want %v", ids[2][:10], ids[2], got, ids[2:])
		}
		page, err = s.ScanCarbonEntries(t.Context(), "", 0)
		mustNoErr(t, "ScanCarbonEntries(limit 0)", err)
		if len(page) != 0 {
			t.Errorf("ScanCarbonEntries(limit 0) = %v, want none", idsOf(page, entryID))
		}
	})

	t.Run("ScanCarbonEntries leaves out entries without CO2e and actions that wrote none", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		carbon := record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		pointsOnly := record(t, s, newAction(c.ID, "consumption.recycling", testDay), earn(domain.Units(1), 0, 10))
		pending := record(t, s, newAction(c.ID, "consumption.second_hand", testDay), domain.Credit{Status: domain.ActionPendingReview})
		if pointsOnly.LedgerEntryID == "" || pending.LedgerEntryID != "" {
			t.Fatalf("points-only credit's entry %q (want one), pending review's %q (want none)", pointsOnly.LedgerEntryID, pending.LedgerEntryID)
		}
		if n := len(listLedger(t, s, c.ID)); n != 2 {
			t.Fatalf("ListLedgerEntries = %d entries, want 2 (the points-only one is in the ledger)", n)
		}
		// Another carbon entry after the points-only one, so that a scan from it
		// has something to return.
		later := record(t, s, newAction(c.ID, "travel.bus", testDay), earn(domain.Units(1), 80, 8))

		got, err := s.ScanCarbonEntries(t.Context(), "", 100)
		mustNoErr(t, "ScanCarbonEntries", err)
		want := []string{carbon.LedgerEntryID, later.LedgerEntryID}
		slices.Sort(want)
		if ids := idsOf(got, entryID); !slices.Equal(ids, want) {
			t.Errorf("ScanCarbonEntries = %v, want %v (not the points-only %s)", ids, want, pointsOnly.LedgerEntryID)
		}
		for _, e := range got {
			if e.CO2eGrams == 0 {
				t.Errorf("ScanCarbonEntries returned %s with no CO2e", e.ID)
			}
		}
		// A page is up to limit carbon entries, however many others lie between.
		page, err := s.ScanCarbonEntries(t.Context(), "", 1)
		mustNoErr(t, "ScanCarbonEntries(limit 1)", err)
		page2, err := s.ScanCarbonEntries(t.Context(), idsOf(page, entryID)[0], 1)
		mustNoErr(t, "ScanCarbonEntries(second page)", err)
		if ids := append(idsOf(page, entryID), idsOf(page2, entryID)...); !slices.Equal(ids, want) {
			t.Errorf("ScanCarbonEntries in pages of 1 = %v, want %v", ids, want)
		}
	})

	t.Run("ScanCitizens returns every citizen, erased ones included, in ID order as GetCitizen does", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var ids []string
		for _, subject := range []string{"+8613800138101", "+8613800138102", "+8613800138103", "+8613800138104", "+8613800138105"} {
			ids = append(ids, seedCitizen(t, s, newDraft(subject)).ID)
		}
		slices.Sort(ids)
		// One erased, one credited since sign-in (totals moved), one with a saved
		// profile (version moved): the scan shows each as stored now.
		gone := getCitizen(t, s, ids[1])
		_, err := s.SaveCitizenProfile(t.Context(), erase(gone, at(time.Hour)))
		mustNoErr(t, "SaveCitizenProfile(erase)", err)
		record(t, s, newAction(ids[2], "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		moved := getCitizen(t, s, ids[3])
		moved.District, moved.LeaderboardOptOut, moved.UpdatedAt = "nanxun", false, at(2*time.Hour)
		_, err = s.SaveCitizenProfile(t.Context(), moved)
		mustNoErr(t, "SaveCitizenProfile", err)

		var want []domain.Citizen
		for _, id := range ids {
			want = append(want, getCitizen(t, s, id))
		}
		if want[1].ErasedAt == nil {
			t.Fatalf("citizen %s not erased: %+v", ids[1], want[1])
		}
		got, err := s.ScanCitizens(t.Context(), "", 100)
		mustNoErr(t, "ScanCitizens", err)
		if len(got) != len(want) {
			t.Fatalf("ScanCitizens = %v, want %v", idsOf(got, citizenID), ids)
		}
		for i := range want {
			diffCitizen(want[i], got[i]).report(t, "ScanCitizens["+want[i].ID+"]")
		}
		checkPaging(t, "ScanCitizens", ids, func(after string, limit int) []string {
			page, err := s.ScanCitizens(t.Context(), after, limit)
			mustNoErr(t, "ScanCitizens", err)
			return idsOf(page, citizenID)
		})
		page, err := s.ScanCitizens(t.Context(), "", 0)
		mustNoErr(t, "ScanCitizens(limit 0)", err)
		if len(page) != 0 {
			t.Errorf("ScanCitizens(limit 0) = %v, want none", idsOf(page, citizenID))
		}
	})
}

func citizenID(c domain.Citizen) string { return c.ID }
