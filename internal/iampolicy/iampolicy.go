// Package iampolicy builds AWS IAM policy documents from typed values, so that every
// policy the project uses (identity-based, trust and session policies) is written once,
// in code, and rendered to the same JSON byte for byte on every run: golden files can
// pin each document exactly.
//
// The types mirror the IAM policy grammar
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html):
// a Document holds Statements; a Statement has an Effect, Actions, Resources (or, in a
// trust policy, a Principal) and an optional Condition. Rendering is stable because
// struct fields keep their order and encoding/json sorts map keys.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the policy language version every document uses.
const Version = "2012-10-17"

// Effect says whether a statement allows or denies.
type Effect string

// The two effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Values is a list of strings that renders as a single JSON string when it holds one
// value (as the IAM console writes it) and as an array otherwise.
type Values []string

// MarshalJSON implements json.Marshaler.
func (v Values) MarshalJSON() ([]byte, error) {
	if len(v) == 1 {
		return json.Marshal(v[0])
	}
	return json.Marshal([]string(v))
}

// UnmarshalJSON implements json.Unmarshaler: it accepts a string or an array.
func (v *Values) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*v = Values{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("policy value: want a string or an array of strings: %w", err)
	}
	*v = many
	return nil
}

// Principal names who a trust policy admits: keys are "AWS", "Service" or "Federated".
type Principal map[string]Values

// Condition maps a condition operator ("StringEquals", "StringLike",
// "ForAnyValue:StringLike", ...) to condition keys and their values.
type Condition map[string]map[string]Values

// Statement is one statement of a policy.
type Statement struct {
	// Sid names the statement; optional, but every statement here has one so that
	// golden files and the IAM console say what each is for.
	Sid string `json:"Sid,omitempty"`
	// Effect is Allow or Deny.
	Effect Effect `json:"Effect"`
	// Principal is set in trust (resource) policies only.
	Principal Principal `json:"Principal,omitempty"`
	// Action lists the actions ("s3:GetObject", "sts:AssumeRoleWithWebIdentity").
	Action Values `json:"Action"`
	// Resource lists ARNs; empty in trust policies.
	Resource Values `json:"Resource,omitempty"`
	// Condition restricts when the statement applies.
	Condition Condition `json:"Condition,omitempty"`
}

// Document is a whole policy.
type Document struct {
	// Version is the policy language version (Version when built with New).
	Version string `json:"Version"`
	// Statement lists the statements, in order.
	Statement []Statement `json:"Statement"`
}

// New returns a document of the current language version holding statements.
func New(statements ...Statement) Document {
	return Document{Version: Version, Statement: statements}
}

// Validate reports a document IAM would reject or that cannot mean what was intended:
// no statements, an effect other than Allow or Deny, a statement without actions, a
// statement with neither resources nor a principal, or an empty condition key.
func (d Document) Validate() error {
	if d.Version != Version {
		return fmt.Errorf("policy version %q: want %q", d.Version, Version)
	}
	if len(d.Statement) == 0 {
		return errors.New("policy has no statements")
	}
	for i, s := range d.Statement {
		name := fmt.Sprintf("statement %d", i)
		if s.Sid != "" {
			name += " (" + s.Sid + ")"
		}
		switch {
		case s.Effect != Allow && s.Effect != Deny:
			return fmt.Errorf("%s: effect %q: want Allow or Deny", name, s.Effect)
		case len(s.Action) == 0:
			return fmt.Errorf("%s: no actions", name)
		case len(s.Resource) == 0 && len(s.Principal) == 0:
			return fmt.Errorf("%s: neither resources nor a principal", name)
		}
		for _, a := range s.Action {
			if a == "" || (a != "*" && !strings.Contains(a, ":")) {
				return fmt.Errorf("%s: action %q: want service:Action", name, a)
			}
		}
		for op, keys := range s.Condition {
			if len(keys) == 0 {
				return fmt.Errorf("%s: condition %s has no keys", name, op)
			}
			for k, v := range keys {
				if k == "" || len(v) == 0 {
					return fmt.Errorf("%s: condition %s: key %q needs at least one value", name, op, k)
				}
			}
		}
	}
	return nil
}

// JSON renders the document indented with two spaces, ending in a newline: the form
// kept in golden files and shown to people. The same document always renders the same
// bytes. HTML characters are not escaped (policies contain none that matter, and ARNs
// with & would otherwise become \u0026).
func (d Document) JSON() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("render policy: %w", err)
	}
	return b.Bytes(), nil
}

// Compact renders the document without insignificant space, the form sent to AWS APIs
// (session policies count packed characters against a 2,048 limit).
func (d Document) Compact() (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("render policy: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Parse reads a policy document (for tests and for comparing with what AWS holds).
func Parse(b []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("parse policy: %w", err)
	}
	return d, nil
}
