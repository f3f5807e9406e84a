package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// ExpireVouchersName is the name of the ExpireVouchers job, for `run-job`.
const ExpireVouchersName = "expire-vouchers"

// expireBatch is how many vouchers one store call expires; the job loops until a
// call finds fewer, so a backlog (after downtime) is cleared in one run.
const expireBatch = 500

// ExpireVouchers returns the job that expires unredeemed vouchers past their
// expiry and refunds their points, each voucher atomically with its refund ledger
// entry. Idempotent: a voucher is refunded at most once, so a run cut short is
// finished by the next.
func ExpireVouchers(vouchers domain.BenefitStore, now func() time.Time, every time.Duration) Job {
	return Job{
		Name:    ExpireVouchersName,
		Every:   every,
		Timeout: 30 * time.Minute,
		Run: func(ctx context.Context) error {
			at, total := now(), 0
			for {
				n, err := vouchers.ExpireVouchers(ctx, at, expireBatch, func() string { return domain.NewID(at) })
				total += n
				if err != nil {
					Logger(ctx).InfoContext(ctx, "expired vouchers before an error", "expired", total)
					return fmt.Errorf("expire vouchers: %w", err)
				}
				if n < expireBatch {
					Logger(ctx).InfoContext(ctx, "expired vouchers", "expired", total, "due_before", at)
					return nil
				}
			}
		},
	}
}
