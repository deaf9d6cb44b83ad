package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// MaxBodyBytes caps every request body. The largest legitimate body, a batch
// of MaxBatch ids, fits many times over.
const MaxBodyBytes = 64 << 10

// readBody reads a size-limited JSON body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, hoist.Errorf(hoist.EInvalid, "the body must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, hoist.Errorf(hoist.ETooLarge, "the body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, hoist.Errorf(hoist.EInvalid, "cannot read the body")
	}
	return body, nil
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data, with a message that says what is wrong.
func decodeStrict(body []byte, v any) error {
	if len(body) > MaxBodyBytes {
		return hoist.Errorf(hoist.ETooLarge, "the body is larger than %d bytes", MaxBodyBytes)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return hoist.Errorf(hoist.EInvalid, "the body is empty; a JSON object is expected")
	}
	if trimmed[0] != '{' {
		return hoist.Errorf(hoist.EInvalid, "the body must be a JSON object")
	}
	// encoding/json matches keys without regard to case; the API does not:
	// {"IDS": …} is an unknown field, as the OpenAPI document says.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err == nil {
		allowed := jsonFields(reflect.TypeOf(v))
		for k := range keys {
			if !allowed[k] {
				return hoist.Errorf(hoist.EInvalid, "unknown field %q", clip(k, 64))
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var (
			syntax *json.SyntaxError
			typ    *json.UnmarshalTypeError
		)
		switch {
		case errors.Is(err, io.EOF):
			return hoist.Errorf(hoist.EInvalid, "the body is empty; a JSON object is expected")
		case errors.As(err, &syntax):
			return hoist.Errorf(hoist.EInvalid, "the body is not valid JSON (at byte %d)", syntax.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return hoist.Errorf(hoist.EInvalid, "field %q must be %s", clip(typ.Field, 64), jsonKind(typ.Type))
		}
		return hoist.Errorf(hoist.EInvalid, "the body is not a valid JSON object")
	}
	if dec.More() {
		return hoist.Errorf(hoist.EInvalid, "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return hoist.Errorf(hoist.EInvalid, "the body has data after the JSON object")
	}
	return nil
}

// jsonFields returns the JSON names of the fields of the struct t points to.
func jsonFields(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a number"
}

// clip shortens what a client sent before it is echoed in a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// LoginBody is defined in package wire, which clients import without the server.
type LoginBody = wire.LoginBody

// ParseLogin decodes and checks a login body.
func ParseLogin(body []byte) (LoginBody, error) {
	var in LoginBody
	if err := decodeStrict(body, &in); err != nil {
		return in, err
	}
	if in.User == "" || in.Password == "" {
		return in, hoist.Errorf(hoist.EInvalid, "user and password are required")
	}
	return in, nil
}

// ApproveBody is defined in package wire, which clients import without the server.
type ApproveBody = wire.ApproveBody

// Approval is a checked ApproveBody; Duration zero means One Time.
type Approval struct {
	IDs      []string
	Duration time.Duration
	Reason   string
}

// ParseApprove decodes and checks an approval body.
func ParseApprove(body []byte) (Approval, error) {
	var in ApproveBody
	if err := decodeStrict(body, &in); err != nil {
		return Approval{}, err
	}
	if err := checkIDs(in.IDs); err != nil {
		return Approval{}, err
	}
	out := Approval{IDs: in.IDs, Reason: in.Reason}
	switch {
	case in.Once && in.Duration != "":
		return Approval{}, hoist.Errorf(hoist.EInvalid, "give either duration (For) or once (One Time), not both")
	case !in.Once && in.Duration == "":
		return Approval{}, hoist.Errorf(hoist.EInvalid, "give duration (For, e.g. \"1h\") or once: true (One Time)")
	case in.Duration != "":
		d, err := hoist.ParseDuration(in.Duration)
		if err != nil {
			return Approval{}, err
		}
		out.Duration = d
	}
	return out, nil
}

// BatchBody is defined in package wire, which clients import without the server.
type BatchBody = wire.BatchBody

// ParseBatch decodes and checks a deny or revoke body.
func ParseBatch(body []byte) (BatchBody, error) {
	var in BatchBody
	if err := decodeStrict(body, &in); err != nil {
		return in, err
	}
	return in, checkIDs(in.IDs)
}

func checkIDs(ids []string) error {
	if len(ids) == 0 {
		return hoist.Errorf(hoist.EInvalid, "ids is required: a list of one or more ids")
	}
	if len(ids) > 500 {
		return hoist.Errorf(hoist.EInvalid, "at most 500 ids at once")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		switch {
		case id == "":
			return hoist.Errorf(hoist.EInvalid, "an id is empty")
		case len(id) > 64:
			return hoist.Errorf(hoist.EInvalid, "an id is longer than 64 bytes")
		case seen[id]:
			return hoist.Errorf(hoist.EInvalid, "id %s is given twice", id)
		}
		seen[id] = true
	}
	return nil
}

// UserBody is defined in package wire, which clients import without the server.
type UserBody = wire.UserBody

// ParseUser decodes an account body.
func ParseUser(body []byte) (UserBody, error) {
	var in UserBody
	err := decodeStrict(body, &in)
	return in, err
}
