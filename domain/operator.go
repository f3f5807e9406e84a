package domain

import (
	"context"
	"regexp"
	"time"
)

// Role is what a token holder may do. Citizens and banks have one role each;
// operators have admin, operator or auditor.
type Role string

const (
	RoleCitizen  Role = "citizen"
	RoleBank     Role = "bank"
	RoleAdmin    Role = "admin"    // everything, including managing operators
	RoleOperator Role = "operator" // day-to-day configuration and reviews
	RoleAuditor  Role = "auditor"  // read-only
)

// OperatorRoles lists the operator roles from most to least powerful.
var OperatorRoles = []Role{RoleAdmin, RoleOperator, RoleAuditor}

// IsOperatorRole reports whether r is one of OperatorRoles.
func IsOperatorRole(r Role) bool {
	for _, o := range OperatorRoles {
		if o == r {
			return true
		}
	}
	return false
}

// Operator is a person who runs the service from the console.
type Operator struct {
	ID           string
	Username     string
	Role         Role
	PasswordHash string
	CreatedAt    time.Time
	CreatedBy    string // operator id, or "system" for the bootstrap admin
}

// BootstrapAdminUsername is the operator created on first start.
const BootstrapAdminUsername = "admin"

var usernamePattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{2,31}$`)

const (
	minPasswordLen = 12
	maxPasswordLen = 72 // bcrypt ignores bytes past 72
)

func validateOperatorInput(username string, role Role, password string) error {
	var fields []FieldError
	if !usernamePattern.MatchString(username) {
		fields = append(fields, FieldError{Field: "username", Code: "invalid_format",
			Message: "must be 3-32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter"})
	}
	if !IsOperatorRole(role) {
		fields = append(fields, FieldError{Field: "role", Code: "unknown_role", Message: "must be admin, operator or auditor"})
	}
	if len(password) < minPasswordLen || len(password) > maxPasswordLen {
		fields = append(fields, FieldError{Field: "password", Code: "invalid_length",
			Message: "must be 12 to 72 bytes long"})
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

// OperatorStore keeps operator accounts.
type OperatorStore interface {
	// CreateOperator returns ErrConflict if the username is taken.
	CreateOperator(ctx context.Context, o Operator) error
	// GetOperatorByUsername returns ErrNotFound if there is none.
	GetOperatorByUsername(ctx context.Context, username string) (Operator, error)
	// GetOperator returns ErrNotFound if there is none.
	GetOperator(ctx context.Context, id string) (Operator, error)
	// ListOperators returns up to limit operators with ID greater than afterID,
	// in ID order ("" starts at the beginning).
	ListOperators(ctx context.Context, afterID string, limit int) ([]Operator, error)
}
