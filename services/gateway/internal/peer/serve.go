package peer

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Handler receives the peers' messages (POST Path).
func (n *Node) Handler() http.Handler {
	return http.HandlerFunc(n.serveHTTP)
}

func (n *Node) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if r.ContentLength > maxBodyBytes {
		n.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return // the sender went away
	}
	if len(body) > maxBodyBytes {
		n.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if !verify(n.o.Key, body, r.Header.Get(SignatureHeader)) {
		n.refuse(w, r, http.StatusUnauthorized, "bad or missing signature")
		return
	}
	msg, err := decode(body)
	if err != nil {
		n.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	status, reason := n.receive(msg)
	if status != http.StatusOK {
		n.refuse(w, r, status, reason)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refuse answers a message that was not applied, and counts it.
func (n *Node) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	n.m.refused.WithLabelValues(strconv.Itoa(status)).Inc()
	if status == http.StatusUnauthorized {
		n.o.Log.Warn("refused a peer message", "remote", r.RemoteAddr, "status", status, "reason", reason)
	} else {
		n.o.Log.Debug("refused a peer message", "remote", r.RemoteAddr, "status", status, "reason", reason)
	}
	http.Error(w, reason, status)
}

// receive applies a verified message; it returns the status of the answer: 200
// applied (or already applied), 409 the sender must open a new stream with a hello,
// 421 the message is for another replica, 400 it is too old or from the future (its
// sender's clock is more than Window off), 503 this replica does not know its own
// address yet.
func (n *Node) receive(msg *message) (int, string) {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.self == "":
		return http.StatusServiceUnavailable, "this replica does not know its address yet"
	case msg.To != n.self:
		return http.StatusMisdirectedRequest, "message for " + msg.To + ", this is " + n.self
	case msg.From == n.self:
		return http.StatusBadRequest, "message from this replica's own address"
	}
	if age := now.UnixNano() - msg.Sent; age > int64(n.o.Window) || -age > int64(n.o.Window) {
		n.o.Log.Warn("refused a peer message sent too long ago or in the future: are the clocks of the nodes synchronised?", "peer", msg.From, "age", time.Duration(age).String(), "window", n.o.Window.String())
		return http.StatusBadRequest, "message sent more than the peer window away from now"
	}
	st := n.peers[msg.From]
	if st == nil {
		st = &peerState{member: n.members[msg.From], leftAt: now}
		n.peers[msg.From] = st
	}
	if msg.Stream != st.stream {
		if msg.Hello == nil || slices.Contains(st.retired, msg.Stream) {
			return http.StatusConflict, "unknown stream: open one with a hello"
		}
		if n.needFlush(st, msg) {
			n.flushLocked(now, "gateway replica %s opened a stream whose log does not cover what this replica may have missed", msg.From)
		}
		if st.stream != "" {
			st.retired = append(st.retired, st.stream)
			if len(st.retired) > 8 {
				st.retired = st.retired[1:]
			}
		}
		st.epoch, st.stream, st.next, st.bye = msg.Epoch, msg.Stream, 0, false
	}
	switch {
	case msg.Seq < st.next:
		return http.StatusOK, "" // a retry of a message already applied
	case msg.Seq > st.next:
		return http.StatusConflict, "message out of order: open a new stream"
	}
	for _, it := range msg.Items {
		n.o.Cache.Invalidate(it)
	}
	if msg.Flush {
		n.flushLocked(now, "gateway replica %s could not queue every invalidation for this replica", msg.From)
	}
	st.next++
	st.lastSent = msg.Sent
	st.lastRecv = now
	st.until = min(msg.Sent, now.UnixNano()) + int64(n.o.Window)
	st.bye = msg.Bye
	st.warned = false
	n.m.received.Add(float64(len(msg.Items)))
	if len(msg.Items) > 0 {
		n.m.delay.Observe(max(float64(now.UnixNano()-msg.Sent), 0) / 1e9)
	}
	n.recompute(now)
	return http.StatusOK, ""
}

// needFlush reports whether a hello opening a new stream leaves a gap this replica
// must cover by flushing its cache: invalidations the peer made that neither an
// earlier stream delivered nor the hello's log holds.
func (n *Node) needFlush(st *peerState, msg *message) bool {
	h := msg.Hello
	sameEpochCovered := st.epoch == msg.Epoch && h.Since <= st.lastSent
	if st.stream != "" && !st.bye {
		// An earlier stream ended without a goodbye: what it did not deliver is in
		// this log only if the log reaches back to its last message (the same
		// process, whose clock is the same). A restarted process lost it.
		return !sameEpochCovered
	}
	if h.Complete || (st.stream != "" && sameEpochCovered) {
		return false
	}
	// Nothing delivered before: this replica needs every invalidation since its
	// cache was last emptied; the sender's clock may be off by up to a window.
	return h.Since+int64(n.o.Window) > n.lastFlush.UnixNano()
}

// logSnapshot returns the log's items (each once, oldest first) and its hello.
func (n *Node) logSnapshot() ([]Item, *hello) {
	items := make([]Item, 0, n.log.Len())
	for e := n.log.Front(); e != nil; e = e.Next() {
		items = append(items, e.Value.(*logEntry).item)
	}
	return items, &hello{Since: n.logSince, Complete: !n.logCut}
}
