package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/sqlite"
	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/seeds"
)

// contract is openapi.yaml, loaded once; every response a test receives through a
// harness is validated against it.
var contract = struct {
	once   sync.Once
	raw    []byte
	doc    *openapi3.T
	router routers.Router
	err    error
	mu     sync.Mutex
	seen   map[string]bool // "METHOD /template" of operations a test received a response from
}{seen: map[string]bool{}}

func loadContract(t *testing.T) {
	t.Helper()
	contract.once.Do(func() {
		contract.raw, contract.err = os.ReadFile(filepath.Join("..", "openapi.yaml"))
		if contract.err != nil {
			return
		}
		loader := openapi3.NewLoader()
		contract.doc, contract.err = loader.LoadFromData(contract.raw)
		if contract.err != nil {
			return
		}
		if contract.err = contract.doc.Validate(context.Background()); contract.err != nil {
			return
		}
		contract.doc.Servers = nil // match requests on any host
		contract.router, contract.err = gorillamux.NewRouter(contract.doc)
	})
	if contract.err != nil {
		t.Fatalf("openapi.yaml: %v", contract.err)
	}
}

const adminPassword = "correct-horse-battery"

type harness struct {
	t       *testing.T
	app     *fiber.App
	store   *sqlite.Store
	state   *memory.SharedState
	tokens  *token.Authority
	catalog *domain.Catalog
	key     token.Key
	logs    *bytes.Buffer

	listen sync.Once
	base   string // http://127.0.0.1:port once listening
	client *http.Client
}

// serve starts the app on a loopback port the first time a request is sent, so
// tests may still add routes before that. A real listener (not app.Test) makes
// fasthttp's own limits, such as the body size limit, behave as in production.
func (h *harness) serve() {
	h.listen.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			h.t.Fatal(err)
		}
		go func() { _ = h.app.Listener(ln) }()
		h.t.Cleanup(func() {
			// Connections the client dialled but never used would otherwise hold
			// Shutdown until the server's read timeout.
			h.client.CloseIdleConnections()
			_ = h.app.ShutdownWithTimeout(5 * time.Second)
		})
		h.base = "http://" + ln.Addr().String()
		h.client = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
}

type harnessOption func(*api.Deps, *domain.AuthService)

// withActionRules changes the limits actions are recorded under.
func withActionRules(change func(*domain.ActionRules)) harnessOption {
	return func(d *api.Deps, _ *domain.AuthService) { change(&d.Actions.Rules) }
}

// newHarness serves the real API on a fresh SQLite file and in-process shared
// state, with an "admin" operator whose password is adminPassword.
func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	loadContract(t)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "carbon.db"))
	if err != nil {
		t.Fatal(err)
	}
	state := memory.NewSharedState()
	t.Cleanup(func() { _ = state.Close(); _ = store.Close() })
	key, _, err := token.LoadOrGenerateKeyFile(filepath.Join(t.TempDir(), "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, state: state, key: key, logs: &bytes.Buffer{}}
	h.tokens = token.NewAuthority(key, nil, "carbon-account", "carbon-account-api", 15*time.Minute, time.Now)
	auth := &domain.AuthService{Citizens: store, Operators: store, Sessions: store, Limiter: state,
		Now: domain.Now, RefreshTTL: 24 * time.Hour, LoginAttempts: 5, LoginWindow: time.Minute}
	operators := &domain.OperatorService{Operators: store, Now: domain.Now, PasswordCost: bcrypt.MinCost}
	if _, _, err := operators.EnsureBootstrapAdmin(ctx, adminPassword, false); err != nil {
		t.Fatal(err)
	}
	if _, err := seeds.Load(ctx, store, domain.Now()); err != nil {
		t.Fatal(err)
	}
	catalog := &domain.Catalog{Store: store, Now: domain.Now, Lead: 0}
	if err := catalog.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	h.catalog = catalog
	// Boards are updated as actions are credited and profiles change, as in
	// production; nothing runs catch-up or rebuilding in the background.
	leaderboards := &domain.LeaderboardService{
		Boards: memory.NewLeaderboard(domain.Now), Citizens: store, Ledger: store, Locker: state, Now: domain.Now,
		Retention: domain.DefaultBoardRetention, Overlap: domain.DefaultBoardOverlap, Log: slog.New(slog.DiscardHandler),
	}
	actions := &domain.ActionService{Actions: store, Catalog: catalog, Limiter: state, Now: domain.Now, Rules: domain.DefaultActionRules,
		Credited: leaderboards}
	benefits := &domain.BenefitService{Benefits: store, Banks: store, Levels: seeds.Levels(), Now: domain.Now,
		ReplayWaitStep: domain.DefaultActionRules.ReplayWaitStep, ReplayWaitMax: domain.DefaultActionRules.ReplayWaitMax}
	deps := api.Deps{
		Actions: actions, Catalog: catalog, Levels: seeds.Levels(), Leaderboards: leaderboards, Benefits: benefits,
		Auth: auth, Citizens: &domain.CitizenService{Citizens: store, Sessions: store, Actions: store, Now: domain.Now, Members: leaderboards},
		Operators: operators, Tokens: h.tokens,
		Logger:    slog.New(slog.NewJSONHandler(&syncWriter{w: h.logs}, nil)),
		Readiness: []api.ReadinessCheck{{Name: "store", Check: store.Ping}, {Name: "shared_state", Check: state.Ping}},
		OpenAPI:   contract.raw, DevLogin: true, BodyLimitBytes: 64 << 10, Version: "test",
	}
	deps.Consents = &domain.ConsentService{Consents: store, Banks: store, Citizens: store, Levels: seeds.Levels(), Now: domain.Now,
		Limiter: state}
	// Every service api.New requires; options below replace some (a test clock,
	// other limits).
	withBanks()(&deps, auth)
	withRedemptions(&redemptionClock{})(&deps, auth)
	for _, o := range opts {
		o(&deps, auth)
	}
	h.app = api.New(deps)
	return h
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// response is what a test received, already checked against openapi.yaml.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.Body)
	}
	var p api.Problem
	r.decode(t, &p)
	if p.Code == "" || p.Status != r.Status {
		t.Fatalf("problem without code or with status %d != %d: %s", p.Status, r.Status, r.Body)
	}
	return p
}

// expect fails unless the response has the status (and, for errors, the code).
func (r response) expect(t *testing.T, status int, code ...string) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if len(code) > 0 {
		if got := r.problem(t).Code; got != code[0] {
			t.Fatalf("problem code %q, want %q; body %s", got, code[0], r.Body)
		}
	}
	return r
}

type req struct {
	method, path string
	body         any    // marshalled as JSON unless raw is set
	raw          []byte // sent as is
	contentType  string // default application/json when there is a body
	bearer       string
	headers      map[string]string
}

// do sends the request through the whole Fiber stack and validates the response.
func (h *harness) do(r req) response {
	h.t.Helper()
	var body io.Reader
	var payload []byte
	switch {
	case r.raw != nil:
		payload = r.raw
	case r.body != nil:
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			h.t.Fatal(err)
		}
	}
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	h.serve()
	httpReq, err := http.NewRequest(r.method, h.base+r.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if payload != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		httpReq.Header.Set("Content-Type", ct)
	}
	if r.bearer != "" {
		httpReq.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	for k, v := range r.headers {
		httpReq.Header.Set(k, v)
	}
	res, err := h.client.Do(httpReq)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	got := response{Status: res.StatusCode, Header: res.Header}
	if got.Body, err = io.ReadAll(res.Body); err != nil {
		h.t.Fatal(err)
	}
	checkAgainstContract(h.t, httptest.NewRequest(r.method, r.path, bytes.NewReader(payload)), got)
	return got
}

// doRaw writes a request on a fresh connection and reads the answer even if the
// server answered (and closed) before the whole body was written, as it does for
// oversized bodies; a plain http.Client may report a broken pipe instead.
func (h *harness) doRaw(r req) response {
	h.t.Helper()
	h.serve()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n", r.method, r.path, len(r.raw))
	if r.bearer != "" {
		fmt.Fprintf(&head, "Authorization: Bearer %s\r\n", r.bearer)
	}
	head.WriteString("\r\n")
	_, _ = conn.Write(append(head.Bytes(), r.raw...)) // the server may stop reading early
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	got := response{Status: res.StatusCode, Header: res.Header}
	if got.Body, err = io.ReadAll(res.Body); err != nil {
		h.t.Fatal(err)
	}
	checkAgainstContract(h.t, httptest.NewRequest(r.method, r.path, bytes.NewReader(r.raw)), got)
	return got
}

// checkAgainstContract validates a response against openapi.yaml. A response to a
// path the contract does not describe must be a 404 problem.
func checkAgainstContract(t *testing.T, httpReq *http.Request, got response) {
	t.Helper()
	if got.Status >= 500 && got.Status != http.StatusServiceUnavailable {
		t.Errorf("%s %s answered %d: %s", httpReq.Method, httpReq.URL.Path, got.Status, got.Body)
	}
	route, params, err := contract.router.FindRoute(httpReq)
	if err != nil {
		if got.Status != http.StatusNotFound && got.Status != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s is not in openapi.yaml but answered %d", httpReq.Method, httpReq.URL.Path, got.Status)
		}
		got.problem(t)
		return
	}
	contract.mu.Lock()
	contract.seen[httpReq.Method+" "+route.Path] = true
	contract.mu.Unlock()
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: httpReq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: got.Status, Header: got.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	input.SetBodyBytes(got.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Fatalf("%s %s → %d does not match openapi.yaml: %v\nbody: %s", httpReq.Method, httpReq.URL.Path, got.Status, err, got.Body)
	}
}

// tokens is a decoded token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func (h *harness) devLogin(phone string) tokens {
	h.t.Helper()
	var tk tokens
	h.do(req{method: "POST", path: "/v1/auth/dev-login", body: map[string]any{"phone": phone}}).expect(h.t, 200).decode(h.t, &tk)
	return tk
}

func (h *harness) operatorLogin(username, password string) tokens {
	h.t.Helper()
	var tk tokens
	h.do(req{method: "POST", path: "/v1/admin/auth/login", body: map[string]any{"username": username, "password": password}}).
		expect(h.t, 200).decode(h.t, &tk)
	return tk
}

func (h *harness) createOperator(adminToken, username string, role domain.Role) {
	h.t.Helper()
	h.do(req{method: "POST", path: "/v1/admin/operators", bearer: adminToken,
		body: map[string]any{"username": username, "role": role, "password": adminPassword}}).expect(h.t, 201)
}
