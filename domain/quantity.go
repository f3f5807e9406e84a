package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// Quantity is an amount of an activity's unit in thousandths (milli-units), so that
// 12.5 km is 12500. Every sum and comparison is on integers; 3 decimals is the most
// any unit needs (grams of a kilogram, metres of a kilometre).
type Quantity int64

// QuantityScale is how many Quantity steps make one unit.
const QuantityScale = 1000

// maxQuantityDecimals is the finest precision a unit may accept.
const maxQuantityDecimals = 3

// Units returns a whole number of units as a Quantity.
func Units(n int64) Quantity { return Quantity(n * QuantityScale) }

// String formats q as a decimal without trailing zeros ("12.5", "3").
func (q Quantity) String() string {
	sign := ""
	if q < 0 {
		sign, q = "-", -q
	}
	whole, frac := int64(q)/QuantityScale, int64(q)%QuantityScale
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	return sign + strings.TrimRight(fmt.Sprintf("%d.%03d", whole, frac), "0")
}

// ParseQuantity reads a JSON number literal exactly (no floating point) and allows
// at most `decimals` digits after the point. It refuses exponents, signs and
// anything that is not a plain positive decimal.
func ParseQuantity(literal string, decimals int) (Quantity, error) {
	whole, frac, hasPoint := strings.Cut(literal, ".")
	if whole == "" || (hasPoint && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("not a plain decimal number")
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, fmt.Errorf("not a plain decimal number")
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > decimals {
		return 0, fmt.Errorf("has more than %d decimal places", decimals)
	}
	if len(whole) > 12 {
		return 0, fmt.Errorf("is too large")
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("is too large")
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", maxQuantityDecimals-len(frac)), 10, 64)
	}
	return Quantity(w*QuantityScale + f), nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
