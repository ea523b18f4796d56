package peer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Path is where a replica receives its peers' messages, on the peer port.
const Path = "/peer/v1/invalidations"

// SignatureHeader carries a message's HMAC-SHA256, "sha256=<hex>", over the exact
// body bytes, with the shared key.
const SignatureHeader = "Peer-Signature"

// Limits of one message: the largest body accepted and the most items sent at once
// (a hello's log is sent in one message, so the log holds at most maxItems).
const (
	maxBodyBytes = 4 << 20
	maxItems     = 16384
)

// Item is one invalidation: every entry of Identity (a user's sub; "" for the shared
// entries of public routes) under the resource prefix Prefix.
type Item struct {
	Identity string `json:"u"`
	Prefix   string `json:"p"`
}

// message is what a replica sends a peer: a numbered batch of one stream, in order.
// The whole body is signed, so From and To cannot be changed by anyone without the key.
type message struct {
	// From and To are the sender's and the receiver's peer addresses (ip:port) as the
	// membership lists them.
	From string `json:"from"`
	To   string `json:"to"`
	// Epoch names the sender process (random at start); Stream names this
	// sender-to-receiver stream (random when it starts); Seq numbers the stream's
	// messages from 0.
	Epoch  string `json:"epoch"`
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	// Sent is when the message was (last) sent, Unix nanoseconds on the sender's clock.
	Sent int64 `json:"sent"`
	// Hello opens a stream (Seq 0): Items then hold the sender's log.
	Hello *hello `json:"hello,omitempty"`
	// Items are the invalidations to apply.
	Items []Item `json:"items,omitempty"`
	// Flush asks the receiver to drop every entry it holds: the sender lost track of
	// what it had to send (its queue for this stream overflowed).
	Flush bool `json:"flush,omitempty"`
	// Bye closes the stream cleanly: the sender has stopped serving and sent everything.
	Bye bool `json:"bye,omitempty"`
}

// hello says how far back the sender's log, sent with it, goes.
type hello struct {
	// Since is the time from which the log holds every invalidation the sender made
	// (Unix nanoseconds, sender's clock).
	Since int64 `json:"since"`
	// Complete is true when that is the sender's own start: the log holds everything
	// the process ever invalidated.
	Complete bool `json:"complete"`
}

// sign returns the signature header value of body under key.
func sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// verify reports whether sig is body's signature under key (constant time).
func verify(key, body []byte, sig string) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// decode parses a verified body.
func decode(body []byte) (*message, error) {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("malformed message: %w", err)
	}
	switch {
	case m.Epoch == "" || m.Stream == "":
		return nil, errors.New("message without epoch or stream")
	case len(m.Items) > maxItems:
		return nil, fmt.Errorf("message with %d items; at most %d", len(m.Items), maxItems)
	case m.Hello != nil && m.Seq != 0:
		return nil, errors.New("a hello must open its stream (seq 0)")
	}
	var err error
	if m.From, err = NormalizeAddr(m.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if m.To, err = NormalizeAddr(m.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	return &m, nil
}

// NormalizeAddr returns an ip:port peer address in one spelling (IPv4-mapped IPv6
// addresses unmapped, IPv6 in brackets, zones kept), so that addresses from the
// membership and from messages compare equal. Host names are refused: peers are named
// by address.
func NormalizeAddr(addr string) (string, error) {
	ap, err := netip.ParseAddrPort(strings.TrimSpace(addr))
	if err != nil {
		return "", fmt.Errorf("peer address %q is not ip:port", addr)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("peer address %q has no port", addr)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
}
