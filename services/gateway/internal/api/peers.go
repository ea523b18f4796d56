package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/peer"
)

// peerCache applies the peers' invalidations to the response cache.
type peerCache struct{ s *cache.Store }

func (c peerCache) Invalidate(it peer.Item) { c.s.Invalidate(c.s.Scope(it.Identity, it.Prefix)) }
func (c peerCache) Flush()                  { c.s.Flush() }

// newPeers checks the peer settings and builds the Node of this replica. With a fixed
// list (PEERS) the membership is set at once.
func newPeers(cfg Config, store *cache.Store, d Deps, reg prometheus.Registerer) (*peer.Node, error) {
	p := cfg.Peers
	if len(p.Peers) > 0 && p.EndpointSlices != "" {
		return nil, errors.New("PEERS and PEER_ENDPOINTSLICES are two ways to list the replicas: set one")
	}
	if p.Port < 1 || p.Port > 65535 {
		return nil, fmt.Errorf("PEER_PORT must be a port number, got %d", p.Port)
	}
	key, err := base64.StdEncoding.DecodeString(p.Key)
	if err != nil || len(key) < 32 {
		return nil, errors.New("PEER_KEY must be at least 32 random bytes in base64 (the same Secret on every replica): replicas sign their invalidations with it")
	}
	if need := cfg.DrainDelay + cfg.ShutdownTimeout + p.Window; p.Grace < need {
		return nil, fmt.Errorf("PEER_GRACE (%s) must be at least DRAIN_DELAY + SHUTDOWN_TIMEOUT + PEER_WINDOW (%s): a replica that left may finish requests that long", p.Grace, need)
	}
	isSelf, err := peer.IsLocal(p.Port)
	if err != nil {
		return nil, err
	}
	n, err := peer.New(peer.Options{
		Key: key, Window: p.Window, Grace: p.Grace, IsSelf: isSelf, Cache: peerCache{store},
		Log: d.Log, Registerer: reg, Now: d.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	if len(p.Peers) > 0 {
		ms := make([]peer.Member, 0, len(p.Peers))
		for _, a := range p.Peers {
			addr, err := peer.NormalizeAddr(a)
			if err != nil {
				return nil, fmt.Errorf("PEERS: %w", err)
			}
			ms = append(ms, peer.Member{Addr: addr, Ready: true})
		}
		n.SetMembers(ms)
		if n.Ready(context.Background()) != nil {
			return nil, fmt.Errorf("PEERS (%v) does not list this replica (an address of this machine with port PEER_PORT %d)", p.Peers, p.Port)
		}
	}
	return n, nil
}

// Peers returns the replica's peer Node, nil for a single replica.
func (g *Gateway) Peers() *peer.Node { return g.peers }

// servePeers receives the peers' messages on host:port and runs n's housekeeping until
// clientsDone is closed (the gateway has answered its last request), then says goodbye
// to the peers and stops.
func servePeers(ctx context.Context, n *peer.Node, host string, port int, log *slog.Logger, clientsDone <-chan struct{}) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("peers: listen on port %d: %w", port, err)
	}
	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	nctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go n.Run(nctx)
	log.Info("peers listening", "addr", "http://"+l.Addr().String()+peer.Path)
	select {
	case err := <-errc:
		stop()
		return fmt.Errorf("peers: %w", err)
	case <-clientsDone:
	}
	// Every request has been answered: nothing will be written any more. Send what is
	// queued and say goodbye, so the peers need not wait out their grace.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	n.Close(cctx)
	stop()
	if err := srv.Shutdown(cctx); err != nil {
		return fmt.Errorf("peers: shutdown: %w", err)
	}
	return nil
}
