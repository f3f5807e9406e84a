package domain_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain knows nothing of HTTP, databases, Redis or Firebase: adapters depend
// on it, never the other way round. This checks the whole import graph, so an
// indirect dependency through a helper package is caught too.
func TestDomainImportsNoInfrastructure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/gofiber", "github.com/valyala/fasthttp", "net/http",
		"go.mongodb.org/mongo-driver/v2", "github.com/FerretDB/FerretDB",
		"github.com/redis/go-redis", "github.com/alicebob/miniredis",
		"firebase.google.com/go", "google.golang.org/api",
		"modernc.org/sqlite", "github.com/mattn/go-sqlite3",
		"github.com/huzhou-lvdaitong/carbon-account/adapters", "github.com/huzhou-lvdaitong/carbon-account/api",
	}
	// A forbidden entry matches the package itself and everything below it.
	for _, dep := range strings.Fields(string(out)) {
		// database/sql/driver is fine (ULIDs implement its Valuer); database/sql is not.
		if dep == "database/sql" {
			t.Errorf("domain depends on %s", dep)
		}
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") {
				t.Errorf("domain depends on %s", dep)
			}
		}
	}
}
