package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/output"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
)

// signOutTimeout bounds logout's best-effort GlobalSignOut.
const signOutTimeout = 10 * time.Second

// account is the machine output of signup, login and whoami.
type account struct {
	Email     string     `json:"email"`
	Sub       string     `json:"sub,omitempty"`
	Confirmed *bool      `json:"confirmed,omitempty"`
	Expiry    *time.Time `json:"expiry,omitempty"`
}

func (a *app) signupCmd() *cobra.Command {
	var email, password string
	cmd := &cobra.Command{
		Use:   "signup --email EMAIL [--password PASSWORD]",
		Short: "Create an account (then confirm it with todo confirm)",
		Long: `Create an account in the user pool. The password comes from --password, else
TODO_PASSWORD, else a prompt (without echo) when stdin is a terminal, else the first line
of stdin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := a.password(password, true)
			if err != nil {
				return err
			}
			c, clientID, err := a.cognito(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.SignUp(cmd.Context(), clientID, email, pw)
			if err != nil {
				return err
			}
			if a.json {
				return output.Value(a.stdout, account{Email: email, Confirmed: &res.Confirmed})
			}
			switch {
			case res.Confirmed:
				a.printf("signed up %s, already confirmed: run todo login --email %s\n", email, email)
			case res.Destination != "":
				a.printf("signed up %s; a confirmation code was sent to %s: run todo confirm --email %s --code CODE\n", email, res.Destination, email)
			default:
				a.printf("signed up %s: run todo confirm --email %s --code CODE\n", email, email)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "your email (the user name)")
	cmd.Flags().StringVar(&password, "password", "", "your password (prefer TODO_PASSWORD or the prompt: flags show in ps)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func (a *app) confirmCmd() *cobra.Command {
	var email, code string
	cmd := &cobra.Command{
		Use:   "confirm --email EMAIL --code CODE",
		Short: "Confirm an account with the code Cognito sent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, clientID, err := a.cognito(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.Confirm(cmd.Context(), clientID, email, code); err != nil {
				return err
			}
			if a.json {
				ok := true
				return output.Value(a.stdout, account{Email: email, Confirmed: &ok})
			}
			a.printf("confirmed %s: run todo login --email %s\n", email, email)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "your email")
	cmd.Flags().StringVar(&code, "code", "", "the confirmation code")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("code")
	return cmd
}

func (a *app) loginCmd() *cobra.Command {
	var email, password string
	cmd := &cobra.Command{
		Use:   "login --email EMAIL [--password PASSWORD]",
		Short: "Sign in and keep the session",
		Long: `Sign in with USER_PASSWORD_AUTH and store the tokens in the session file (mode 0600).
The password comes from --password, else TODO_PASSWORD, else a prompt (without echo) when
stdin is a terminal, else the first line of stdin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := a.password(password, false)
			if err != nil {
				return err
			}
			c, clientID, err := a.cognito(cmd.Context())
			if err != nil {
				return err
			}
			tok, err := c.Login(cmd.Context(), clientID, email, pw)
			if err != nil {
				return err
			}
			sess, err := session.New(tok, clientID, email, a.now())
			if err != nil {
				return err
			}
			st, err := a.store()
			if err != nil {
				return err
			}
			if err := st.Save(sess); err != nil {
				return err
			}
			return a.printAccount(sess, "logged in as")
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "your email")
	cmd.Flags().StringVar(&password, "password", "", "your password (prefer TODO_PASSWORD or the prompt: flags show in ps)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func (a *app) logoutCmd() *cobra.Command {
	var everywhere bool
	cmd := &cobra.Command{
		Use:   "logout [--everywhere]",
		Short: "Sign out here (or everywhere) and delete the session file",
		Long: `Sign out and delete the session file. Without flags this session's refresh token is
revoked (RevokeToken) and your other devices stay signed in; --everywhere signs out every
session of the user (GlobalSignOut). Either call is best effort: the file is deleted
even when Cognito cannot be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := a.sessions()
			if err != nil {
				return err
			}
			sess, err := k.Current()
			if errors.Is(err, session.ErrNotLoggedIn) {
				a.printf("not logged in\n")
				return nil
			}
			switch {
			case err != nil:
				// An unreadable session file is deleted all the same.
				fmt.Fprintf(a.stderr, "warning: %v\n", err)
			case everywhere:
				if err := a.signOut(cmd.Context(), k); err != nil {
					fmt.Fprintf(a.stderr, "warning: %v; the session file is deleted all the same\n", err)
				}
			default:
				if err := a.signOutHere(cmd.Context(), sess); err != nil {
					fmt.Fprintf(a.stderr, "warning: %v; the session file is deleted all the same\n", err)
				}
			}
			if err := a.forget(k); err != nil {
				return err
			}
			where := ""
			if everywhere {
				where = " everywhere"
			}
			if sess != nil {
				a.printf("logged out %s%s\n", sess.Email, where)
			} else {
				a.printf("logged out\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&everywhere, "everywhere", false, "sign out every session of the user, on every device (GlobalSignOut)")
	return cmd
}

// signOut calls GlobalSignOut with a fresh access token, so that the refresh token
// stops working everywhere.
func (a *app) signOut(ctx context.Context, k *session.Keeper) error {
	ctx, cancel := context.WithTimeout(ctx, signOutTimeout)
	defer cancel()
	sess, err := k.Fresh(ctx)
	if err != nil {
		return fmt.Errorf("could not sign out at Cognito: %w", err)
	}
	c, err := a.sessionCognito(ctx)
	if err != nil {
		return fmt.Errorf("could not sign out at Cognito: %w", err)
	}
	if err := c.SignOut(ctx, sess.AccessToken); err != nil {
		return fmt.Errorf("could not sign out at Cognito: %w", err)
	}
	return nil
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who is signed in (refreshing the session when due)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := a.sessions()
			if err != nil {
				return err
			}
			sess, err := k.Fresh(cmd.Context())
			if err != nil {
				return err
			}
			return a.printAccount(sess, "logged in as")
		},
	}
}

func (a *app) printAccount(s *session.Session, verb string) error {
	if a.json {
		exp := s.Expiry
		return output.Value(a.stdout, account{Email: s.Email, Sub: s.Sub, Expiry: &exp})
	}
	a.printf("%s %s (user %s; token valid until %s)\n", verb, s.Email, s.Sub, s.Expiry.Local().Format(time.RFC3339))
	return nil
}
