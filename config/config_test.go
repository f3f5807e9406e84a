package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsServeEmbeddedModeWithDevLogin(t *testing.T) {
	cfg, err := LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8080 || cfg.DataDir != "./data" || cfg.AccessTokenTTL != 15*time.Minute {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
	if cfg.Production() || !cfg.DevLoginEnabled() {
		t.Fatal("embedded mode must have dev login on by default")
	}
}

func TestProductionTurnsDevLoginOffUnlessAskedFor(t *testing.T) {
	vars := map[string]string{"MONGODB_URI": "mongodb://db", "CARBON_JWT_KEY_FILE": "/keys/k.pem"}
	cfg, err := LoadFrom(vars)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DevLoginEnabled() {
		t.Fatal("dev login must be off by default with MONGODB_URI")
	}
	vars["CARBON_DEV_LOGIN"] = "true"
	if cfg, _ = LoadFrom(vars); !cfg.DevLoginEnabled() {
		t.Fatal("CARBON_DEV_LOGIN=true must turn dev login on")
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"PORT":                              {"PORT": "http"},
		"PORT ":                             {"PORT": "70000"},
		"CARBON_DEV_LOGIN":                  {"CARBON_DEV_LOGIN": "maybe"},
		"CARBON_ACCESS_TOKEN_TTL":           {"CARBON_ACCESS_TOKEN_TTL": "forever"},
		"CARBON_ACCESS_TOKEN_TTL ":          {"CARBON_ACCESS_TOKEN_TTL": "1s"},
		"CARBON_LOG_LEVEL":                  {"CARBON_LOG_LEVEL": "loud"},
		"CARBON_JWT_KEY_FILE":               {"MONGODB_URI": "mongodb://db"},
		"CARBON_BODY_LIMIT_BYTES":           {"CARBON_BODY_LIMIT_BYTES": "10"},
		"CARBON_REFRESH_TOKEN_TTL":          {"CARBON_REFRESH_TOKEN_TTL": "1m"},
		"CARBON_LEADERBOARD_RETENTION":      {"CARBON_LEADERBOARD_RETENTION": "1h"},
		"CARBON_LEADERBOARD_CATCHUP_EVERY":  {"CARBON_LEADERBOARD_CATCHUP_EVERY": "1s"},
		"CARBON_LEADERBOARD_CATCHUP_EVERY ": {"CARBON_LEADERBOARD_CATCHUP_EVERY": "6h"},
		"CARBON_LEADERBOARD_REBUILD_CRON":   {"CARBON_LEADERBOARD_REBUILD_CRON": "every day"},
		"CARBON_LEADERBOARD_REBUILD_CRON ":  {"CARBON_LEADERBOARD_REBUILD_CRON": "CRON_TZ=Mars/Olympus 0 4 * * *"},
	}
	for want, vars := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := LoadFrom(vars)
			if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
				t.Fatalf("error %v does not name %s", err, want)
			}
		})
	}
}
