package api

import (
	"bufio"
	"encoding/csv"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// redemptionBenefitBody is what a bank sees of the redeemed benefit.
type redemptionBenefitBody struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Kind      string `json:"kind"`
	Terms     string `json:"terms"`
	RateBP    *int   `json:"rate_bp"`
	AmountFen *int64 `json:"amount_fen"`
}

// redemptionBody is a redemption as its bank sees it: never the citizen's id.
// discount_bp repeats benefit.rate_bp for a loan rate discount (null otherwise).
type redemptionBody struct {
	ID              string                `json:"id"`
	VoucherCode     string                `json:"voucher_code"`
	ExternalRef     string                `json:"external_ref"`
	RedeemedAt      time.Time             `json:"redeemed_at"`
	Benefit         redemptionBenefitBody `json:"benefit"`
	DiscountBP      *int                  `json:"discount_bp"`
	PointsSpent     int64                 `json:"points_spent"`
	ReversibleUntil time.Time             `json:"reversible_until"`
	ReversedAt      *time.Time            `json:"reversed_at"`
	ReversalReason  *string               `json:"reversal_reason"`
	RefundedPoints  int64                 `json:"refunded_points"`
}

func rateOf(b domain.Benefit) *int {
	if b.Kind == domain.BenefitLoanRateDiscount || b.Kind == domain.BenefitDepositRateBonus {
		r := b.RateBP
		return &r
	}
	return nil
}

func amountOf(b domain.Benefit) *int64 {
	if b.Kind == domain.BenefitCashback {
		a := b.AmountFen
		return &a
	}
	return nil
}

func redemptionOf(v domain.RedemptionView) redemptionBody {
	b := redemptionBody{
		ID: v.ID, VoucherCode: v.VoucherCode, ExternalRef: v.ExternalRef, RedeemedAt: v.RedeemedAt.UTC(),
		Benefit: redemptionBenefitBody{ID: v.Benefit.ID, Title: v.Benefit.Title, Kind: string(v.Benefit.Kind),
			Terms: v.Benefit.Terms, RateBP: rateOf(v.Benefit), AmountFen: amountOf(v.Benefit)},
		PointsSpent: v.PointsSpent, ReversibleUntil: v.ReversibleUntil.UTC(),
	}
	if v.Benefit.Kind == domain.BenefitLoanRateDiscount {
		b.DiscountBP = b.Benefit.RateBP
	}
	if v.ReversedAt != nil {
		t, reason := v.ReversedAt.UTC(), v.ReversalReason
		b.ReversedAt, b.ReversalReason, b.RefundedPoints = &t, &reason, v.PointsSpent
	}
	return b
}

type redeemRequest struct {
	VoucherCode string `json:"voucher_code" validate:"required,max=64"`
	ExternalRef string `json:"external_ref" validate:"required,max=64"`
}

type reverseRequest struct {
	Reason string `json:"reason" validate:"required,max=1024"`
}

// redeemVoucher redeems one of the bank's vouchers. The Idempotency-Key is
// required; a replay (same key, same code) answers 200 with the first redemption.
func (s *server) redeemVoucher(c *fiber.Ctx) error {
	var req redeemRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	v, replayed, err := s.Redemptions.Redeem(c.UserContext(), principal(c).SubjectID,
		strings.Clone(c.Get(headerIdempotencyKey)), req.VoucherCode, req.ExternalRef)
	if err != nil {
		return err
	}
	return createdOrReplayed(c, "/v1/bank/redemptions/"+v.ID, replayed, redemptionOf(v))
}

// reverseRedemption reverses one of the bank's redemptions; the same reason
// again is an idempotent replay (200, Idempotent-Replayed).
func (s *server) reverseRedemption(c *fiber.Ctx) error {
	var req reverseRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	v, replayed, err := s.Redemptions.Reverse(c.UserContext(), principal(c).SubjectID, strings.Clone(c.Params("id")), req.Reason)
	if err != nil {
		return err
	}
	if replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.JSON(redemptionOf(v))
}

// redemptionRange reads the required ?from= and ?to= (RFC 3339).
func redemptionRange(c *fiber.Ctx) (from, to time.Time, err error) {
	var bad []domain.FieldError
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		raw := c.Query(f.name)
		t, perr := time.Parse(time.RFC3339Nano, raw)
		if raw == "" || perr != nil {
			bad = append(bad, domain.FieldError{Field: f.name, Code: "invalid_time",
				Message: "is required, an RFC 3339 time such as 2026-11-27T00:00:00+08:00"})
			continue
		}
		*f.dst = t
	}
	if len(bad) > 0 {
		return from, to, domain.Invalid(bad...)
	}
	return from, to, domain.CheckRedemptionRange(from, to)
}

// csvPage is how many redemptions the CSV export reads from the store at a time.
const csvPage = 200

// listRedemptions lists the bank's redemptions made in [from, to): a JSON page, or
// with Accept: text/csv the whole range as CSV, read and written page by page.
func (s *server) listRedemptions(c *fiber.Ctx) error {
	from, to, err := redemptionRange(c)
	if err != nil {
		return err
	}
	bankID := principal(c).SubjectID
	if c.Accepts(fiber.MIMEApplicationJSON, "text/csv") == "text/csv" {
		return s.redemptionsCSV(c, bankID, from, to)
	}
	afterID, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	list, err := s.Redemptions.List(c.UserContext(), bankID, from, to, afterID, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, limit, func(v domain.RedemptionView) string { return v.ID }, redemptionOf))
}

var redemptionCSVHeader = []string{"id", "redeemed_at", "voucher_code", "benefit_id", "benefit_title", "kind",
	"rate_bp", "amount_fen", "points_spent", "external_ref", "reversed_at", "reversal_reason"}

// redemptionsCSV streams the range. The first page is read before answering, so
// a store failure is still a problem response; a failure later ends the stream
// early (the status is sent by then) and is logged.
func (s *server) redemptionsCSV(c *fiber.Ctx, bankID string, from, to time.Time) error {
	ctx := c.UserContext()
	first, err := s.Redemptions.List(ctx, bankID, from, to, "", csvPage)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="redemptions-`+from.UTC().Format("20060102T150405Z")+
		"-"+to.UTC().Format("20060102T150405Z")+`.csv"`)
	log, rid := s.log, requestID(c)
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		w := csv.NewWriter(bw)
		_ = w.Write(redemptionCSVHeader)
		page := first
		for {
			for _, v := range page {
				_ = w.Write(redemptionRow(v))
			}
			w.Flush()
			if len(page) < csvPage {
				return
			}
			var err error
			if page, err = s.Redemptions.List(ctx, bankID, from, to, page[len(page)-1].ID, csvPage); err != nil {
				log.ErrorContext(ctx, "redemptions CSV cut short", "request_id", rid, "error", err)
				return
			}
		}
	})
	return nil
}

func redemptionRow(v domain.RedemptionView) []string {
	opt := func(p any) string {
		switch x := p.(type) {
		case *int:
			if x != nil {
				return strconv.Itoa(*x)
			}
		case *int64:
			if x != nil {
				return strconv.FormatInt(*x, 10)
			}
		}
		return ""
	}
	reversedAt := ""
	if v.ReversedAt != nil {
		reversedAt = v.ReversedAt.UTC().Format(time.RFC3339Nano)
	}
	return []string{v.ID, v.RedeemedAt.UTC().Format(time.RFC3339Nano), v.VoucherCode, v.Benefit.ID, csvSafe(v.Benefit.Title),
		string(v.Benefit.Kind), opt(rateOf(v.Benefit)), opt(amountOf(v.Benefit)), strconv.FormatInt(v.PointsSpent, 10),
		csvSafe(v.ExternalRef), reversedAt, csvSafe(v.ReversalReason)}
}

// csvSafe defuses spreadsheet formula injection: a cell a spreadsheet would
// evaluate (starting with = + - @, tab or carriage return) gets a leading quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// The scopes of the redemption routes (routes.go).
const (
	scopeRedemptionsWrite = domain.ScopeRedemptionsWrite
	scopeRedemptionsRead  = domain.ScopeRedemptionsRead
)
