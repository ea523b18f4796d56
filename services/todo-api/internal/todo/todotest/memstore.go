// Package todotest has an in-memory todo.Store for handler tests and a contract test
// that every Store implementation (the in-memory one and the DynamoDB one against moto)
// must pass, so the fake cannot drift from the real thing.
package todotest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

// Memory is an in-memory todo.Store. Like the DynamoDB store it keeps what it is given
// and reports a to-do that breaks todo.CheckStored when it reads it.
type Memory struct {
	mu     sync.Mutex
	items  map[string]map[string]todo.Todo // owner -> id -> to-do
	closed map[string]bool                 // owners whose account was deleted
}

var _ todo.Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{items: map[string]map[string]todo.Todo{}, closed: map[string]bool{}}
}

// Create implements todo.Store.
func (m *Memory) Create(_ context.Context, owner string, t todo.Todo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed[owner] {
		return apperr.New(apperr.Forbidden, todo.ClosedMessage)
	}
	if m.items[owner] == nil {
		m.items[owner] = map[string]todo.Todo{}
	}
	if cur, ok := m.items[owner][t.ID]; ok {
		if reflect.DeepEqual(cur, t) {
			return nil // a retried create (todo.Store)
		}
		return apperr.New(apperr.Conflict, "a to-do with this id exists")
	}
	m.items[owner][t.ID] = t
	return nil
}

// Get implements todo.Store.
func (m *Memory) Get(_ context.Context, owner, id string) (todo.Todo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.items[owner][id]
	if !ok {
		return todo.Todo{}, apperr.New(apperr.NotFound, "no such to-do")
	}
	if err := todo.CheckStored(t); err != nil {
		return todo.Todo{}, fmt.Errorf("get todo %s: %w: %w", id, todo.ErrUnreadable, err)
	}
	return t, nil
}

// List implements todo.Store; the cursor is the last id returned.
func (m *Memory) List(_ context.Context, owner string, limit int, cursor string) (todo.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed[owner] {
		return todo.Page{}, nil
	}
	ids := make([]string, 0, len(m.items[owner]))
	for id := range m.items[owner] {
		if cursor == "" || id < cursor {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	var p todo.Page
	for i, id := range ids {
		if i == limit {
			p.Cursor = ids[i-1]
			break
		}
		t := m.items[owner][id]
		if err := todo.CheckStored(t); err != nil {
			p.Unreadable = append(p.Unreadable, todo.Unreadable{ID: id, Err: fmt.Errorf("%w: %w", todo.ErrUnreadable, err)})
			continue
		}
		p.Items = append(p.Items, t)
	}
	return p, nil
}

// Replace implements todo.Store.
func (m *Memory) Replace(_ context.Context, owner string, t todo.Todo, prev int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed[owner] {
		return apperr.New(apperr.Forbidden, todo.ClosedMessage)
	}
	cur, ok := m.items[owner][t.ID]
	if !ok {
		return apperr.New(apperr.NotFound, "no such to-do")
	}
	if cur.Version != prev {
		return apperr.New(apperr.PreconditionFailed, "the to-do changed meanwhile")
	}
	m.items[owner][t.ID] = t
	return nil
}

// Delete implements todo.Store.
func (m *Memory) Delete(_ context.Context, owner, id string, version int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed[owner] {
		return apperr.New(apperr.Forbidden, todo.ClosedMessage)
	}
	cur, ok := m.items[owner][id]
	if !ok {
		return apperr.New(apperr.NotFound, "no such to-do")
	}
	if version > 0 && cur.Version != version {
		return apperr.New(apperr.PreconditionFailed, "the to-do changed meanwhile")
	}
	delete(m.items[owner], id)
	return nil
}

// Close implements todo.Store.
func (m *Memory) Close(_ context.Context, owner string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed[owner] = true
	return nil
}

// Closed implements todo.Store.
func (m *Memory) Closed(_ context.Context, owner string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed[owner], nil
}

// Purge implements todo.Store.
func (m *Memory) Purge(_ context.Context, owner string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.items[owner])
	delete(m.items, owner)
	return n, nil
}
