package mongo

import (
	"errors"
	"fmt"
	"strings"

	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Server error codes for a unique index violation: 11000 is the normal one, 11001 an
// old code for duplicates raised by updates that some servers still send.
const (
	codeDuplicateKey       = 11000
	codeDuplicateKeyUpdate = 11001
)

// codeInternalError is what FerretDB v1 sends when its SQL backend refuses an update
// that breaks a unique index (see isDuplicateKey).
const codeInternalError = 1

// backendUniqueViolations are the messages FerretDB v1's SQLite and PostgreSQL
// backends put in that InternalError.
var backendUniqueViolations = []string{
	"UNIQUE constraint failed",                       // SQLite
	"duplicate key value violates unique constraint", // PostgreSQL
}

// isDuplicateKey reports whether err is a unique index violation. Every adapter path
// uses it rather than mongo.IsDuplicateKeyError because the driver's check misses
// the shape FerretDB v1 (our in-process test server) gives a duplicate raised by an
// update or findAndModify: not 11000 but an InternalError (code 1) carrying the SQL
// backend's constraint message. Real MongoDB never sends that, so recognising it
// costs nothing in production.
func isDuplicateKey(err error) bool {
	if err == nil {
		return false
	}
	if mongodrv.IsDuplicateKeyError(err) {
		return true
	}
	isDup := func(code int) bool { return code == codeDuplicateKey || code == codeDuplicateKeyUpdate }
	var we mongodrv.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if isDup(e.Code) {
				return true
			}
		}
	}
	var se mongodrv.ServerError
	if errors.As(err, &se) {
		for _, c := range se.ErrorCodes() {
			if isDup(c) {
				return true
			}
		}
	}
	var ce mongodrv.CommandError
	if errors.As(err, &ce) {
		if isDup(int(ce.Code)) {
			return true
		}
		if ce.Code == codeInternalError {
			for _, msg := range backendUniqueViolations {
				if strings.Contains(ce.Message, msg) {
					return true
				}
			}
		}
	}
	return false
}

// mapErr translates driver errors into the exact sentinel errors the domain expects
// (callers compare with errors.Is) and wraps everything else with the operation.
func mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongodrv.ErrNoDocuments):
		return domain.ErrNotFound
	case isDuplicateKey(err):
		return domain.ErrConflict
	default:
		return fmt.Errorf("mongo: %s: %w", op, err)
	}
}
