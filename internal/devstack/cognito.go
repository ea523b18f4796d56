package devstack

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/serverless-architect/serverless-architect/internal/cognitolocal"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// CognitoPort is the Cognito stand-in's loopback port (moved by Options.PortBase). It
// is fixed, not picked at random, because the app's Content-Security-Policy names it:
// a new port on every run would change the app's distribution on every run.
const CognitoPort = 8083

// listenCognito opens the loopback port of the Cognito stand-in (internal/cognitolocal)
// before provisioning, so its URL is known to the app's Content-Security-Policy;
// startCognito serves it once the user pool exists.
func listenCognito(o Options) (net.Listener, string, error) {
	addr := "127.0.0.1:" + strconv.Itoa(o.Local(CognitoPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("the Cognito stand-in cannot listen on %s: %w (is another `sa dev` running? see %s); stop it or choose another --port-base",
			addr, err, filepath.Join(o.Dir, "stack.json"))
	}
	return ln, "http://" + addr, nil
}

// startCognito serves the Cognito stand-in in front of moto on ln, for the user pool
// calls moto lacks (DeleteUser, RevokeToken); stack.json names it as
// cognitoEndpoint, which the todo CLI and the MyTodoList app use for the user pool. It
// lives in this process and stops with it.
func (s *stackRun) startCognito(ln net.Listener, ep string, res stack.Resources) (string, error) {
	standIn, err := cognitolocal.New(ep, cip.NewFromConfig(motoConfig(s.o.Region, ep)), res.UserPoolID)
	if err != nil {
		_ = ln.Close()
		return "", err
	}
	srv := &http.Server{Handler: standIn, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.con.Printf("the Cognito stand-in stopped: %v", err)
		}
	}()
	s.mu.Lock()
	s.cognito = srv
	s.mu.Unlock()
	u := "http://" + ln.Addr().String()
	s.con.Printf("Cognito user pools for clients on %s (moto, plus DeleteUser and RevokeToken, which moto lacks)", u)
	return u, nil
}

// stopCognito stops the stand-in, if it runs.
func (s *stackRun) stopCognito() {
	s.stopServer(&s.cognito)
}

// followPool moves the stack onto the new user pool a restarted moto was provisioned
// with (its saved state was lost): provision wrote the pool file the services follow
// (COGNITO_POOL_FILE), so here the Cognito stand-in acts on the new pool and
// stack.json names the new resources, for the todo CLI and sa status.
func (s *stackRun) followPool(old string, res stack.Resources) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cognito != nil {
		if standIn, ok := s.cognito.Handler.(*cognitolocal.StandIn); ok {
			standIn.SetPool(res.UserPoolID)
		}
	}
	if s.st != nil {
		s.st.Resources = res
		if s.stackFile != "" {
			if err := stack.Write(s.stackFile, s.st); err != nil {
				s.con.Printf("could not update %s: %v", s.stackFile, err)
			}
		}
	}
	s.con.Printf("!!! the restarted moto lost its state and has a new, empty user pool (%s, was %s): the services follow it (%s); every user must sign up again",
		res.UserPoolID, old, s.poolFile())
}
