// Package config reads the service's settings from environment variables. Every
// variable is documented in the README's configuration table.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config holds every setting. Zero values are never meaningful: Load fills defaults.
type Config struct {
	Port    int    `env:"PORT" envDefault:"8080"`
	DataDir string `env:"CARBON_DATA_DIR" envDefault:"./data"`

	MongoURI      string `env:"MONGODB_URI"`
	MongoDatabase string `env:"MONGODB_DB" envDefault:"carbon_account"`

	RedisURL       string `env:"REDIS_URL"`
	RedisKeyPrefix string `env:"CARBON_REDIS_PREFIX" envDefault:"carbon:"`

	// DevLogin is nil when unset: then it is on in embedded mode and off in production.
	DevLogin      *bool  `env:"CARBON_DEV_LOGIN"`
	AdminPassword string `env:"CARBON_ADMIN_PASSWORD"`

	FirebaseProjectID    string `env:"FIREBASE_PROJECT_ID"`
	GoogleCredentials    string `env:"GOOGLE_APPLICATION_CREDENTIALS"`
	FirebaseEmulatorHost string `env:"FIREBASE_AUTH_EMULATOR_HOST"`

	JWTKeyFile          string        `env:"CARBON_JWT_KEY_FILE"`
	JWTPreviousKeyFiles []string      `env:"CARBON_JWT_PREVIOUS_KEY_FILES" envSeparator:","`
	JWTIssuer           string        `env:"CARBON_JWT_ISSUER" envDefault:"carbon-account"`
	JWTAudience         string        `env:"CARBON_JWT_AUDIENCE" envDefault:"carbon-account-api"`
	AccessTokenTTL      time.Duration `env:"CARBON_ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL     time.Duration `env:"CARBON_REFRESH_TOKEN_TTL" envDefault:"720h"`
	BankTokenTTL        time.Duration `env:"CARBON_BANK_TOKEN_TTL" envDefault:"10m"`
	// RedemptionReversalWindow is how long after a redemption its bank may reverse it.
	RedemptionReversalWindow time.Duration `env:"CARBON_REDEMPTION_REVERSAL_WINDOW" envDefault:"72h"`

	LoginAttempts int           `env:"CARBON_LOGIN_ATTEMPTS" envDefault:"10"`
	LoginWindow   time.Duration `env:"CARBON_LOGIN_WINDOW" envDefault:"15m"`

	ActionMaxAge     time.Duration `env:"CARBON_ACTION_MAX_AGE" envDefault:"720h"`
	ActionFutureSkew time.Duration `env:"CARBON_ACTION_FUTURE_SKEW" envDefault:"5m"`
	DailyPointsCap   int64         `env:"CARBON_DAILY_POINTS_CAP" envDefault:"5000"`
	ActionsPerMinute int           `env:"CARBON_ACTIONS_PER_MINUTE" envDefault:"120"`
	CoefficientLead  time.Duration `env:"CARBON_COEFFICIENT_LEAD" envDefault:"2m"`
	CatalogRefresh   time.Duration `env:"CARBON_CATALOG_REFRESH" envDefault:"30s"`
	ReconcileEvery   time.Duration `env:"CARBON_RECONCILE_EVERY" envDefault:"1h"`

	BoardRetention    time.Duration `env:"CARBON_LEADERBOARD_RETENTION" envDefault:"168h"`
	BoardCatchUpEvery time.Duration `env:"CARBON_LEADERBOARD_CATCHUP_EVERY" envDefault:"1m"`
	BoardRebuildCron  string        `env:"CARBON_LEADERBOARD_REBUILD_CRON" envDefault:"CRON_TZ=Asia/Shanghai 30 4 * * *"`
	SkipSeed          bool          `env:"CARBON_SKIP_SEED" envDefault:"false"`

	BodyLimitBytes  int           `env:"CARBON_BODY_LIMIT_BYTES" envDefault:"65536"`
	ShutdownTimeout time.Duration `env:"CARBON_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	TrustedProxies  []string      `env:"CARBON_TRUSTED_PROXIES" envSeparator:","`
	LogLevel        slog.Level    `env:"CARBON_LOG_LEVEL" envDefault:"info"`
}

// Load reads the configuration from the environment. A bad value yields an error
// that names the variable.
func Load() (Config, error) {
	cfg, err := env.ParseAs[Config]()
	if err != nil {
		return Config{}, nameVariables(err)
	}
	return cfg, cfg.validate()
}

// LoadFrom reads the configuration from the given variables only (for tests).
func LoadFrom(vars map[string]string) (Config, error) {
	cfg, err := env.ParseAsWithOptions[Config](env.Options{Environment: vars})
	if err != nil {
		return Config{}, nameVariables(err)
	}
	return cfg, cfg.validate()
}

// nameVariables rewrites the env library's parse errors, which name Go struct
// fields, so that they name the environment variable an operator has to fix.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if field, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
				errs = append(errs, fmt.Errorf("configuration: %s has a bad value: %w", field.Tag.Get("env"), pe.Err))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("configuration: %w", e))
	}
	return errors.Join(errs...)
}

func (c Config) validate() error {
	var errs []error
	bad := func(name, why string) { errs = append(errs, fmt.Errorf("configuration: %s %s", name, why)) }
	if c.Port < 1 || c.Port > 65535 {
		bad("PORT", "must be between 1 and 65535")
	}
	if c.DataDir == "" {
		bad("CARBON_DATA_DIR", "must not be empty")
	}
	if c.MongoURI != "" && c.MongoDatabase == "" {
		bad("MONGODB_DB", "must not be empty when MONGODB_URI is set")
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour {
		bad("CARBON_ACCESS_TOKEN_TTL", "must be between 1m and 24h")
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL {
		bad("CARBON_REFRESH_TOKEN_TTL", "must be at least CARBON_ACCESS_TOKEN_TTL")
	}
	if c.BankTokenTTL < time.Minute || c.BankTokenTTL > 10*time.Minute {
		bad("CARBON_BANK_TOKEN_TTL", "must be between 1m and 10m")
	}
	if c.RedemptionReversalWindow < time.Minute || c.RedemptionReversalWindow > 90*24*time.Hour {
		bad("CARBON_REDEMPTION_REVERSAL_WINDOW", "must be between 1m and 2160h (90 days)")
	}
	if c.LoginAttempts < 1 {
		bad("CARBON_LOGIN_ATTEMPTS", "must be at least 1")
	}
	if c.LoginWindow < time.Second {
		bad("CARBON_LOGIN_WINDOW", "must be at least 1s")
	}
	if c.BodyLimitBytes < 1024 {
		bad("CARBON_BODY_LIMIT_BYTES", "must be at least 1024")
	}
	if c.ActionMaxAge < time.Hour {
		bad("CARBON_ACTION_MAX_AGE", "must be at least 1h")
	}
	if c.ActionFutureSkew < 0 || c.ActionFutureSkew > time.Hour {
		bad("CARBON_ACTION_FUTURE_SKEW", "must be between 0 and 1h")
	}
	if c.DailyPointsCap < 0 {
		bad("CARBON_DAILY_POINTS_CAP", "must be 0 (no cap) or more")
	}
	if c.ActionsPerMinute < 0 {
		bad("CARBON_ACTIONS_PER_MINUTE", "must be 0 (no limit) or more")
	}
	if c.CatalogRefresh < time.Second {
		bad("CARBON_CATALOG_REFRESH", "must be at least 1s")
	}
	if c.CoefficientLead < 2*c.CatalogRefresh {
		bad("CARBON_COEFFICIENT_LEAD", "must be at least twice CARBON_CATALOG_REFRESH, so every replica knows a coefficient version before it takes effect")
	}
	if c.ReconcileEvery < time.Minute {
		bad("CARBON_RECONCILE_EVERY", "must be at least 1m")
	}
	if c.BoardRetention < 24*time.Hour {
		bad("CARBON_LEADERBOARD_RETENTION", "must be at least 24h")
	}
	if c.BoardCatchUpEvery < 10*time.Second || c.BoardCatchUpEvery > time.Hour {
		bad("CARBON_LEADERBOARD_CATCHUP_EVERY", "must be between 10s and 1h: catch-up must come round well within the 6h in which the boards remember applied credits")
	}
	if err := checkCron(c.BoardRebuildCron); err != nil {
		bad("CARBON_LEADERBOARD_REBUILD_CRON", err.Error())
	}
	if c.ShutdownTimeout <= 0 {
		bad("CARBON_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.JWTIssuer == "" {
		bad("CARBON_JWT_ISSUER", "must not be empty")
	}
	if c.JWTAudience == "" {
		bad("CARBON_JWT_AUDIENCE", "must not be empty")
	}
	if c.Production() && c.JWTKeyFile == "" {
		bad("CARBON_JWT_KEY_FILE", "must name the token signing key when MONGODB_URI is set (create one with `carbon-account keygen FILE`)")
	}
	return errors.Join(errs...)
}

// Production reports whether the service runs on MongoDB rather than the embedded store.
func (c Config) Production() bool { return c.MongoURI != "" }

// DevLoginEnabled reports whether POST /v1/auth/dev-login is served.
func (c Config) DevLoginEnabled() bool {
	if c.DevLogin != nil {
		return *c.DevLogin
	}
	return !c.Production()
}

// FirebaseEnabled reports whether Firebase ID token sign-in is configured.
func (c Config) FirebaseEnabled() bool { return c.FirebaseProjectID != "" }

// SigningKeyFile is where the token signing key lives: CARBON_JWT_KEY_FILE, or a
// key generated in the data directory in embedded mode.
func (c Config) SigningKeyFile() string {
	if c.JWTKeyFile != "" {
		return c.JWTKeyFile
	}
	return filepath.Join(c.DataDir, "keys", "jwt-ed25519.pem")
}

// SQLitePath is the embedded store's database file.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "carbon.db") }

// checkCron catches the usual mistakes in a five-field cron spec with an optional
// CRON_TZ=Zone in front, so that start-up names the variable; the scheduler
// parses the fields themselves.
func checkCron(spec string) error {
	fields := strings.Fields(spec)
	if len(fields) > 0 && strings.HasPrefix(fields[0], "CRON_TZ=") {
		if _, err := time.LoadLocation(strings.TrimPrefix(fields[0], "CRON_TZ=")); err != nil {
			return fmt.Errorf("unknown time zone in %q", fields[0])
		}
		fields = fields[1:]
	}
	if len(fields) != 5 {
		return fmt.Errorf("must be five cron fields (minute hour day month weekday), optionally after CRON_TZ=Zone; got %q", spec)
	}
	return nil
}
