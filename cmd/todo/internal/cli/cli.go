// Package cli is the todo command: it does what the MyTodoList mobile app does. It signs
// up and signs in against the Cognito user pool directly (public, unsigned calls, no AWS
// keys), keeps the tokens in a session file, and reads and writes the user's to-dos
// through the REST API over HTTPS with the id token as the bearer token.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/cognito"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/settings"
)

// Run runs the todo command with args (without the program name) and returns the exit
// code: 0 on success, 1 on any error, which is printed to stderr. getenv supplies the
// environment (TODO_STACK_FILE, TODO_PASSWORD, XDG_CONFIG_HOME, AWS_REGION, ...).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	root := a.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == 401 {
			fmt.Fprintln(stderr, "hint: run todo login")
		}
		return 1
	}
	return 0
}

// app holds what the commands share during one run.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	flags settings.Flags
	json  bool

	resolved *settings.Settings
	keeper   *session.Keeper
	// lines reads secrets from a stdin that is not a terminal, one a line.
	lines *bufio.Reader
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "todo",
		Short: "MyTodoList from the command line: sign up, sign in, manage your to-dos",
		Long: `todo does what the MyTodoList mobile app does: it signs up and signs in with the
Cognito user pool and manages your to-dos through the API over HTTPS.

Where to connect comes from the stack file that make dev writes (.dev/stack.json, found
in the current directory or a parent; or --stack, or TODO_STACK_FILE), and flags override
single values. The session is kept in $XDG_CONFIG_HOME/serverless-architect/todo/.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.BoolVar(&a.json, "json", false, "print JSON (the API's objects) instead of text")
	pf.StringVar(&a.flags.StackFile, "stack", "", "stack file (default $TODO_STACK_FILE, else .dev/stack.json here or in a parent)")
	pf.StringVar(&a.flags.APIURL, "api-url", "", "base URL of the to-do API (overrides the stack's apiUrl)")
	pf.StringVar(&a.flags.Region, "region", "", "Cognito region (overrides the stack's region)")
	pf.StringVar(&a.flags.ClientID, "client-id", "", "Cognito app client id (overrides the stack's userPoolClientId)")
	pf.StringVar(&a.flags.CAFile, "ca-file", "", "PEM file of an extra CA to trust (overrides the stack's caFile)")
	pf.StringVar(&a.flags.CognitoEndpoint, "cognito-endpoint", "", "Cognito endpoint URL (overrides the stack's awsEndpoint)")

	root.AddCommand(
		a.signupCmd(), a.confirmCmd(), a.loginCmd(), a.logoutCmd(), a.whoamiCmd(),
		a.passwordCmd(), a.accountCmd(),
		a.addCmd(), a.lsCmd(), a.showCmd(), a.doneCmd(), a.editCmd(), a.rmCmd(),
		a.filesCmd(),
	)
	return root
}

// settings resolves flags, the stack file and the environment once per run.
func (a *app) settings() (settings.Settings, error) {
	if a.resolved != nil {
		return *a.resolved, nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = ""
	}
	s, err := settings.Resolve(a.flags, a.getenv, cwd)
	if err != nil {
		return settings.Settings{}, err
	}
	a.resolved = &s
	return s, nil
}

// cognito returns the Cognito client and the app client id.
func (a *app) cognito(ctx context.Context) (*cognito.Client, string, error) {
	s, err := a.settings()
	if err != nil {
		return nil, "", err
	}
	if err := s.NeedCognito(); err != nil {
		return nil, "", err
	}
	c, err := a.cognitoClient(ctx, s)
	return c, s.ClientID, err
}

// cognitoClient builds the Cognito client. Refreshes and sign-outs need no app client
// id from the settings: the session names the client that issued its tokens.
func (a *app) cognitoClient(ctx context.Context, s settings.Settings) (*cognito.Client, error) {
	if err := s.NeedRegion(); err != nil {
		return nil, err
	}
	return cognito.New(ctx, cognito.Options{Region: s.Region, Endpoint: s.CognitoEndpoint})
}

// sessionCognito is the Cognito client for an existing session.
func (a *app) sessionCognito(ctx context.Context) (*cognito.Client, error) {
	s, err := a.settings()
	if err != nil {
		return nil, err
	}
	return a.cognitoClient(ctx, s)
}

func (a *app) store() (session.Store, error) {
	p, err := session.DefaultPath(a.getenv)
	if err != nil {
		return session.Store{}, err
	}
	return session.Store{Path: p}, nil
}

// sessions returns the keeper of the session, which refreshes it when due.
func (a *app) sessions() (*session.Keeper, error) {
	if a.keeper != nil {
		return a.keeper, nil
	}
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	a.keeper = &session.Keeper{
		Store: st,
		Now:   a.now,
		Refresher: func(ctx context.Context) (session.Refresher, error) {
			c, err := a.sessionCognito(ctx)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
	return a.keeper, nil
}

// api returns a client of the to-do API that sends a fresh id token.
func (a *app) api() (*api.Client, error) {
	s, err := a.settings()
	if err != nil {
		return nil, err
	}
	if err := s.NeedAPI(); err != nil {
		return nil, err
	}
	hc, err := api.HTTPClient(s.CAFile)
	if err != nil {
		return nil, err
	}
	k, err := a.sessions()
	if err != nil {
		return nil, err
	}
	c, err := api.New(s.APIURL, hc, k.Token)
	if err != nil {
		return nil, err
	}
	return c.WithRenew(k.RenewToken), nil
}

// password returns the password from the flag, TODO_PASSWORD, a prompt without echo when
// stdin is a terminal, or else the first line of stdin. twice asks again to confirm.
func (a *app) password(flag string, twice bool) (string, error) {
	return a.secret(flag, "--password", "TODO_PASSWORD", "Password", twice)
}

// secret returns a secret from the flag (named flagName, "" when there is none), the
// variable env, a prompt without echo (label) when stdin is a terminal, or else the
// next line of stdin (so two secrets can come on two lines). twice asks again to
// confirm.
func (a *app) secret(flag, flagName, env, label string, twice bool) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := a.getenv(env); p != "" {
		return p, nil
	}
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p, err := a.prompt(f, label+": ")
		if err != nil {
			return "", err
		}
		if twice {
			again, err := a.prompt(f, label+" (again): ")
			if err != nil {
				return "", err
			}
			if again != p {
				return "", errors.New("the passwords do not match")
			}
		}
		return p, nil
	}
	if a.lines == nil {
		a.lines = bufio.NewReader(a.stdin)
	}
	line, err := a.lines.ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read %s from stdin: %w", strings.ToLower(label), err)
		}
		pass := ""
		if flagName != "" {
			pass = "pass " + flagName + ", "
		}
		return "", fmt.Errorf("no %s: %sset %s, or run in a terminal to be asked", strings.ToLower(label), pass, env)
	}
	return line, nil
}

func (a *app) prompt(f *os.File, label string) (string, error) {
	fmt.Fprint(a.stderr, label)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("no password given")
	}
	return string(b), nil
}

// printf writes a line of human output.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}
