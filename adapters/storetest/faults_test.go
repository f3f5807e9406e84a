package storetest

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// faultEnv names the deliberate bug the reference store runs with (see broken).
const faultEnv = "STORETEST_REF_FAULT"

// faultsEnv turns TestSuiteCatchesBrokenReference on: it reruns the suite dozens of
// times (about 40 s with -race on two cores), too slow for every run. Set it after
// changing the suite or the reference store:
//
//	STORETEST_FAULTS=1 go test -race -run CatchesBroken -v ./adapters/storetest/
const faultsEnv = "STORETEST_FAULTS"

// TestSuiteCatchesBrokenReference proves the suite can fail: it reruns parts of it
// in a child process against the reference store with one deliberate bug each, and
// expects every run to fail. A fault that slips through means a rule the suite no
// longer checks. Each fault is tried against each part that should catch it on its
// own, so that no layer silently relies on another.
func TestSuiteCatchesBrokenReference(t *testing.T) {
	if os.Getenv(faultsEnv) == "" {
		t.Skip("set " + faultsEnv + "=1 to check that the suite catches deliberate bugs (slow)")
	}
	if os.Getenv(faultEnv) != "" {
		t.Skip("inside a fault run")
	}
	type faultRun struct{ fault, part string }
	faults := []faultRun{
		{"no-evidence-check", "actions"},
		{"no-evidence-check", "action_races"},
		{"no-evidence-check", "action_service"},
		{"no-evidence-check", "action_property"},
		{"no-idempotency", "actions"},
		{"no-idempotency", "action_races"},
		// The service looks a key up before recording and the store refuses a
		// reused one: either catches a sequential retry, so both must break.
		{"no-idempotency,find-by-key-blind", "action_service"},
		{"no-idempotency,find-by-key-blind", "action_property"},
		{"find-by-key-blind", "actions"},
		{"no-usage", "actions"},
		{"no-usage", "action_races"},
		{"no-usage", "action_service"},
		{"no-usage", "action_property"},
		{"usage-ignores-day", "actions"},
		{"usage-ignores-day", "action_service"},
		{"usage-ignores-day", "action_property"},
		{"usage-total-per-type", "actions"},
		{"usage-total-per-type", "action_races"},
		{"usage-total-per-type", "action_service"},
		{"usage-total-per-type", "action_property"},
		{"decide-unlocked", "action_races"},
		{"decide-unlocked", "action_service"},
		{"refusal-takes-evidence", "actions"},
		{"refusal-takes-evidence", "action_service"},
		{"erased-records", "actions"},
		{"erased-records", "action_service"},
		{"earned-not-kept", "actions"},
		{"earned-not-kept", "action_property"},
		{"ledger-always", "actions"},
		{"ledger-always", "action_service"},
		{"ledger-always", "action_property"},
		{"list-oldest-first", "actions"},
		{"ledger-of-everyone", "actions"},
		{"anonymise-frees-evidence", "actions"},
		{"anonymise-frees-evidence", "action_service"},
		{"check-ignores-after", "actions"},
		{"any-version", "catalog"},
		{"versions-by-text", "catalog"},
		{"scan-zero-co2e", "scans"},
		{"scan-after-inclusive", "scans"},
		{"scan-skips-erased", "scans"},
	}
	// The parts of the benefits subtest of Run.
	benefitFaults := []faultRun{
		{"bank-code-not-unique", "banks"},
		{"benefit-keeps-claimed", "benefits"},
		{"benefits-ignore-bank", "benefits"},
		{"claim-ignores-stock", "claims"},
		{"claim-ignores-stock", "claim_races"},
		{"claim-ignores-stock", "claim_service"},
		{"claim-ignores-limit", "claims"},
		{"claim-ignores-limit", "claim_races"},
		{"claim-ignores-limit", "claim_service"},
		{"held-only-issued", "voucher_expiry"},
		{"held-only-issued", "claim_service"},
		{"claim-decide-unlocked", "claim_races"},
		{"claim-no-idempotency", "claims"},
		{"claim-no-idempotency", "claim_races"},
		// As for actions, the service looks a key up before claiming: both must break.
		{"claim-no-idempotency,claim-find-blind", "claim_service"},
		{"claim-find-blind", "claims"},
		{"refusal-takes-claim-key", "claims"},
		{"refusal-takes-claim-key", "claim_service"},
		{"claim-erased", "claims"},
		{"claim-uses-benefit-cost", "claims"},
		{"claim-lowers-co2e", "claims"},
		{"claim-lowers-co2e", "claim_service"},
		{"voucher-forgets-balance", "claims"},
		{"voucher-forgets-balance", "claim_service"},
		{"vouchers-oldest-first", "claims"},
		{"refund-twice", "voucher_expiry"},
		{"expire-ignores-limit", "voucher_expiry"},
		{"expire-strictly-before", "voucher_expiry"},
		{"refund-counts-as-earned", "voucher_expiry"},
	}
	type suiteRun struct {
		test string
		faultRun
	}
	var runs []suiteRun
	for _, f := range faults {
		runs = append(runs, suiteRun{"TestSuiteAgainstReference", f})
	}
	for _, f := range benefitFaults {
		f.part = "benefits/" + f.part
		runs = append(runs, suiteRun{"TestSuiteAgainstReference", f})
	}
	failLine := regexp.MustCompile(`--- FAIL: (\S+)`)
	for _, f := range runs {
		test := f.test
		t.Run(f.fault+"/"+f.part, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0],
				"-test.run=^"+test+"$/^"+f.part+"$", "-test.count=1", "-test.timeout=3m")
			// A fixed seed keeps the property test's verdict on a fault reproducible.
			cmd.Env = append(os.Environ(), faultEnv+"="+f.fault, SeedEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the %q part passed against a store with fault %q; it must catch it", f.part, f.fault)
			}
			var failed []string
			for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
				failed = append(failed, m[1])
			}
			// Keep the leaves: a parent fails because a subtest did.
			var leaves []string
			for _, name := range failed {
				if !slices.ContainsFunc(failed, func(other string) bool { return strings.HasPrefix(other, name+"/") }) {
					leaves = append(leaves, strings.TrimPrefix(name, test+"/"))
				}
			}
			if len(failed) == 0 || strings.Contains(string(out), "panic:") || strings.Contains(string(out), "WARNING: DATA RACE") {
				t.Fatalf("fault %q: the child failed without a test failure (or with a panic or race):\n%s", f.fault, out)
			}
			t.Logf("caught by %s", strings.Join(leaves, "; "))
		})
	}
}
