package api_test

import (
	"strings"
	"testing"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// A service missing from the wiring stops start-up, rather than failing the
// routes that need it one request at a time.
func TestNewRefusesMissingServices(t *testing.T) {
	for name, drop := range map[string]func(*api.Deps){
		"Banks":        func(d *api.Deps) { d.Banks = nil },
		"Consents":     func(d *api.Deps) { d.Consents = nil },
		"Redemptions":  func(d *api.Deps) { d.Redemptions = nil },
		"Benefits":     func(d *api.Deps) { d.Benefits = nil },
		"Leaderboards": func(d *api.Deps) { d.Leaderboards = nil },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "Deps."+name) {
					t.Fatalf("api.New with no %s: recovered %v, want a panic naming it", name, r)
				}
			}()
			newHarness(t, func(d *api.Deps, _ *domain.AuthService) { drop(d) })
		})
	}
}
