package api

import (
	"encoding/base64"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// pageParams reads ?limit= and ?cursor=. Cursors are opaque to clients: the
// base64url of the last id of the previous page; the listing continues after it
// in its own order (ascending ids for operators, newest first for actions).
func pageParams(c *fiber.Ctx) (cursorID string, limit int, err error) {
	limit = defaultPageSize
	if raw := c.Query("limit"); raw != "" {
		n, convErr := strconv.Atoi(raw)
		if convErr != nil || n < 1 || n > maxPageSize {
			return "", 0, domain.Invalid(domain.FieldError{Field: "limit", Code: "out_of_range", Message: "must be a whole number from 1 to 200"})
		}
		limit = n
	}
	if raw := c.Query("cursor"); raw != "" {
		id, decErr := base64.RawURLEncoding.DecodeString(raw)
		if decErr != nil || len(id) == 0 || len(id) > 64 {
			return "", 0, domain.Invalid(domain.FieldError{Field: "cursor", Code: "invalid_cursor", Message: "is not a cursor this API returned"})
		}
		cursorID = string(id)
	}
	return cursorID, limit, nil
}

// pageOf fetches one more than limit to learn whether another page exists.
func pageOf[T, R any](items []T, limit int, idOf func(T) string, render func(T) R) page[R] {
	p := page[R]{Items: make([]R, 0, min(len(items), limit))}
	for i, it := range items {
		if i == limit {
			next := base64.RawURLEncoding.EncodeToString([]byte(idOf(items[limit-1])))
			p.NextCursor = &next
			break
		}
		p.Items = append(p.Items, render(it))
	}
	return p
}
