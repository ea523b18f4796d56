// Package apperr holds the project's error codes and the JSON error envelope of the
// HTTP contract: {"error":{"code","message","requestId"}}.
//
// Domain code returns *Error values (or wraps them); the HTTP edge maps them to a status
// in exactly one place, Status. Anything that is not an *Error is an internal error: it
// is logged by the caller and shown to the client only as "internal error".
package apperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Code is a machine-readable, snake_case error code.
type Code string

// The codes of the HTTP contract.
const (
	Invalid            Code = "invalid_request"
	Unauthenticated    Code = "unauthenticated"
	Forbidden          Code = "forbidden"
	NotFound           Code = "not_found"
	MethodNotAllowed   Code = "method_not_allowed"
	Conflict           Code = "conflict"
	PreconditionFailed Code = "precondition_failed"
	TooLarge           Code = "payload_too_large"
	UnsupportedMedia   Code = "unsupported_media_type"
	Throttled          Code = "throttled"
	Unavailable        Code = "dependency_unavailable"
	// RangeNotSatisfiable is a byte range that starts past the end of a file (416).
	RangeNotSatisfiable Code = "range_not_satisfiable"
	// BadGateway and GatewayTimeout are a gateway's answers for an upstream that failed
	// or did not answer in time.
	BadGateway     Code = "bad_gateway"
	GatewayTimeout Code = "gateway_timeout"
	Internal       Code = "internal"
)

// Error is an error the client may see. Message is safe to show; Err, when set, is
// the underlying cause and is only logged.
type Error struct {
	Code    Code
	Message string
	// Field names the request field at fault, for Invalid.
	Field string
	// RetryAfter, when positive, is sent as the Retry-After header (429, 503); a 503 or
	// 504 without one gets DefaultRetryAfter.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Field != "" {
		msg = string(e.Code) + ": " + e.Field + ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Field returns an Invalid error about one request field.
func Field(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message whose cause is err.
func Wrap(err error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns the code of err, Internal when it carries none.
func CodeOf(err error) Code {
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}

// Status maps a code to its HTTP status. This is the only such mapping in the project.
func Status(c Code) int {
	switch c {
	case Invalid:
		return http.StatusBadRequest
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case Conflict:
		return http.StatusConflict
	case PreconditionFailed:
		return http.StatusPreconditionFailed
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case Throttled:
		return http.StatusTooManyRequests
	case RangeNotSatisfiable:
		return http.StatusRequestedRangeNotSatisfiable
	case Unavailable:
		return http.StatusServiceUnavailable
	case BadGateway:
		return http.StatusBadGateway
	case GatewayTimeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// Envelope is the JSON body of every error response.
type Envelope struct {
	Error Body `json:"error"`
}

// Body is the inside of Envelope.
type Body struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestId"`
}

// Render returns the status and envelope for err. Internal errors get a generic message
// so their text never reaches the client.
func Render(err error, requestID string) (int, Envelope) {
	e := As(err)
	if e == nil || e.Code == Internal {
		return http.StatusInternalServerError, Envelope{Body{Code: Internal, Message: "internal error; quote the request id when reporting it", RequestID: requestID}}
	}
	return Status(e.Code), Envelope{Body{Code: e.Code, Message: e.Message, Field: e.Field, RequestID: requestID}}
}

// DefaultRetryAfter is the Retry-After of a 503 or 504 whose error names none.
const DefaultRetryAfter = 2 * time.Second

// Write writes err as an error envelope to w, with Retry-After where the error asks for
// it, and DefaultRetryAfter on any other 503 or 504.
func Write(w http.ResponseWriter, err error, requestID string) {
	status, env := Render(err, requestID)
	retry := time.Duration(0)
	if e := As(err); e != nil {
		retry = e.RetryAfter
	}
	if retry <= 0 && (status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout) {
		// A dependency that is down or hung: tell clients when to come back rather than
		// leave them to hammer it or give up.
		retry = DefaultRetryAfter
	}
	if retry > 0 {
		secs := int((retry + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}
