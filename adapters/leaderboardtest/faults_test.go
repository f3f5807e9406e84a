package leaderboardtest

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// faultEnv names the deliberate bugs the naive board runs with (see broken).
const faultEnv = "LEADERBOARDTEST_NAIVE_FAULT"

// faultsEnv turns TestSuiteCatchesBrokenNaive on: it reruns parts of the suites
// once per fault, too slow for every run. Set it after changing the suites or the
// naive board:
//
//	LEADERBOARDTEST_FAULTS=1 go test -race -run CatchesBroken -v ./adapters/leaderboardtest/
const faultsEnv = "LEADERBOARDTEST_FAULTS"

// TestSuiteCatchesBrokenNaive proves the suites can fail: it reruns one part of a
// suite in a child process against the naive board with one deliberate bug, and
// expects the run to fail. A fault that slips through means a rule no longer
// checked. Each fault is tried against every part that should catch it on its
// own, so that no part silently relies on another (the model test especially).
func TestSuiteCatchesBrokenNaive(t *testing.T) {
	if os.Getenv(faultsEnv) == "" {
		t.Skip("set " + faultsEnv + "=1 to check that the suites catch deliberate bugs (slow)")
	}
	if os.Getenv(faultEnv) != "" {
		t.Skip("inside a fault run")
	}
	const contract, service = "TestLeaderboardAgainstNaive", "TestServiceAgainstNaive"
	faults := []struct{ fault, test, part string }{
		{"no-dedup", contract, "credits"},
		{"no-dedup", contract, "model"},
		{"no-dedup", service, "catch-up"},
		{"no-dedup", service, "periods"}, // none are delivered twice: must pass
		{"reached-last", contract, "credits"},
		{"reached-last", contract, "model"},
		{"ties-by-id", contract, "ordering"},
		{"ties-by-id", contract, "model"},
		{"float-composite", contract, "ordering"},
		{"rank-nonpositive", contract, "credits"},
		{"rank-nonpositive", contract, "model"},
		{"rank-nonpositive", service, "delivery"},
		{"unranked-score-zero", contract, "credits"},
		{"unranked-score-zero", contract, "query"},
		{"unranked-score-zero", contract, "model"},
		{"hidden-city-only", contract, "members"},
		{"hidden-city-only", contract, "model"},
		{"sticky-district", contract, "members"},
		{"sticky-district", contract, "model"},
		{"sticky-district", service, "members"},
		{"version-ignored", contract, "members"},
		{"version-ignored", contract, "model"},
		{"version-ignored", service, "members"},
		{"equal-version-ignored", contract, "members"},
		{"unknown-ranked", contract, "members"},
		{"unknown-ranked", contract, "model"},
		{"unknown-ranked", service, "delivery"},
		{"unknown-not-named", contract, "members"},
		{"unknown-not-named", contract, "model"},
		{"unknown-not-named", service, "delivery"},
		{"replace-merges", contract, "replace"},
		{"replace-keeps-dedup", contract, "replace"},
		{"replace-keeps-dedup", contract, "model"},
		{"replace-ignores-applied", contract, "replace"},
		{"replace-ignores-applied", contract, "model"},
		{"replace-ignores-applied", service, "catch-up"},
		{"watermark-back", contract, "replace"},
		{"no-expiry", contract, "instances"},
		{"limit-plus-one", contract, "query"},
		{"limit-plus-one", contract, "model"},
		{"neighbours-off-by-one", contract, "query"},
		{"neighbours-off-by-one", contract, "model"},
		{"lost-update", contract, "credits"},
		{"lost-update", contract, "atomicity"},
	}
	mustPass := map[[3]string]bool{{"no-dedup", service, "periods"}: true}
	failLine := regexp.MustCompile(`--- FAIL: (\S+)`)
	for _, f := range faults {
		t.Run(f.fault+"/"+f.test+"/"+f.part, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0],
				"-test.run=^"+f.test+"$/^"+regexp.QuoteMeta(f.part)+"$", "-test.count=1", "-test.timeout=3m")
			// A fixed seed keeps the model test's verdict on a fault reproducible.
			cmd.Env = append(os.Environ(), faultEnv+"="+f.fault, SeedEnv+"=1")
			out, err := cmd.CombinedOutput()
			if mustPass[[3]string{f.fault, f.test, f.part}] {
				if err != nil {
					t.Fatalf("the %s/%s part failed with fault %q, which it does not exercise:\n%s", f.test, f.part, f.fault, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the %s/%s part passed against a board with fault %q; it must catch it", f.test, f.part, f.fault)
			}
			var failed []string
			for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
				failed = append(failed, m[1])
			}
			var leaves []string
			for _, name := range failed {
				if !slices.ContainsFunc(failed, func(other string) bool { return strings.HasPrefix(other, name+"/") }) {
					leaves = append(leaves, name)
				}
			}
			if len(failed) == 0 || strings.Contains(string(out), "panic:") || strings.Contains(string(out), "WARNING: DATA RACE") {
				t.Fatalf("fault %q: the child failed without a test failure (or with a panic or race):\n%s", f.fault, out)
			}
			t.Logf("caught by %s", strings.Join(leaves, "; "))
		})
	}
}
