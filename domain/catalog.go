package domain

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Catalog serves activity types and the coefficient version in force at any time
// from memory, so recording an action costs no catalog reads. Replicas reload it
// every CatalogRefresh; a new version must take effect at least Lead from now, and
// Lead is longer than the refresh interval, so every replica already knows a
// version before it is in force and all replicas convert an action the same way.
type Catalog struct {
	Store CatalogStore
	Now   func() time.Time
	// Lead is the shortest time from creating a version to its taking effect.
	Lead time.Duration

	mu       sync.RWMutex
	types    map[string]ActivityType
	versions map[string][]CoefficientVersion // by type code, ascending
	codes    []string                        // sorted
}

// Reload replaces the cached catalog with the store's.
func (c *Catalog) Reload(ctx context.Context) error {
	types, err := c.Store.ListActivityTypes(ctx)
	if err != nil {
		return err
	}
	versions, err := c.Store.ListCoefficientVersions(ctx)
	if err != nil {
		return err
	}
	byCode := make(map[string]ActivityType, len(types))
	codes := make([]string, 0, len(types))
	for _, t := range types {
		byCode[t.Code] = t
		codes = append(codes, t.Code)
	}
	sort.Strings(codes)
	vs := make(map[string][]CoefficientVersion, len(types))
	for _, v := range versions {
		vs[v.TypeCode] = append(vs[v.TypeCode], v)
	}
	for code := range vs {
		sort.Slice(vs[code], func(i, j int) bool { return vs[code][i].Version < vs[code][j].Version })
	}
	c.mu.Lock()
	c.types, c.versions, c.codes = byCode, vs, codes
	c.mu.Unlock()
	return nil
}

// InForce returns the type and the version of its coefficients in force at t.
// ok is false for an unknown type or a time before its first version.
func (c *Catalog) InForce(code string, t time.Time) (ActivityType, CoefficientVersion, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	typ, ok := c.types[code]
	if !ok {
		return ActivityType{}, CoefficientVersion{}, false
	}
	v, ok := versionAt(c.versions[code], t)
	return typ, v, ok
}

func versionAt(versions []CoefficientVersion, t time.Time) (CoefficientVersion, bool) {
	for i := len(versions) - 1; i >= 0; i-- {
		if !versions[i].EffectiveFrom.After(t) {
			return versions[i], true
		}
	}
	return CoefficientVersion{}, false
}

// TypeInForce is a type with the version in force now and, if any are scheduled,
// the latest scheduled one.
type TypeInForce struct {
	Type     ActivityType
	Current  CoefficientVersion
	Upcoming *CoefficientVersion
}

// All returns every type that has a version in force at t, ordered by code.
func (c *Catalog) All(t time.Time) []TypeInForce {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]TypeInForce, 0, len(c.codes))
	for _, code := range c.codes {
		current, ok := versionAt(c.versions[code], t)
		if !ok {
			continue
		}
		item := TypeInForce{Type: c.types[code], Current: current}
		if vs := c.versions[code]; vs[len(vs)-1].Version > current.Version {
			next := vs[len(vs)-1]
			item.Upcoming = &next
		}
		out = append(out, item)
	}
	return out
}

// Overview lists every type with its latest version and, if any, the one in force
// at t, for operators (a new type may have no version in force yet).
func (c *Catalog) Overview(t time.Time) []TypeOverview {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]TypeOverview, 0, len(c.codes))
	for _, code := range c.codes {
		vs := c.versions[code]
		if len(vs) == 0 {
			continue
		}
		o := TypeOverview{Type: c.types[code], Latest: vs[len(vs)-1]}
		if v, ok := versionAt(vs, t); ok {
			o.Current = &v
		}
		out = append(out, o)
	}
	return out
}

// TypeOverview is a type with its latest version and the one in force.
type TypeOverview struct {
	Type    ActivityType
	Current *CoefficientVersion
	Latest  CoefficientVersion
}

// History returns every version of a type, oldest first.
func (c *Catalog) History(code string) (ActivityType, []CoefficientVersion, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	typ, ok := c.types[code]
	if !ok {
		return ActivityType{}, nil, errUnknownTypeNotFound
	}
	return typ, append([]CoefficientVersion(nil), c.versions[code]...), nil
}

var (
	errUnknownTypeNotFound = Errorf(KindNotFound, "activity_type_not_found", "no activity type with this code")
	errTypeExists          = Errorf(KindConflict, "activity_type_exists", "an activity type with this code already exists")
	errVersionRace         = Errorf(KindConflict, "concurrent_version", "another version was added at the same time; reload and try again")
)

func (c *Catalog) checkEffectiveFrom(from time.Time, previous *CoefficientVersion) error {
	earliest := c.Now().Add(c.Lead)
	if from.Before(earliest) {
		return Invalid(FieldError{Field: "effective_from", Code: "too_soon",
			Message: "must be at least " + c.Lead.String() + " from now, so every replica knows the version before it applies; past versions never change"})
	}
	if previous != nil && !from.After(previous.EffectiveFrom) {
		return Invalid(FieldError{Field: "effective_from", Code: "not_after_previous", Message: "must be after the latest version's effective_from"})
	}
	return nil
}

// CreateType adds an activity type with its first coefficient version.
func (c *Catalog) CreateType(ctx context.Context, t ActivityType, co Coefficients, effectiveFrom time.Time, note, actor string) (CoefficientVersion, error) {
	effectiveFrom = effectiveFrom.UTC().Truncate(time.Millisecond) // what the stores keep
	if err := errors.Join(t.Validate(), prefixFields(co.Validate(), "coefficients.")); err != nil {
		return CoefficientVersion{}, mergeInvalid(err)
	}
	if err := c.checkEffectiveFrom(effectiveFrom, nil); err != nil {
		return CoefficientVersion{}, err
	}
	now := c.Now()
	t.CreatedAt, t.CreatedBy = now, actor
	v := CoefficientVersion{TypeCode: t.Code, Version: 1, EffectiveFrom: effectiveFrom, Coefficients: co, CreatedAt: now, CreatedBy: actor, Note: note}
	if err := c.Store.CreateActivityType(ctx, t, v); errors.Is(err, ErrConflict) {
		return CoefficientVersion{}, errTypeExists
	} else if err != nil {
		return CoefficientVersion{}, err
	}
	return v, c.Reload(ctx)
}

// AddVersion schedules a new coefficient version of a type. Versions are never
// edited: a change is always a new version.
func (c *Catalog) AddVersion(ctx context.Context, code string, co Coefficients, effectiveFrom time.Time, note, actor string) (CoefficientVersion, error) {
	effectiveFrom = effectiveFrom.UTC().Truncate(time.Millisecond) // what the stores keep
	if err := c.Reload(ctx); err != nil {                          // the latest version, even if another replica added it
		return CoefficientVersion{}, err
	}
	_, history, err := c.History(code)
	if err != nil {
		return CoefficientVersion{}, err
	}
	if err := prefixFields(co.Validate(), "coefficients."); err != nil {
		return CoefficientVersion{}, err
	}
	latest := history[len(history)-1]
	if err := c.checkEffectiveFrom(effectiveFrom, &latest); err != nil {
		return CoefficientVersion{}, err
	}
	v := CoefficientVersion{TypeCode: code, Version: latest.Version + 1, EffectiveFrom: effectiveFrom, Coefficients: co,
		CreatedAt: c.Now(), CreatedBy: actor, Note: note}
	if err := c.Store.AddCoefficientVersion(ctx, v); errors.Is(err, ErrConflict) {
		return CoefficientVersion{}, errVersionRace
	} else if err != nil {
		return CoefficientVersion{}, err
	}
	return v, c.Reload(ctx)
}

// prefixFields puts prefix before the field names of a validation error, so that
// nested fields read as paths ("coefficients.confidence").
func prefixFields(err error, prefix string) error {
	var de *Error
	if !errors.As(err, &de) || de.Kind != KindInvalid {
		return err
	}
	out := *de
	out.Fields = make([]FieldError, len(de.Fields))
	for i, f := range de.Fields {
		f.Field = prefix + f.Field
		out.Fields[i] = f
	}
	return &out
}

// mergeInvalid joins several validation errors into one with all their fields.
func mergeInvalid(err error) error {
	var fields []FieldError
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return err
	}
	for _, e := range joined.Unwrap() {
		var de *Error
		if !errors.As(e, &de) || de.Kind != KindInvalid {
			return e
		}
		fields = append(fields, de.Fields...)
	}
	return Invalid(fields...)
}
