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
