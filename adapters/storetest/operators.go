package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func newOperator(id, username string) domain.Operator {
	return domain.Operator{
		ID:           id,
		Username:     username,
		Role:         domain.RoleOperator,
		PasswordHash: "$2a$10$abcdefghijklmnopqrstuuJ0yG8nqQ5n8Zr1m8j3Qx4mS2Hf9y1Ce",
		CreatedAt:    at(0),
		CreatedBy:    "system",
	}
}

func diffOperator(want, got domain.Operator) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("Username", want.Username, got.Username)
	d.eq("Role", want.Role, got.Role)
	d.eq("PasswordHash", want.PasswordHash, got.PasswordHash)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.eq("CreatedBy", want.CreatedBy, got.CreatedBy)
	return d
}

// ascendingIDs returns n ids in strictly increasing order.
func ascendingIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = domain.NewID(baseTime.Add(time.Duration(i) * time.Second))
	}
	return ids
}

func runOperators(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("CreateOperator stores every field, readable by id and by username", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		op := newOperator(domain.NewID(time.Now()), "alice")
		op.Role = domain.RoleAuditor
		op.CreatedBy = domain.NewID(time.Now())
		mustNoErr(t, "CreateOperator", s.CreateOperator(t.Context(), op))
		byID, err := s.GetOperator(t.Context(), op.ID)
		mustNoErr(t, "GetOperator", err)
		diffOperator(op, byID).report(t, "GetOperator")
		byName, err := s.GetOperatorByUsername(t.Context(), op.Username)
		mustNoErr(t, "GetOperatorByUsername", err)
		diffOperator(op, byName).report(t, "GetOperatorByUsername")
	})

	t.Run("CreateOperator refuses a taken username with ErrConflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := newOperator(domain.NewID(time.Now()), "bob")
		mustNoErr(t, "CreateOperator", s.CreateOperator(t.Context(), first))
		dup := newOperator(domain.NewID(time.Now()), "bob")
		dup.Role = domain.RoleAdmin
		wantErr(t, "CreateOperator(duplicate username)", s.CreateOperator(t.Context(), dup), domain.ErrConflict)
		got, err := s.GetOperatorByUsername(t.Context(), "bob")
		mustNoErr(t, "GetOperatorByUsername", err)
		diffOperator(first, got).report(t, "operator after refused duplicate")
		_, err = s.GetOperator(t.Context(), dup.ID)
		wantErr(t, "GetOperator(refused duplicate)", err, domain.ErrNotFound)
	})

	t.Run("GetOperator and GetOperatorByUsername return ErrNotFound for unknown operators", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		mustNoErr(t, "CreateOperator", s.CreateOperator(t.Context(), newOperator(domain.NewID(time.Now()), "carol")))
		_, err := s.GetOperator(t.Context(), domain.NewID(time.Now()))
		wantErr(t, "GetOperator(unknown)", err, domain.ErrNotFound)
		_, err = s.GetOperatorByUsername(t.Context(), "nobody")
		wantErr(t, "GetOperatorByUsername(unknown)", err, domain.ErrNotFound)
	})

	t.Run("ListOperators pages through operators in ID order", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ids := ascendingIDs(5)
		// Insert in reverse so that insertion order differs from ID order.
		for i := len(ids) - 1; i >= 0; i-- {
			mustNoErr(t, "CreateOperator", s.CreateOperator(t.Context(), newOperator(ids[i], fmt.Sprintf("op%d", i))))
		}
		pages := []struct {
			after string
			limit int
			want  []string
		}{
			{"", 2, ids[0:2]},
			{ids[1], 2, ids[2:4]},
			{ids[3], 2, ids[4:5]},
			{ids[4], 2, nil},
			{"", 10, ids},
			{ids[0], 1, ids[1:2]},
		}
		for _, p := range pages {
			got, err := s.ListOperators(t.Context(), p.after, p.limit)
			mustNoErr(t, "ListOperators", err)
			gotIDs := make([]string, len(got))
			for i, o := range got {
				gotIDs[i] = o.ID
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(append([]string{}, p.want...)) {
				t.Errorf("ListOperators(after=%q, limit=%d) = %v, want %v", p.after, p.limit, gotIDs, p.want)
			}
		}
		all, err := s.ListOperators(t.Context(), "", 10)
		mustNoErr(t, "ListOperators", err)
		for i, o := range all {
			diffOperator(newOperator(ids[i], fmt.Sprintf("op%d", i)), o).report(t, "listed operator "+o.ID)
		}
	})

	t.Run("ListOperators on an empty store returns nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		got, err := s.ListOperators(t.Context(), "", 10)
		mustNoErr(t, "ListOperators", err)
		if len(got) != 0 {
			t.Errorf("ListOperators = %d operators, want none", len(got))
		}
	})
}
