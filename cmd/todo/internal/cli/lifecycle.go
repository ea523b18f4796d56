package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/files"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/output"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
)

func (a *app) passwordCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "password",
		Short: "Reset a forgotten password, or change yours",
	}
	cmd.AddCommand(a.passwordForgotCmd(), a.passwordConfirmCmd(), a.passwordChangeCmd())
	return cmd
}

func (a *app) passwordForgotCmd() *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "forgot --email EMAIL",
		Short: "Have a code sent to reset a forgotten password (then todo password confirm)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, clientID, err := a.cognito(cmd.Context())
			if err != nil {
				return err
			}
			dest, err := c.ForgotPassword(cmd.Context(), clientID, email)
			if err != nil {
				return err
			}
			if a.json {
				return output.Value(a.stdout, map[string]string{"email": email, "destination": dest})
			}
			to := ""
			if dest != "" {
				to = " to " + dest
			}
			a.printf("a code to reset the password of %s was sent%s: run todo password confirm --email %s --code CODE\n", email, to, email)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "your email")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func (a *app) passwordConfirmCmd() *cobra.Command {
	var email, code, password string
	cmd := &cobra.Command{
		Use:   "confirm --email EMAIL --code CODE [--password NEW]",
		Short: "Set a new password with the code todo password forgot had sent",
		Long: `Set a new password with the code from todo password forgot. The new password comes
from --password, else TODO_PASSWORD, else a prompt (twice, without echo) when stdin is a
terminal, else the first line of stdin. Then sign in with todo login.`,
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
			if err := c.ConfirmForgotPassword(cmd.Context(), clientID, email, code, pw); err != nil {
				return err
			}
			if a.json {
				return output.Value(a.stdout, map[string]string{"email": email})
			}
			a.printf("new password set for %s: run todo login --email %s\n", email, email)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "your email")
	cmd.Flags().StringVar(&code, "code", "", "the code Cognito sent")
	cmd.Flags().StringVar(&password, "password", "", "the new password (prefer TODO_PASSWORD or the prompt: flags show in ps)")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("code")
	return cmd
}

func (a *app) passwordChangeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "change",
		Short: "Change the signed-in user's password",
		Long: `Change your password. The current one comes from TODO_PASSWORD, the new one from
TODO_NEW_PASSWORD; each is asked for without echo when stdin is a terminal (the new one
twice), or else read from the next line of stdin (current first). Other sessions stay
signed in: run todo logout --everywhere to end them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := a.sessions()
			if err != nil {
				return err
			}
			sess, err := k.Fresh(cmd.Context())
			if err != nil {
				return err
			}
			cur, err := a.secret("", "", "TODO_PASSWORD", "Current password", false)
			if err != nil {
				return err
			}
			next, err := a.secret("", "", "TODO_NEW_PASSWORD", "New password", true)
			if err != nil {
				return err
			}
			c, err := a.sessionCognito(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.ChangePassword(cmd.Context(), sess.AccessToken, cur, next); err != nil {
				return err
			}
			if a.json {
				return output.Value(a.stdout, map[string]string{"email": sess.Email})
			}
			a.printf("password changed for %s\n", sess.Email)
			return nil
		},
	}
}

func (a *app) accountCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage your account",
	}
	cmd.AddCommand(a.accountDeleteCmd())
	return cmd
}

func (a *app) accountDeleteCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete --yes",
		Short: "Delete your account: every to-do, every file, then the user itself",
		Long: `Delete your account for good. First the API deletes every to-do and every object of
your folder (DELETE /v1/me, safe to repeat; a large account takes several calls, which
are made here); only when that answered does the user pool delete the user (DeleteUser). Then the session is forgotten here. A failure on the way
leaves you signed in: run the command again. --yes is required: nothing can be undone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return errors.New("this deletes every to-do, every file and the account itself, and cannot be undone: run todo account delete --yes")
			}
			ctx := cmd.Context()
			k, err := a.sessions()
			if err != nil {
				return err
			}
			client, err := a.api()
			if err != nil {
				return err
			}
			if err := a.deleteData(ctx, client); err != nil {
				return fmt.Errorf("delete your data: %w (nothing else was deleted; run the command again)", err)
			}
			sess, err := k.Fresh(ctx)
			if err != nil {
				return fmt.Errorf("your data is deleted, but the account could not be: %w; log in and run the command again", err)
			}
			c, err := a.sessionCognito(ctx)
			if err != nil {
				return err
			}
			if err := c.DeleteUser(ctx, sess.AccessToken); err != nil {
				return fmt.Errorf("your data is deleted, but the account could not be: %w; run the command again", err)
			}
			if err := a.forget(k); err != nil {
				return err
			}
			if a.json {
				return output.Value(a.stdout, map[string]string{"email": sess.Email, "deleted": "account"})
			}
			a.printf("deleted the account %s with all its to-dos and files\n", sess.Email)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "yes, delete everything")
	return cmd
}

// Account deletion: the API deletes a large account over several calls, answering 503
// while more is left (todo-api's ACCOUNT_DELETE_BUDGET per call).
const (
	deleteDataCalls = 30
	deleteDataPause = time.Second
)

// deleteData calls DELETE /v1/me until it answers 2xx, calling again after a pause
// while it answers 503 (at most deleteDataCalls calls).
func (a *app) deleteData(ctx context.Context, client *api.Client) error {
	for call := 1; ; call++ {
		err := client.Call(ctx, http.MethodDelete, []string{"v1", "me"}, nil, nil, nil)
		var ae *api.Error
		if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || call == deleteDataCalls {
			return err
		}
		fmt.Fprintf(a.stderr, "still deleting (%s); calling again\n", ae.Message)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(deleteDataPause):
		}
	}
}

// forget deletes the session file and the identity pool's cached credentials, which
// belong to the session.
func (a *app) forget(k *session.Keeper) error {
	if err := k.Store.Delete(); err != nil {
		return err
	}
	return files.Cache{Path: files.CachePath(k.Store.Path)}.Delete()
}

// signOutHere revokes this session's refresh token (RevokeToken), so that it stops
// working, while the user's other sessions go on.
func (a *app) signOutHere(ctx context.Context, s *session.Session) error {
	ctx, cancel := context.WithTimeout(ctx, signOutTimeout)
	defer cancel()
	if s.RefreshToken == "" {
		return nil
	}
	c, err := a.sessionCognito(ctx)
	if err != nil {
		return fmt.Errorf("could not sign out at Cognito: %w", err)
	}
	if err := c.Revoke(ctx, s.ClientID, s.RefreshToken); err != nil {
		return fmt.Errorf("could not revoke the refresh token at Cognito: %w", err)
	}
	return nil
}
