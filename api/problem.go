package api

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Problem is an RFC 7807 problem details body. Code is stable: clients switch on it.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Code      string              `json:"code"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []domain.FieldError `json:"errors,omitempty"`
}

// problemTypeBase prefixes the code to form the problem type URI; the codes are
// listed in openapi.yaml.
const problemTypeBase = "urn:lvdaitong:problem:"

// statusOfKind is the one table from domain error kinds to HTTP statuses.
var statusOfKind = map[domain.ErrorKind]int{
	domain.KindInvalid:       http.StatusBadRequest,
	domain.KindUnauthorized:  http.StatusUnauthorized,
	domain.KindForbidden:     http.StatusForbidden,
	domain.KindNotFound:      http.StatusNotFound,
	domain.KindConflict:      http.StatusConflict,
	domain.KindUnprocessable: http.StatusUnprocessableEntity,
	domain.KindRateLimited:   http.StatusTooManyRequests,
	domain.KindUnavailable:   http.StatusServiceUnavailable,
	domain.KindInternal:      http.StatusInternalServerError,
}

// codeOfFiberStatus names the errors Fiber itself raises before a handler runs.
var codeOfFiberStatus = map[int]string{
	http.StatusBadRequest:                  "bad_request",
	http.StatusNotFound:                    "route_not_found",
	http.StatusMethodNotAllowed:            "method_not_allowed",
	http.StatusRequestEntityTooLarge:       "body_too_large",
	http.StatusRequestTimeout:              "request_timeout",
	http.StatusRequestHeaderFieldsTooLarge: "headers_too_large",
}

// challengeCodes are the 401s of bearer-protected routes, which must say how to
// authenticate (RFC 6750); failed sign-ins are 401s too but need no challenge.
var challengeCodes = map[string]bool{"missing_token": true, "invalid_token": true, "account_erased": true}

// errorHandler turns every error a handler returns into a problem+json response.
// Only unexpected errors are logged, and their text never reaches the client.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	p := Problem{Instance: c.Path(), RequestID: requestID(c)}
	var de *domain.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &de):
		p.Status = statusOfKind[de.Kind]
		p.Code, p.Detail, p.Errors = de.Code, de.Message, de.Fields
		if de.Kind == domain.KindRateLimited && de.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(de.RetryAfter.Seconds()))))
		}
		if challengeCodes[de.Code] {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="carbon-account"`)
		}
	case errors.As(err, &fe) && fe.Code < 500:
		p.Status, p.Detail = fe.Code, fe.Message
		p.Code = codeOfFiberStatus[fe.Code]
		if p.Code == "" {
			p.Code = "http_" + strconv.Itoa(fe.Code)
		}
	default:
		p.Status, p.Code, p.Detail = http.StatusInternalServerError, "internal", "something went wrong on our side; the request id identifies it in our logs"
		s.log.ErrorContext(c.UserContext(), "request failed", slog.String("request_id", p.RequestID),
			slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Any("error", err))
	}
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	p.Type = problemTypeBase + p.Code
	p.Title = http.StatusText(p.Status)
	return writeProblem(c, p)
}

func writeProblem(c *fiber.Ctx, p Problem) error {
	c.Status(p.Status)
	if err := c.JSON(p); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return nil
}
