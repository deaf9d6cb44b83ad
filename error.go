package hoist

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API: clients switch on them, never on
// message text. The HTTP status for each lives in exactly one place, the api
// package.
const (
	EInvalid      = "invalid"      // the input is malformed or out of range
	ENotFound     = "not_found"    // no such object
	EConflict     = "conflict"     // the object changed under the caller, or the state forbids it
	EUnauthorized = "unauthorized" // no valid credentials
	EForbidden    = "forbidden"    // valid credentials, not allowed
	ERateLimited  = "rate_limited" // slow down
	ETooLarge     = "too_large"    // the body is over the limit
	EUnavailable  = "unavailable"  // a dependency is down; try again
	EInternal     = "internal"     // a bug or an unexpected failure; details only in the logs
)

// Error is the one error type of Hoist. Message is safe to show to the user
// who caused it; Err is the cause, for the logs only.
type Error struct {
	Code    string
	Message string
	// Fields names what is wrong with each bad field of the input, for a
	// form to show beside the field.
	Fields map[string]string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error that keeps cause for the logs.
func WrapError(code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-safe message of err. Errors that are not an
// *Error never leak their text: they become "internal error".
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
