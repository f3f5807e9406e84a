package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var (
	errNotJSON = domain.Errorf(domain.KindInvalid, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")
	errEmpty   = domain.Errorf(domain.KindInvalid, "empty_body", "the request needs a JSON body")
	errTrail   = domain.Errorf(domain.KindInvalid, "malformed_json", "the body must hold exactly one JSON value")
)

// decodeJSON reads the body strictly into dst: JSON content type, exactly one JSON
// object, no unknown fields, every field of the declared type. Anything else is a
// 400 with a code saying what was wrong, so a typo never passes silently.
func decodeJSON(c *fiber.Ctx, dst any) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || (mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return errNotJSON
	}
	return decodeStrict(c.Body(), dst)
}

func decodeStrict(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errTrail
	}
	return nil
}

func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errEmpty
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Errorf(domain.KindInvalid, "malformed_json", "the body is not valid JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return domain.Errorf(domain.KindInvalid, "malformed_json", "the body must be a JSON object")
		}
		return domain.Invalid(domain.FieldError{Field: typ.Field, Code: "wrong_type", Message: "must be a JSON " + jsonTypeName(typ.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalid(domain.FieldError{Field: field, Code: "unknown_field", Message: "is not a field of this request"})
	default:
		return domain.Errorf(domain.KindInvalid, "malformed_json", "the body could not be read as this request")
	}
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}
