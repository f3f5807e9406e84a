package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

const (
	headerRequestID = "X-Request-ID"
	localRequestID  = "request_id"
)

// acceptableRequestID limits caller-supplied ids to what is safe to log and echo.
var acceptableRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// withRequestID keeps the caller's X-Request-ID when it is sane, or makes one, and
// echoes it so a client can quote it when reporting a problem.
func withRequestID(c *fiber.Ctx) error {
	id := c.Get(headerRequestID)
	if !acceptableRequestID.MatchString(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	} else {
		id = string([]byte(id)) // Fiber reuses the header buffer after the request
	}
	c.Locals(localRequestID, id)
	c.Set(headerRequestID, id)
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// securityHeaders stops browsers from sniffing content types and keeps personal
// data (every /v1 response) out of shared caches.
func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if strings.HasPrefix(c.Path(), "/v1/") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return c.Next()
}

// recoverPanics turns a panic in a handler into a 500 problem and logs the stack,
// so one bad request cannot take the process down.
func (s *server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(c.UserContext(), "panic in handler", slog.String("request_id", requestID(c)),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// observe handles the error a handler returned, then writes one structured access
// log line and the request metrics, so both see the final status.
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	elapsed := time.Since(start)
	status := c.Response().StatusCode()
	route := routeLabel(c)
	s.metrics.record(strings.Clone(c.Method()), route, status, elapsed) // Fiber reuses the method buffer
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.UserContext(), level, "request",
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Method()),
		slog.String("route", route),
		slog.String("path", c.Path()),
		slog.Int("status", status),
		slog.Duration("latency", elapsed),
		slog.String("client", clientAddr(c)),
		slog.Int("bytes_out", len(c.Response().Body())),
	)
	return nil
}

// clientAddr is the caller's address: the first X-Forwarded-For entry when the
// connection comes from a trusted proxy (Fiber checks that), else the peer.
func clientAddr(c *fiber.Ctx) string {
	if ips := c.IPs(); len(ips) > 0 && c.IsProxyTrusted() {
		return ips[0]
	}
	return c.IP()
}
