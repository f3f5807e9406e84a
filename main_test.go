package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/mongo/mongotest"
)

// These tests run the binary's own entry point as an operator would: environment
// variables in, HTTP out, then a shutdown like SIGTERM (a cancelled context).

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects what the server writes to stderr while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type runningServer struct {
	base   string
	stderr *lockedBuffer
	stop   func() int // cancels and returns the exit code
}

// startServer runs `carbon-account serve` with the current environment and waits
// until /healthz answers.
func startServer(t *testing.T) runningServer {
	t.Helper()
	port := freePort(t)
	t.Setenv("PORT", strconv.Itoa(port))
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, stderr) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case code := <-exit:
			cancel()
			t.Fatalf("server exited with %d: %s", code, stderr.String())
		default:
		}
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("server did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	s := runningServer{base: base, stderr: stderr, stop: func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		select {
		case code := <-exit:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("server did not shut down")
			return -1
		}
	}}
	t.Cleanup(func() { s.stop() })
	return s
}

func post(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

func getStatus(t *testing.T, url, bearer string) int {
	t.Helper()
	return getJSON(t, url, bearer, nil)
}

func getJSON(t *testing.T, url, bearer string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// recordRide records one metro ride a minute ago with fresh evidence.
func recordRide(t *testing.T, base, bearer string, out any) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "travel.metro", "quantity": 1,
		"occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339),
		"evidence":    map[string]string{"source": "transit_card", "reference": fmt.Sprint("ride-", time.Now().UnixNano())}})
	req, _ := http.NewRequest("POST", base+"/v1/actions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Idempotency-Key", fmt.Sprint("k-", time.Now().UnixNano()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(out)
	return res.StatusCode
}

// boardView is the part of GET /v1/leaderboards these tests look at.
type boardView struct {
	Ranked int64 `json:"ranked"`
	Items  []struct {
		Rank  int64 `json:"rank"`
		CO2eG int64 `json:"co2e_g"`
		Me    bool  `json:"me"`
	} `json:"items"`
	Me struct {
		Rank  *int64 `json:"rank"`
		CO2eG int64  `json:"co2e_g"`
	} `json:"me"`
}

// expectTopOfBoard checks that the caller alone leads today's board with co2e grams.
func expectTopOfBoard(t *testing.T, base, bearer string, co2e int64, when string) {
	t.Helper()
	var b boardView
	if code := getJSON(t, base+"/v1/leaderboards?period=day", bearer, &b); code != 200 {
		t.Fatalf("%s: leaderboard: %d", when, code)
	}
	if b.Ranked != 1 || len(b.Items) != 1 || !b.Items[0].Me || b.Items[0].CO2eG != co2e || b.Me.Rank == nil || *b.Me.Rank != 1 {
		t.Fatalf("%s: want the caller alone on top with %d g, got %+v", when, co2e, b)
	}
}

var printedPassword = regexp.MustCompile(`Created operator "admin" with password: (\S+)`)

func TestEmbeddedModeStartsFromACleanDataDirAndKeepsItsState(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	t.Setenv("CARBON_DATA_DIR", dataDir)
	for _, v := range []string{"MONGODB_URI", "REDIS_URL", "CARBON_ADMIN_PASSWORD", "CARBON_JWT_KEY_FILE", "CARBON_DEV_LOGIN", "FIREBASE_PROJECT_ID"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}

	first := startServer(t)
	m := printedPassword.FindStringSubmatch(first.stderr.String())
	if m == nil {
		t.Fatalf("no generated admin password printed; stderr: %s", first.stderr.String())
	}
	password := m[1]
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	if code := post(t, first.base+"/v1/auth/dev-login", map[string]string{"phone": "13800138000"}, &tk); code != 200 {
		t.Fatalf("dev login: %d", code)
	}
	if code := getStatus(t, first.base+"/v1/me", tk.AccessToken); code != 200 {
		t.Fatalf("/v1/me: %d", code)
	}
	// The seeded catalog is there: a metro ride earns points.
	var recorded struct {
		Points int64 `json:"points"`
		CO2eG  int64 `json:"co2e_g"`
	}
	if code := recordRide(t, first.base, tk.AccessToken, &recorded); code != 201 || recorded.Points <= 0 {
		t.Fatalf("recording a metro ride: %d %+v", code, recorded)
	}
	expectTopOfBoard(t, first.base, tk.AccessToken, recorded.CO2eG, "after recording")
	if code := first.stop(); code != 0 {
		t.Fatalf("shutdown exit code %d", code)
	}
	for _, f := range []string{"carbon.db", "keys/jwt-ed25519.pem"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("data dir lacks %s: %v", f, err)
		}
	}

	var out bytes.Buffer
	for _, job := range []string{"prune-sessions", "reconcile", "leaderboard-catchup", "leaderboard-rebuild"} {
		out.Reset()
		if code := run(t.Context(), []string{"run-job", job}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "ran "+job) {
			t.Fatalf("run-job %s: exit %d, %q", job, code, out.String())
		}
	}
	out.Reset()
	if code := run(t.Context(), []string{"seed"}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "seeded 0 new") {
		t.Fatalf("seed on a seeded store: exit %d, %q", code, out.String())
	}
	var errOut bytes.Buffer
	if code := run(t.Context(), []string{"rebuild-leaderboards"}, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "restart the server") {
		t.Fatalf("rebuild-leaderboards without Redis: exit %d, %q", code, errOut.String())
	}

	second := startServer(t)
	if strings.Contains(second.stderr.String(), "Created operator") {
		t.Fatal("the admin password was printed again on restart")
	}
	// The signing key and the store survived: the old access token, the balance and the admin still work.
	var me struct {
		Balance int64 `json:"balance"`
	}
	if code := getJSON(t, second.base+"/v1/me", tk.AccessToken, &me); code != 200 || me.Balance != recorded.Points {
		t.Fatalf("after the restart: %d, balance %d, want %d", code, me.Balance, recorded.Points)
	}
	// The in-process leaderboards were rebuilt from the store at start-up.
	expectTopOfBoard(t, second.base, tk.AccessToken, recorded.CO2eG, "after the restart")
	if code := post(t, second.base+"/v1/admin/auth/login", map[string]string{"username": "admin", "password": password}, nil); code != 200 {
		t.Fatalf("admin login after restart: %d", code)
	}
}

func TestProductionModeRunsOnMongoDB(t *testing.T) {
	server, err := mongotest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	var out bytes.Buffer
	if code := run(t.Context(), []string{"keygen", keyFile}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "kid") {
		t.Fatalf("keygen: %d %s", code, out.String())
	}
	t.Setenv("MONGODB_URI", server.AppURI())
	t.Setenv("MONGODB_DB", mongotest.NewDatabaseName())
	t.Setenv("CARBON_JWT_KEY_FILE", keyFile)
	t.Setenv("CARBON_ADMIN_PASSWORD", "production-admin-secret")
	t.Setenv("CARBON_DATA_DIR", t.TempDir())
	t.Setenv("CARBON_DEV_LOGIN", "")
	os.Unsetenv("CARBON_DEV_LOGIN")
	// REDIS_URL is used as the environment gives it: CI sets it, a bare machine does not.
	// A prefix of its own keeps this run's leaderboards apart from other tests'.
	prefix := fmt.Sprintf("e2e-%d:", time.Now().UnixNano())
	t.Setenv("CARBON_REDIS_PREFIX", prefix)
	if url := os.Getenv("REDIS_URL"); url != "" {
		t.Cleanup(func() { wipeRedisPrefix(t, url, prefix) })
	}

	s := startServer(t)
	if strings.Contains(s.stderr.String(), "Created operator") {
		t.Fatal("production printed a generated password")
	}
	if code := post(t, s.base+"/v1/auth/dev-login", map[string]string{"phone": "13800138000"}, nil); code != 404 {
		t.Fatalf("dev login is served in production: %d", code)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	if code := post(t, s.base+"/v1/admin/auth/login", map[string]string{"username": "admin", "password": "production-admin-secret"}, &tk); code != 200 {
		t.Fatalf("admin login: %d", code)
	}
	if code := getStatus(t, s.base+"/v1/admin/me", tk.AccessToken); code != 200 {
		t.Fatalf("/v1/admin/me: %d", code)
	}
	if code := getStatus(t, s.base+"/readyz", ""); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	var types struct{ Items []any }
	if code := getJSON(t, s.base+"/v1/activity-types", "", &types); code != 200 || len(types.Items) < 18 {
		t.Fatalf("seeded catalog on MongoDB: %d, %d types", code, len(types.Items))
	}
	s.stop()

	// With dev login switched on, an action is recorded on MongoDB and reconciles.
	t.Setenv("CARBON_DEV_LOGIN", "true")
	s = startServer(t)
	var tk2 struct {
		AccessToken string `json:"access_token"`
	}
	if code := post(t, s.base+"/v1/auth/dev-login", map[string]string{"phone": "13800138000"}, &tk2); code != 200 {
		t.Fatalf("dev login: %d", code)
	}
	var recorded struct {
		Points int64 `json:"points"`
		CO2eG  int64 `json:"co2e_g"`
	}
	if code := recordRide(t, s.base, tk2.AccessToken, &recorded); code != 201 || recorded.Points <= 0 {
		t.Fatalf("recording on MongoDB: %d %+v", code, recorded)
	}
	expectTopOfBoard(t, s.base, tk2.AccessToken, recorded.CO2eG, "after recording on MongoDB")
	if os.Getenv("REDIS_URL") != "" {
		// Redis holds nothing that cannot be rebuilt: wipe the boards, rebuild them
		// from MongoDB with the subcommand, and the running server shows the same.
		if wipeRedisPrefix(t, os.Getenv("REDIS_URL"), prefix) == 0 {
			t.Fatal("nothing to wipe: the boards are not in Redis under the configured prefix")
		}
		var empty boardView
		if code := getJSON(t, s.base+"/v1/leaderboards?period=day", tk2.AccessToken, &empty); code != 200 || empty.Ranked != 0 {
			t.Fatalf("after wiping Redis: %d %+v", code, empty)
		}
		out.Reset()
		if code := run(t.Context(), []string{"rebuild-leaderboards"}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "1 ledger entries") {
			t.Fatalf("rebuild-leaderboards: exit %d, %q", code, out.String())
		}
		expectTopOfBoard(t, s.base, tk2.AccessToken, recorded.CO2eG, "after wiping Redis and rebuilding")
	}
	s.stop()
	out.Reset()
	if code := run(t.Context(), []string{"run-job", "reconcile"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("reconcile on MongoDB: exit %d", code)
	}

	// The create-operator subcommand writes to the same database.
	t.Setenv("CARBON_NEW_OPERATOR_PASSWORD", "another-long-secret")
	out.Reset()
	var errOut bytes.Buffer
	if code := run(t.Context(), []string{"create-operator", "-username", "auditor.zhang", "-role", "auditor"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("create-operator: %d %s", code, errOut.String())
	}
	if code := run(t.Context(), []string{"create-operator", "-username", "auditor.zhang", "-role", "auditor"}, nil, &out, &errOut); code != 1 {
		t.Fatalf("creating a duplicate operator exited %d", code)
	}
}

func TestBadConfigurationStopsStartUpNamingTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"PORT":                {"PORT": "eighty"},
		"CARBON_JWT_KEY_FILE": {"MONGODB_URI": "mongodb://127.0.0.1:1"},
		"CARBON_LOG_LEVEL":    {"CARBON_LOG_LEVEL": "chatty"},
	}
	for name, vars := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CARBON_DATA_DIR", t.TempDir())
			for k, v := range vars {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			if code := run(t.Context(), []string{"serve"}, nil, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), name) {
				t.Fatalf("exit %d, stderr %q does not name %s", code, stderr.String(), name)
			}
		})
	}
}

func TestUnknownCommandsPrintUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"launch"}, nil, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "Usage:") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// wipeRedisPrefix deletes every key under prefix, as losing Redis would, and
// says how many there were.
func wipeRedisPrefix(t *testing.T, url, prefix string) int {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background() // also called from Cleanup, when t.Context() is done
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return len(keys)
}
