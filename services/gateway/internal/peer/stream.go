package peer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// A stream sends at most one message per linger on average, in bursts of up to
// lingerBurst: a write after a quiet spell goes out at once, while under a sustained
// stream of writes (over 200 a second) the invalidations of 5 ms share one message. A
// message costs both replicas some 100 µs of CPU, an invalidation in it a few.
const (
	linger      = 5 * time.Millisecond
	lingerBurst = 8
)

// stream sends this replica's invalidations to one peer, in order: one message in
// flight at a time, retried until the peer takes it, a heartbeat when there is nothing
// to send. It opens with a hello that carries the log.
type stream struct {
	n  *Node
	to string

	mu      sync.Mutex
	queue   []Item
	queued  map[Item]bool // what queue holds: an item is queued once
	flush   bool          // the queue overflowed: send a flush instead
	hello   bool          // the next message opens a new stream
	closing bool          // send what is queued, then a goodbye, then stop

	wake    chan struct{}
	aborted chan struct{}
	abortMu sync.Once
	done    chan struct{}
}

// startStream starts a stream to addr; n.mu is held.
func (n *Node) startStream(addr string) *stream {
	s := &stream{n: n, to: addr, hello: true, queued: map[Item]bool{}, wake: make(chan struct{}, 1), aborted: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

// enqueue adds items to send; n.mu is held.
func (s *stream) enqueue(items []Item) {
	s.mu.Lock()
	switch {
	case s.hello || s.flush:
		// The hello will carry the log, which holds them; a flush covers everything.
	default:
		for _, it := range items {
			if s.queued[it] {
				continue
			}
			if len(s.queue) >= s.n.o.QueueSize {
				s.queue, s.flush = nil, true
				clear(s.queued)
				s.n.m.overflows.Inc()
				break
			}
			s.queue = append(s.queue, it)
			s.queued[it] = true
		}
	}
	s.mu.Unlock()
	s.poke()
}

func (s *stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// finish asks the stream to send what is queued and a goodbye, then stop.
func (s *stream) finish() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.poke()
}

// abort stops the stream at once.
func (s *stream) abort() { s.abortMu.Do(func() { close(s.aborted) }) }

// next builds the next message to send; ok is false when there is nothing to send.
func (s *stream) next(id string, seq uint64) (m *message, ok bool) {
	m = &message{To: s.to, Epoch: s.n.epoch, Stream: id, Seq: seq}
	s.n.mu.Lock()
	m.From = s.n.self
	s.mu.Lock()
	if s.hello {
		// The log holds everything queued so far; later items queue up again.
		m.Items, m.Hello = s.n.logSnapshot()
		s.hello, s.queue, s.flush = false, nil, false
		clear(s.queued)
	} else {
		k := min(len(s.queue), maxItems)
		m.Items = append([]Item(nil), s.queue[:k]...)
		for _, it := range m.Items {
			delete(s.queued, it)
		}
		s.queue = s.queue[k:]
		m.Flush, s.flush = s.flush, false
	}
	m.Bye = s.closing && len(s.queue) == 0 && !s.flush
	s.mu.Unlock()
	s.n.mu.Unlock()
	return m, m.Hello != nil || len(m.Items) > 0 || m.Flush || m.Bye
}

// run is the stream's loop.
func (s *stream) run() {
	defer close(s.done)
	id := newStreamID()
	var seq uint64
	var inflight *message
	beat := s.n.heartbeat()
	timer := time.NewTimer(0) // the hello goes out at once
	defer timer.Stop()
	failures := 0
	pace := rate.NewLimiter(rate.Every(linger), lingerBurst)
	for {
		if inflight == nil {
			beatDue := false
			select {
			case <-s.aborted:
				return
			case <-s.wake:
			case <-timer.C:
				beatDue = true
			}
			if wait := pace.Reserve().Delay(); wait > 0 {
				select {
				case <-s.aborted:
					return
				case <-time.After(wait):
				}
			}
			m, ok := s.next(id, seq)
			if !ok && !beatDue {
				continue // woken with nothing to send, and no heartbeat due yet
			}
			inflight = m
		}
		status, err := s.send(inflight)
		switch {
		case err == nil && status == http.StatusOK:
			failures = 0
			seq++
			if inflight.Bye {
				return
			}
			inflight = nil
			resetTimer(timer, beat)
			continue
		case err == nil && status == http.StatusConflict:
			// The peer does not know this stream (it restarted, or a message went
			// missing): open a new one; its hello carries the log.
			s.n.o.Log.Info("reopening the invalidation stream to a gateway replica", "peer", s.to)
			id, seq, inflight = newStreamID(), 0, nil
			s.mu.Lock()
			s.hello = true
			s.mu.Unlock()
			continue
		}
		failures++
		s.n.m.sendErrors.Inc()
		if failures == 1 || failures%100 == 0 {
			s.n.o.Log.Warn("cannot send invalidations to a gateway replica; retrying (it serves uncached until it hears from this one)", "peer", s.to, "status", status, "err", err, "attempts", failures)
		}
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing && failures >= 3 {
			return // shutting down: the peer will wait out its grace instead
		}
		select {
		case <-s.aborted:
			return
		case <-time.After(min(time.Duration(failures)*10*time.Millisecond, beat)):
		}
	}
}

// send signs m (with the time now) and posts it; it returns the peer's status.
func (s *stream) send(m *message) (int, error) {
	m.Sent = s.n.o.Now().UnixNano()
	body, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.n.o.Window/2)
	defer cancel()
	go func() {
		select {
		case <-s.aborted:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.to+Path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sign(s.n.o.Key, body))
	resp, err := s.n.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		s.n.m.sent.Add(float64(len(m.Items)))
	}
	return resp.StatusCode, nil
}

func newStreamID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}
