package api

import (
	"errors"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// validate checks the shape rules written as `validate` tags on request types;
// business rules stay in domain.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	return v
}()

var tagMessages = map[string]string{
	"required": "is required",
	"max":      "is too long",
	"min":      "is too short",
	"oneof":    "is not one of the allowed values",
}

// bind decodes the body strictly into dst and checks its validate tags.
func bind(c *fiber.Ctx, dst any) error {
	if err := decodeJSON(c, dst); err != nil {
		return err
	}
	err := validate.Struct(dst)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return err
	}
	fields := make([]domain.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		msg := tagMessages[fe.Tag()]
		if msg == "" {
			msg = "is invalid"
		}
		// The namespace starts with the Go type's name; drop it to get the JSON path.
		_, path, _ := strings.Cut(fe.Namespace(), ".")
		fields = append(fields, domain.FieldError{Field: path, Code: fe.Tag(), Message: msg})
	}
	return domain.Invalid(fields...)
}
