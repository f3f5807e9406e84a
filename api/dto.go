package api

import (
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Request and response bodies. Field names are the public contract in openapi.yaml.

type tokenResponse struct {
	AccessToken      string    `json:"access_token"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        int       `json:"expires_in"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

type firebaseSignInRequest struct {
	IDToken string `json:"id_token" validate:"required,max=8192"`
}

type devLoginRequest struct {
	Phone    string  `json:"phone" validate:"required,max=32"`
	Nickname *string `json:"nickname"`
	District *string `json:"district"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=256"`
}

type operatorLoginRequest struct {
	Username string `json:"username" validate:"required,max=64"`
	Password string `json:"password" validate:"required,max=256"`
}

type profileResponse struct {
	ID                string    `json:"id"`
	Nickname          string    `json:"nickname"`
	District          *string   `json:"district"`
	LeaderboardOptOut bool      `json:"leaderboard_opt_out"`
	Balance           int64     `json:"balance"`
	CO2eGramsTotal    int64     `json:"co2e_g_total"`
	PointsEarnedTotal int64     `json:"points_earned_total"`
	Level             int       `json:"level"`
	LevelName         string    `json:"level_name"`
	CreatedAt         time.Time `json:"created_at"`
}

func (s *server) profileOf(c domain.Citizen) profileResponse {
	level := domain.LevelFor(s.Levels, c.CO2eGramsTotal)
	p := profileResponse{
		ID: c.ID, Nickname: c.Nickname, LeaderboardOptOut: c.LeaderboardOptOut,
		Balance: c.Balance, CO2eGramsTotal: c.CO2eGramsTotal, PointsEarnedTotal: c.PointsEarnedTotal,
		Level: level.Number, LevelName: level.Name, CreatedAt: c.CreatedAt.UTC(),
	}
	if c.District != "" {
		d := c.District
		p.District = &d
	}
	return p
}

type profilePatchRequest struct {
	Nickname          *string `json:"nickname"`
	District          *string `json:"district"`
	LeaderboardOptOut *bool   `json:"leaderboard_opt_out"`
}

type operatorResponse struct {
	ID        string      `json:"id"`
	Username  string      `json:"username"`
	Role      domain.Role `json:"role"`
	CreatedAt time.Time   `json:"created_at"`
	CreatedBy string      `json:"created_by"`
}

func operatorOf(o domain.Operator) operatorResponse {
	return operatorResponse{ID: o.ID, Username: o.Username, Role: o.Role, CreatedAt: o.CreatedAt.UTC(), CreatedBy: o.CreatedBy}
}

type createOperatorRequest struct {
	Username string      `json:"username" validate:"required,max=64"`
	Role     domain.Role `json:"role" validate:"required"`
	Password string      `json:"password" validate:"required,max=256"`
}

type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}
