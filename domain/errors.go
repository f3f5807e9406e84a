package domain

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies a failure for callers. The HTTP layer maps each kind to one
// status code in a single table; adapters and services only choose the kind.
type ErrorKind string

const (
	KindInvalid       ErrorKind = "invalid"       // the input breaks a rule (400)
	KindUnauthorized  ErrorKind = "unauthorized"  // no or bad credentials (401)
	KindForbidden     ErrorKind = "forbidden"     // authenticated but not allowed (403)
	KindNotFound      ErrorKind = "not_found"     // no such thing, or not visible to the caller (404)
	KindConflict      ErrorKind = "conflict"      // clashes with the current state (409)
	KindUnprocessable ErrorKind = "unprocessable" // well-formed but cannot be applied (422)
	KindRateLimited   ErrorKind = "rate_limited"  // too many attempts (429)
	KindUnavailable   ErrorKind = "unavailable"   // a dependency is down or not configured (503)
	KindInternal      ErrorKind = "internal"      // a bug or an unexpected failure (500)
)

// FieldError names one invalid input field and why it is invalid.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is the one error type the domain returns. Code is a stable, machine-readable
// identifier that clients may switch on; Message is safe to show to the caller.
type Error struct {
	Kind       ErrorKind
	Code       string
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration // set for KindRateLimited
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds an *Error of the given kind and code.
func Errorf(kind ErrorKind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a validation error carrying per-field reasons.
func Invalid(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Code: "validation_failed", Message: "the request has invalid fields", Fields: fields}
}

// ErrorKindOf returns the kind of err, or KindInternal when err is not a domain error.
func ErrorKindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorCodeOf returns the code of err, or "" when err is not a domain error.
func ErrorCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Errors returned by store adapters. Services wrap or translate them; adapters must
// return exactly these (checked by the contract suites) so services can rely on them.
var (
	ErrNotFound = Errorf(KindNotFound, "not_found", "not found")
	// ErrConflict reports that a unique key is taken or a guarded update lost its guard.
	ErrConflict = Errorf(KindConflict, "conflict", "conflicts with the current state")
)
