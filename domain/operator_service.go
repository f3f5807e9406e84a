package domain

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// OperatorService manages operator accounts.
type OperatorService struct {
	Operators OperatorStore
	Now       func() time.Time
	// PasswordCost is the bcrypt cost; tests lower it, production keeps the default.
	PasswordCost int
}

// NewOperatorInput is what an admin provides to create an operator.
type NewOperatorInput struct {
	Username string
	Role     Role
	Password string
}

// Create adds an operator. createdBy is the acting operator's id or "system".
func (s *OperatorService) Create(ctx context.Context, in NewOperatorInput, createdBy string) (Operator, error) {
	in.Username = strings.ToLower(strings.TrimSpace(in.Username))
	if err := validateOperatorInput(in.Username, in.Role, in.Password); err != nil {
		return Operator{}, err
	}
	cost := s.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), cost)
	if err != nil {
		return Operator{}, err
	}
	now := s.Now()
	op := Operator{ID: NewID(now), Username: in.Username, Role: in.Role, PasswordHash: string(hash), CreatedAt: now, CreatedBy: createdBy}
	if err := s.Operators.CreateOperator(ctx, op); errors.Is(err, ErrConflict) {
		return Operator{}, Errorf(KindConflict, "username_taken", "an operator named %q already exists", in.Username)
	} else if err != nil {
		return Operator{}, err
	}
	return op, nil
}

// Get returns an operator by id.
func (s *OperatorService) Get(ctx context.Context, id string) (Operator, error) {
	op, err := s.Operators.GetOperator(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Operator{}, Errorf(KindNotFound, "operator_not_found", "no operator with this id")
	}
	return op, err
}

// List returns a page of operators after the cursor (an operator id).
func (s *OperatorService) List(ctx context.Context, afterID string, limit int) ([]Operator, error) {
	return s.Operators.ListOperators(ctx, afterID, limit)
}

// EnsureBootstrapAdmin creates the "admin" operator if it does not exist yet. With
// an empty password and generate set it makes up one and returns it so the caller
// can show it once; with an empty password and generate unset it creates nothing.
// Safe to call from several replicas at once.
func (s *OperatorService) EnsureBootstrapAdmin(ctx context.Context, password string, generate bool) (generated string, created bool, err error) {
	if _, err := s.Operators.GetOperatorByUsername(ctx, BootstrapAdminUsername); err == nil {
		return "", false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", false, err
	}
	if password == "" {
		if !generate {
			return "", false, nil
		}
		password = RandomToken(18)
		generated = password
	}
	_, err = s.Create(ctx, NewOperatorInput{Username: BootstrapAdminUsername, Role: RoleAdmin, Password: password}, "system")
	if ErrorCodeOf(err) == "username_taken" {
		return "", false, nil // another replica won the race
	}
	if err != nil {
		return "", false, err
	}
	return generated, true, nil
}
