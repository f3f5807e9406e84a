package api

import (
	"testing"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Whatever bytes arrive, the strict decoder either fills the request or answers
// with a 400-class domain error; it never panics and never lets an error through
// that the error handler would turn into a 500.
func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{
		`{"phone":"13800138000"}`, `{"phone":{"$gt":""}}`, `{"nickname":null}`, `{}`, `[]`, `""`, `{"a":1}`,
		`{"phone":"1"} {"phone":"2"}`, `{"phone":`, "", "\x00", `{"phone":"\ud800"}`, `{"district":1e309}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst devLoginRequest
		err := decodeStrict(body, &dst)
		if err == nil {
			return
		}
		if kind := domain.ErrorKindOf(err); kind != domain.KindInvalid {
			t.Fatalf("decoding %q gave a %s error: %v", body, kind, err)
		}
	})
}

func FuzzPatchProfileBody(f *testing.F) {
	for _, seed := range []string{`{"nickname":"小绿"}`, `{"leaderboard_opt_out":"yes"}`, `{"district":["anji"]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst profilePatchRequest
		if err := decodeStrict(body, &dst); err != nil && domain.ErrorKindOf(err) != domain.KindInvalid {
			t.Fatalf("decoding %q gave %v", body, err)
		}
	})
}
