package todotest

import (
	"testing"

	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

func TestMemoryContract(t *testing.T) {
	StoreContract(t, func(*testing.T) todo.Store { return NewMemory() })
}
