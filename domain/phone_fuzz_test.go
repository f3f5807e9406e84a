package domain

import (
	"strings"
	"testing"
)

// NormalizePhone accepts exactly the mainland mobile numbers, in whatever common
// prefix form, and always returns +86 followed by 11 digits.
func FuzzNormalizePhone(f *testing.F) {
	for _, seed := range []string{"13800138000", "+8613800138000", "008613800138000", "8613800138000", "", "+1", "１３８００１３８０００"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, phone string) {
		got, err := NormalizePhone("phone", phone)
		if err != nil {
			if ErrorKindOf(err) != KindInvalid {
				t.Fatalf("%q: %v", phone, err)
			}
			return
		}
		if !strings.HasPrefix(got, "+86") || !mainlandMobile.MatchString(got[3:]) {
			t.Fatalf("%q normalised to %q", phone, got)
		}
		if again, err := NormalizePhone("phone", got); err != nil || again != got {
			t.Fatalf("normalising %q again gave %q, %v", got, again, err)
		}
	})
}
