package domain

// The arithmetic of a credit, in integers only. Rounding is always down (floor),
// applied twice in this order:
//
//	co2e_g = floor(quantity_milli × co2e_mg_per_unit / 1 000 000)
//	points = floor(co2e_g × points_per_kg / 1000) + floor(quantity_milli × points_per_unit / 1000)
//
// Caps then reduce the result: the type's daily quantity cap limits the credited
// quantity (and so the CO2e and points); the type's and the citizen's daily points
// caps limit points only, since the carbon was avoided all the same.

// co2eGrams is the CO2e avoided by q units at mgPerUnit.
func co2eGrams(q Quantity, mgPerUnit int64) int64 {
	return int64(q) * mgPerUnit / (QuantityScale * 1000)
}

// pointsFor is what an amount earns before caps.
func pointsFor(q Quantity, co2e int64, co Coefficients) int64 {
	return co2e*co.PointsPerKg/1000 + int64(q)*co.PointsPerUnit/QuantityScale
}

var errDailyCapReached = Errorf(KindUnprocessable, "daily_cap_reached", "the daily limit for this activity is already reached; nothing was recorded")

// decideCredit applies the rules of one coefficient version to a requested
// quantity, given what the citizen was already credited that day.
// dailyPointsCap is the citizen's overall daily points cap (0 = none).
func decideCredit(co Coefficients, requested Quantity, used DayUsage, dailyPointsCap int64) (Credit, error) {
	if co.Evidence.Review {
		return Credit{Status: ActionPendingReview}, nil
	}
	credit := Credit{Status: ActionCredited, CreditedQuantity: requested}
	if co.DailyMaxQuantity > 0 {
		left := co.DailyMaxQuantity - used.TypeQuantity
		if left <= 0 {
			return Credit{}, errDailyCapReached
		}
		if requested > left {
			credit.CreditedQuantity = left
			credit.Cap = &CapOutcome{Limit: CapTypeDailyQuantity}
		}
	}
	credit.CO2eGrams = co2eGrams(credit.CreditedQuantity, co.CO2eMgPerUnit)
	credit.Points = pointsFor(credit.CreditedQuantity, credit.CO2eGrams, co)

	limit, left := CapLimit(""), int64(-1)
	if co.DailyMaxPoints > 0 {
		limit, left = CapTypeDailyPoints, max(0, co.DailyMaxPoints-used.TypePoints)
	}
	if dailyPointsCap > 0 {
		if l := max(0, dailyPointsCap-used.TotalPoints); left < 0 || l < left {
			limit, left = CapDailyPoints, l
		}
	}
	if left >= 0 && credit.Points > left {
		if left == 0 && credit.CO2eGrams == 0 {
			return Credit{}, errDailyCapReached
		}
		withheld := credit.Points - left
		credit.Points = left
		if credit.Cap == nil {
			credit.Cap = &CapOutcome{Limit: limit}
		}
		credit.Cap.PointsWithheld = withheld
	}
	if credit.Cap != nil {
		credit.Cap.RequestedQuantity, credit.Cap.CreditedQuantity = requested, credit.CreditedQuantity
	}
	return credit, nil
}
