package welcome

// The internal tests' helpers, for the tests of package welcome_test, which run the
// handler with the real adapters (internal/store) and the whole receiver
// (internal/api): those import this package, so they cannot be in it.
var (
	NewTestHandler = newTestHandler
	ConfirmedFor   = confirmedFor
	Golden         = golden
	LinksWith      = linksWith
)
