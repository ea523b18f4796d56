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

// For the receiver's test (receive_test.go): the in-memory ledger and the fake mailer.
var (
	NewMemLedger = newMemLedger
	MailerCount  = (*fakeMailer).count
)

// FakeMailer is the fake Mailer of the internal tests.
type FakeMailer = fakeMailer
