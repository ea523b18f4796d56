// Package e2e tests the whole local stack as a user meets it: the operator CLI starts
// the stack (`sa dev`) against a real moto_server, and the client CLI (`todo`) signs up,
// signs in and works with to-dos over HTTPS, exactly as the README's walk-through does.
// The tests are gated like every integration test (see internal/mototest).
package e2e
