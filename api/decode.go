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
	// {"IDS": …} is an unknown field, at any depth, as the OpenAPI document
	// says.
	if err := checkKeys(body, reflect.TypeOf(v), "", 0); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var (
			syntax *json.SyntaxError
			typ    *json.UnmarshalTypeError
			field  *hoist.Error
		)
		switch {
		case errors.Is(err, io.EOF):
			return hoist.Errorf(hoist.EInvalid, "the body is empty; a JSON object is expected")
		case errors.As(err, &syntax):
			return hoist.Errorf(hoist.EInvalid, "the body is not valid JSON (at byte %d)", syntax.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return hoist.Errorf(hoist.EInvalid, "field %q must be %s", clip(typ.Field, 64), jsonKind(typ.Type))
		case errors.As(err, &field) && field.Code == hoist.EInvalid && len(field.Fields) > 0:
			return field // a type that reads itself (an argv pattern) named the field
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

// checkKeys refuses, in the JSON value raw meant for a t, any object key
// that is not exactly the JSON name of a field. Values that do not parse
// are left to the decoder, which says what is wrong with them.
func checkKeys(raw []byte, t reflect.Type, path string, depth int) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > 32 {
		return hoist.Errorf(hoist.EInvalid, "the body is nested too deeply")
	}
	switch t.Kind() {
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
			return nil // it reads itself
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(raw, &keys) != nil {
			return nil
		}
		fields := jsonFields(t)
		for k, v := range keys {
			ft, ok := fields[k]
			if !ok {
				return hoist.Errorf(hoist.EInvalid, "unknown field %q", clip(path+k, 64))
			}
			if err := checkKeys(v, ft, path+k+".", depth+1); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for _, it := range items {
			if err := checkKeys(it, t.Elem(), path, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields returns the JSON names of the fields of struct t, with the
// fields of embedded structs, and their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					out[k] = v
				}
			}
			continue
		}
		if name != "" && name != "-" && f.IsExported() {
			out[name] = f.Type
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
	if len(in.Device) > 512 {
		return in, hoist.Errorf(hoist.EInvalid, "device: longer than 512 bytes")
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
