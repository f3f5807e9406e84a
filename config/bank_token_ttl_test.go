package config

import (
	"strings"
	"testing"
	"time"
)

func TestBankTokenTTLIsAtMostTenMinutes(t *testing.T) {
	cfg, err := LoadFrom(map[string]string{})
	if err != nil || cfg.BankTokenTTL != 10*time.Minute {
		t.Fatalf("default CARBON_BANK_TOKEN_TTL = %v, %v; want 10m", cfg.BankTokenTTL, err)
	}
	if cfg, err := LoadFrom(map[string]string{"CARBON_BANK_TOKEN_TTL": "5m"}); err != nil || cfg.BankTokenTTL != 5*time.Minute {
		t.Fatalf("CARBON_BANK_TOKEN_TTL=5m: %v, %v", cfg.BankTokenTTL, err)
	}
	for _, bad := range []string{"11m", "1h", "30s", "0", "soon"} {
		_, err := LoadFrom(map[string]string{"CARBON_BANK_TOKEN_TTL": bad})
		if err == nil || !strings.Contains(err.Error(), "CARBON_BANK_TOKEN_TTL") {
			t.Errorf("CARBON_BANK_TOKEN_TTL=%s: error %v does not name the variable", bad, err)
		}
	}
}
