package api_test

import (
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestMain checks, after all tests ran, that every operation in openapi.yaml was
// exercised by some test, so the contract cannot drift from what is tested.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && contract.doc != nil && !testing.Short() && runsWholeSuite() {
		var missing []string
		for path, item := range contract.doc.Paths.Map() {
			for method := range item.Operations() {
				if !contract.seen[method+" "+path] {
					missing = append(missing, method+" "+path)
				}
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			println("operations in openapi.yaml that no test exercised:\n  " + strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

// runsWholeSuite is false when -run selects some tests only.
func runsWholeSuite() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.run") {
			return false
		}
	}
	return true
}

func TestEveryRouteIsInTheContract(t *testing.T) {
	h := newHarness(t)
	for _, r := range h.app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		path := r.Path
		for _, p := range r.Params {
			path = strings.Replace(path, ":"+p, "x", 1)
		}
		path = strings.Replace(path, "*", "index.html", 1)
		if _, _, err := contract.router.FindRoute(httptest.NewRequest(r.Method, path, nil)); err != nil {
			t.Errorf("route %s %s is not described in openapi.yaml", r.Method, r.Path)
		}
	}
}
