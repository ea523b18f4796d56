package todotest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

// StoreContract checks the behaviour every todo.Store must have. newStore returns an
// empty store; owners are made unique per call so stores may be shared.
func StoreContract(t *testing.T, newStore func(t *testing.T) todo.Store) {
	ctx := context.Background()
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	mk := func(i int, title string) todo.Todo {
		at := base.Add(time.Duration(i) * time.Second)
		due := at.Add(48 * time.Hour)
		return todo.Todo{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Title: title, Notes: "n", DueAt: &due, CreatedAt: at, UpdatedAt: at, Version: 1}
	}
	owner := func(name string) string { return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()) }
	wantCode := func(t *testing.T, err error, code apperr.Code) {
		t.Helper()
		if apperr.CodeOf(err) != code {
			t.Fatalf("err = %v, want code %s", err, code)
		}
	}

	t.Run("create get round trip", func(t *testing.T) {
		s, alice := newStore(t), owner("alice")
		want := mk(1, "Buy milk ünïcødé 🥛")
		if err := s.Create(ctx, alice, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, alice, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		// Again, as a retry whose first try succeeded: done, not a conflict; another
		// to-do under the same id is one.
		if err := s.Create(ctx, alice, want); err != nil {
			t.Errorf("the same create again = %v, want nil", err)
		}
		other := want
		other.Title = "another"
		wantCode(t, s.Create(ctx, alice, other), apperr.Conflict)
	})

	t.Run("owners are isolated", func(t *testing.T) {
		s, alice, bob := newStore(t), owner("alice"), owner("bob")
		a := mk(1, "alice's")
		if err := s.Create(ctx, alice, a); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, bob, a.ID)
		wantCode(t, err, apperr.NotFound)
		changed := a
		changed.Title, changed.Version = "bob was here", 2
		wantCode(t, s.Replace(ctx, bob, changed, 1), apperr.NotFound)
		wantCode(t, s.Delete(ctx, bob, a.ID, 0), apperr.NotFound)
		p, err := s.List(ctx, bob, 10, "")
		if err != nil || len(p.Items) != 0 {
			t.Fatalf("bob's list = %v, %v; want empty", p.Items, err)
		}
		if got, err := s.Get(ctx, alice, a.ID); err != nil || got.Title != "alice's" {
			t.Fatalf("alice's to-do after bob's attempts = %+v, %v", got, err)
		}
	})

	t.Run("list pages newest first", func(t *testing.T) {
		s, alice := newStore(t), owner("alice")
		var ids []string
		for i := range 5 {
			td := mk(i, fmt.Sprint("t", i))
			ids = append([]string{td.ID}, ids...)
			if err := s.Create(ctx, alice, td); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		cursor, pages := "", 0
		for {
			p, err := s.List(ctx, alice, 2, cursor)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, it := range p.Items {
				got = append(got, it.ID)
			}
			if p.Cursor == "" {
				break
			}
			cursor = p.Cursor
		}
		if diff := cmp.Diff(ids, got); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		if pages != 3 {
			t.Errorf("pages = %d, want 3 (2+2+1, no empty last page)", pages)
		}
	})

	// A to-do stored with a due date in the year 10000 in UTC (as the API once accepted
	// from 9999-12-31T23:00:00-05:00) is an error for that to-do only: Get fails with
	// ErrUnreadable, a list shows the others, counts it in the page and names it, and it
	// can be deleted.
	t.Run("an unreadable to-do fails alone", func(t *testing.T) {
		s, alice := newStore(t), owner("alice")
		good1, bad, good2 := mk(1, "before"), mk(2, "year 10000"), mk(3, "after")
		due := time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -5*3600)).UTC()
		bad.DueAt = &due
		for _, td := range []todo.Todo{good1, bad, good2} {
			if err := s.Create(ctx, alice, td); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Get(ctx, alice, bad.ID); !errors.Is(err, todo.ErrUnreadable) {
			t.Fatalf("Get of the bad to-do: err = %v, want ErrUnreadable", err)
		}
		if got, err := s.Get(ctx, alice, good1.ID); err != nil || got.ID != good1.ID {
			t.Fatalf("Get of a good to-do beside it = %+v, %v", got, err)
		}
		p, err := s.List(ctx, alice, 2, "")
		if err != nil {
			t.Fatalf("List with an unreadable to-do on the page: %v", err)
		}
		if len(p.Items) != 1 || p.Items[0].ID != good2.ID || len(p.Unreadable) != 1 || p.Unreadable[0].ID != bad.ID ||
			!errors.Is(p.Unreadable[0].Err, todo.ErrUnreadable) || p.Cursor == "" {
			t.Fatalf("first page = %+v, want %s shown, %s unreadable, and a cursor", p, good2.ID, bad.ID)
		}
		p, err = s.List(ctx, alice, 2, p.Cursor)
		if err != nil || len(p.Items) != 1 || p.Items[0].ID != good1.ID || len(p.Unreadable) != 0 || p.Cursor != "" {
			t.Fatalf("second page = %+v, %v; want only %s", p, err, good1.ID)
		}
		if err := s.Delete(ctx, alice, bad.ID, 0); err != nil {
			t.Fatalf("delete the unreadable to-do: %v", err)
		}
		p, err = s.List(ctx, alice, 10, "")
		if err != nil || len(p.Items) != 2 || len(p.Unreadable) != 0 {
			t.Fatalf("after deleting it: %+v, %v", p, err)
		}
	})

	t.Run("replace is conditional on the version", func(t *testing.T) {
		s, alice := newStore(t), owner("alice")
		a := mk(1, "v1")
		if err := s.Create(ctx, alice, a); err != nil {
			t.Fatal(err)
		}
		v2 := a
		v2.Title, v2.Version = "v2", 2
		if err := s.Replace(ctx, alice, v2, 1); err != nil {
			t.Fatal(err)
		}
		stale := a
		stale.Title, stale.Version = "stale", 2
		wantCode(t, s.Replace(ctx, alice, stale, 1), apperr.PreconditionFailed)
		missing := mk(9, "missing")
		wantCode(t, s.Replace(ctx, alice, missing, 1), apperr.NotFound)
		got, _ := s.Get(ctx, alice, a.ID)
		if got.Title != "v2" || got.Version != 2 {
			t.Errorf("after replace: %+v", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s, alice := newStore(t), owner("alice")
		a := mk(1, "x")
		if err := s.Create(ctx, alice, a); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.Delete(ctx, alice, a.ID, 7), apperr.PreconditionFailed)
		if err := s.Delete(ctx, alice, a.ID, 1); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, alice, a.ID)
		wantCode(t, err, apperr.NotFound)
		wantCode(t, s.Delete(ctx, alice, a.ID, 0), apperr.NotFound)
	})

	t.Run("purge deletes every to-do of the owner only", func(t *testing.T) {
		s, alice, bob := newStore(t), owner("alice"), owner("bob")
		// More than one BatchWriteItem (25) of to-dos.
		const n = 30
		for i := range n {
			if err := s.Create(ctx, alice, mk(i, fmt.Sprint("a", i))); err != nil {
				t.Fatal(err)
			}
		}
		b := mk(99, "bob's")
		if err := s.Create(ctx, bob, b); err != nil {
			t.Fatal(err)
		}
		got, err := s.Purge(ctx, alice)
		if err != nil || got != n {
			t.Fatalf("Purge = %d, %v; want %d, nil", got, err, n)
		}
		if p, err := s.List(ctx, alice, 100, ""); err != nil || len(p.Items) != 0 {
			t.Fatalf("alice's list after purge = %d items, %v; want none", len(p.Items), err)
		}
		if got, err := s.Purge(ctx, alice); err != nil || got != 0 {
			t.Fatalf("second Purge = %d, %v; want 0, nil", got, err)
		}
		if _, err := s.Get(ctx, bob, b.ID); err != nil {
			t.Fatalf("bob's to-do after alice's purge: %v", err)
		}
	})

	t.Run("a closed account serves nothing and takes no write", func(t *testing.T) {
		s, alice, bob := newStore(t), owner("alice"), owner("bob")
		a := mk(1, "before")
		if err := s.Create(ctx, alice, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, bob, mk(2, "bob's")); err != nil {
			t.Fatal(err)
		}
		if closed, err := s.Closed(ctx, alice); err != nil || closed {
			t.Fatalf("Closed before Close = %v, %v", closed, err)
		}
		for range 2 { // idempotent
			if err := s.Close(ctx, alice, base); err != nil {
				t.Fatal(err)
			}
		}
		if closed, err := s.Closed(ctx, alice); err != nil || !closed {
			t.Fatalf("Closed after Close = %v, %v", closed, err)
		}
		if closed, err := s.Closed(ctx, bob); err != nil || closed {
			t.Fatalf("bob Closed after alice's Close = %v, %v", closed, err)
		}
		if p, err := s.List(ctx, alice, 10, ""); err != nil || len(p.Items) != 0 || len(p.Unreadable) != 0 {
			t.Fatalf("closed list = %+v, %v; want an empty page", p, err)
		}
		wantCode(t, s.Create(ctx, alice, mk(3, "after")), apperr.Forbidden)
		changed := a
		changed.Title, changed.Version = "changed", 2
		wantCode(t, s.Replace(ctx, alice, changed, 1), apperr.Forbidden)
		wantCode(t, s.Delete(ctx, alice, a.ID, 0), apperr.Forbidden)
		if n, err := s.Purge(ctx, alice); err != nil || n != 1 {
			t.Fatalf("Purge of a closed account = %d, %v; want 1, nil", n, err)
		}
		if p, err := s.List(ctx, bob, 10, ""); err != nil || len(p.Items) != 1 {
			t.Fatalf("bob's list after alice closed = %+v, %v", p, err)
		}
		if err := s.Create(ctx, bob, mk(4, "bob's second")); err != nil {
			t.Fatalf("bob writes after alice closed: %v", err)
		}
	})
}
