package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// listActivityTypes shows every activity type with the coefficients in force now.
func (s *server) listActivityTypes(c *fiber.Ctx) error {
	all := s.Catalog.All(domain.Now())
	items := make([]activityTypeBody, 0, len(all))
	for _, t := range all {
		items = append(items, activityTypeOf(t))
	}
	return c.JSON(fiber.Map{"items": items})
}

type activityTypeOverviewBody struct {
	Code           string          `json:"code"`
	Category       domain.Category `json:"category"`
	Unit           string          `json:"unit"`
	Name           string          `json:"name"`
	NameEn         string          `json:"name_en"`
	CurrentVersion *versionBody    `json:"current_version"`
	LatestVersion  versionBody     `json:"latest_version"`
	CreatedAt      time.Time       `json:"created_at"`
	CreatedBy      string          `json:"created_by"`
}

// adminListActivityTypes shows operators every type, including ones whose first
// version is not in force yet.
func (s *server) adminListActivityTypes(c *fiber.Ctx) error {
	all := s.Catalog.Overview(domain.Now())
	items := make([]activityTypeOverviewBody, 0, len(all))
	for _, o := range all {
		b := activityTypeOverviewBody{Code: o.Type.Code, Category: o.Type.Category, Unit: o.Type.Unit, Name: o.Type.Name, NameEn: o.Type.NameEn,
			LatestVersion: versionOf(o.Latest), CreatedAt: o.Type.CreatedAt.UTC(), CreatedBy: o.Type.CreatedBy}
		if o.Current != nil {
			v := versionOf(*o.Current)
			b.CurrentVersion = &v
		}
		items = append(items, b)
	}
	return c.JSON(fiber.Map{"items": items})
}

// versionInput is what creating a type and adding a version share: coefficients
// read exactly and a valid effective_from.
func versionInput(co coefficientsBody, effectiveFrom string) (domain.Coefficients, time.Time, error) {
	coefficients, err := co.toDomain()
	if err != nil {
		return domain.Coefficients{}, time.Time{}, err
	}
	from, err := parseTime("effective_from", effectiveFrom)
	return coefficients, from, err
}

// versionCreated answers 201 with the version and where its type's history lives.
func versionCreated(c *fiber.Ctx, v domain.CoefficientVersion) error {
	c.Location("/v1/admin/activity-types/" + v.TypeCode + "/versions")
	return c.Status(fiber.StatusCreated).JSON(versionOf(v))
}

func (s *server) createActivityType(c *fiber.Ctx) error {
	var req createActivityTypeRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	co, from, err := versionInput(req.Coefficients, req.EffectiveFrom)
	if err != nil {
		return err
	}
	t := domain.ActivityType{Code: req.Code, Category: req.Category, Unit: req.Unit, Name: req.Name, NameEn: req.NameEn}
	v, err := s.Catalog.CreateType(c.UserContext(), t, co, from, req.Note, principal(c).SubjectID)
	if err != nil {
		return err
	}
	return versionCreated(c, v)
}

func (s *server) addCoefficientVersion(c *fiber.Ctx) error {
	var req newVersionRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	co, from, err := versionInput(req.Coefficients, req.EffectiveFrom)
	if err != nil {
		return err
	}
	v, err := s.Catalog.AddVersion(c.UserContext(), strings.Clone(c.Params("code")), co, from, req.Note, principal(c).SubjectID)
	if err != nil {
		return err
	}
	return versionCreated(c, v)
}

type versionHistoryBody struct {
	Code     string          `json:"code"`
	Category domain.Category `json:"category"`
	Unit     string          `json:"unit"`
	Name     string          `json:"name"`
	NameEn   string          `json:"name_en"`
	Versions []versionBody   `json:"versions"`
}

func (s *server) listCoefficientVersions(c *fiber.Ctx) error {
	t, versions, err := s.Catalog.History(strings.Clone(c.Params("code")))
	if err != nil {
		return err
	}
	body := versionHistoryBody{Code: t.Code, Category: t.Category, Unit: t.Unit, Name: t.Name, NameEn: t.NameEn, Versions: make([]versionBody, 0, len(versions))}
	for _, v := range versions {
		body.Versions = append(body.Versions, versionOf(v))
	}
	return c.JSON(body)
}
