package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/mongo"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/mongo/mongotest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// roundTripActions is how many actions each adapter records for the counts: five
// of each kind.
var roundTripActions = 5 * len(Kinds)

// TestRoundTrips reports, for each adapter, the store calls per recorded action
// and what each costs inside: for SQLite the transactions and rows written, for
// MongoDB the commands sent to the server (FerretDB in this process unless
// MONGODB_URI names a real MongoDB). It only logs; run with -v to see them:
//
//	go test -run TestRoundTrips -v ./bench/
func TestRoundTrips(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		counts, err := MeasureSQLite(context.Background(), t.TempDir(), roundTripActions, 1, 16)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			t.Logf("SQLite, per action through ActionService (%d actions, %d concurrent callers):\n  store calls %s\n  %s",
				c.Actions, c.Callers, c.Calls, c)
		}
	})
	t.Run("mongo", func(t *testing.T) {
		srv, err := mongotest.Start()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		counts, calls, err := measureMongo(t, srv, roundTripActions)
		if err != nil {
			t.Fatal(err)
		}
		server := "MongoDB at MONGODB_URI"
		if srv.FerretDB {
			server = "FerretDB (in-process, SQLite backend)"
		}
		t.Logf("MongoDB adapter on %s, per action through ActionService (%d actions):\n  store calls %s\n%s",
			server, roundTripActions, calls, counts)
	})
}

// commandCounts are server commands by the ActionStore method that sent them.
type commandCounts struct {
	mu      sync.Mutex
	label   string // the store method running now (actions are recorded one at a time)
	byLabel map[string]map[string]int
	n       int // actions, to divide by
}

func (c *commandCounts) started(_ context.Context, e *event.CommandStartedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byLabel == nil || c.label == "" {
		return // setup, or the driver's own housekeeping between calls
	}
	m := c.byLabel[c.label]
	if m == nil {
		m = map[string]int{}
		c.byLabel[c.label] = m
	}
	m[e.CommandName]++
}

func (c *commandCounts) setLabel(l string) {
	c.mu.Lock()
	c.label = l
	c.mu.Unlock()
}

func (c *commandCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	var labels []string
	for l := range c.byLabel {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var total int
	for _, l := range labels {
		var names []string
		var sum int
		for name, k := range c.byLabel[l] {
			names = append(names, fmt.Sprintf("%s %.2f", name, float64(k)/float64(c.n)))
			sum += k
		}
		sort.Strings(names)
		total += sum
		fmt.Fprintf(&b, "  %s: %.2f commands (%s)\n", l, float64(sum)/float64(c.n), strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "  total: %.2f server round trips per action", float64(total)/float64(c.n))
	return b.String()
}

// labelStore tells the command monitor which store method is running.
type labelStore struct {
	domain.ActionStore
	counts *commandCounts
}

func (s labelStore) RecordAction(ctx context.Context, a domain.Action, id string, decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	s.counts.setLabel("RecordAction")
	defer s.counts.setLabel("")
	return s.ActionStore.RecordAction(ctx, a, id, decide)
}

func (s labelStore) FindActionByIdempotencyKey(ctx context.Context, citizenID, key string) (domain.Action, error) {
	s.counts.setLabel("FindActionByIdempotencyKey")
	defer s.counts.setLabel("")
	return s.ActionStore.FindActionByIdempotencyKey(ctx, citizenID, key)
}

// measureMongo records n actions through ActionService on a fresh database and
// counts the commands the driver sends, by store method.
func measureMongo(t *testing.T, srv *mongotest.Server, n int) (*commandCounts, CallCounts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts := &commandCounts{n: n}
	opts := append(srv.ClientOptions(), func(o *options.ClientOptions) {
		o.SetMonitor(&event.CommandMonitor{Started: counts.started})
	})
	database := mongotest.NewDatabaseName()
	store, err := mongo.Open(ctx, srv.URI, database, opts...)
	if err != nil {
		return nil, CallCounts{}, err
	}
	defer store.Close()
	defer func() { // a real MongoDB keeps databases; FerretDB's go with its temp dir
		if client, err := mongodrv.Connect(options.Client().ApplyURI(srv.URI)); err == nil {
			_ = client.Database(database).Drop(context.Background())
			_ = client.Disconnect(context.Background())
		}
	}()
	counter, svc, citizens, err := serviceOn(ctx, store, 10)
	if err != nil {
		return nil, CallCounts{}, err
	}
	svc.Actions = labelStore{ActionStore: counter, counts: counts}
	counts.mu.Lock()
	counts.byLabel = map[string]map[string]int{}
	counts.mu.Unlock()
	before := counter.snapshot()
	if err := recordThrough(ctx, svc, citizens, n, 1); err != nil { // one at a time: labels are global
		return nil, CallCounts{}, err
	}
	return counts, counter.snapshot().minus(before).per(int64(n)), nil
}
