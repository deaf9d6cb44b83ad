package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hoist-jit/hoist"
)

// The decoders of request bodies are pure functions of untrusted bytes. These
// fuzz targets hold them to their contract: never panic; refuse with a
// *hoist.Error coded invalid (or too_large, only for a body over
// MaxBodyBytes), never internal; and on success return a value that meets
// the documented invariants and agrees with a plain json.Unmarshal of the
// same body. The committed corpus is in testdata/fuzz/<FuzzName>/.

// fuzzCommonSeeds are bodies every decoder must survive. They are small: the
// fuzzer minimizes what it finds, and a huge seed makes that crawl. Bodies
// at the limits are in TestDecodersAtTheLimits instead.
var fuzzCommonSeeds = []string{
	``,
	` `,
	`null`,
	`{}`,
	`[]`,
	`"text"`,
	`42`,
	`true`,
	`{`,
	`}`,
	`{"a":}`,
	`{} {}`,
	`{}x`,
	`{}]`,
	`{"x":1}`,
	`{"ids":{"a":[{"b":null}]},"x":[[[[]]]]}`,
	strings.Repeat(`[`, 100),
	strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100),
	"\xef\xbb\xbf{}",
	"{\"\xff\":1}",
	`{"user":1e999}`,
	`{"ids":[1e400]}`,
}

// fuzzCheckRefusal holds an error from a decoder to its contract.
func fuzzCheckRefusal(t *testing.T, body []byte, err error) {
	t.Helper()
	var herr *hoist.Error
	if !errors.As(err, &herr) {
		t.Fatalf("body %q: got error %T %v, want a *hoist.Error", body, err, err)
	}
	code := hoist.ErrorCode(err)
	switch {
	case len(body) > MaxBodyBytes && code != hoist.ETooLarge:
		t.Fatalf("body of %d bytes: got code %q, want %q", len(body), code, hoist.ETooLarge)
	case len(body) <= MaxBodyBytes && code != hoist.EInvalid:
		t.Fatalf("body %q: got code %q (%v), want %q", body, code, err, hoist.EInvalid)
	}
	msg := hoist.ErrorMessage(err)
	if msg == "" || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\n\r\x00") {
		t.Fatalf("body %q: got message %q, want a non-empty line of valid UTF-8", body, msg)
	}
}

// fuzzPlainDecode decodes an accepted body with json.Unmarshal, which must agree
// that it is JSON of the right shape.
func fuzzPlainDecode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if len(body) > MaxBodyBytes {
		t.Fatalf("body of %d bytes: accepted, want %q", len(body), hoist.ETooLarge)
	}
	if !json.Valid(body) {
		t.Fatalf("body %q: accepted, but it is not valid JSON", body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %q: accepted, but json.Unmarshal refuses it: %v", body, err)
	}
	return v
}

// fuzzCheckAccepted holds a successful decode of body into got to what
// json.Unmarshal makes of it.
func fuzzCheckAccepted[T any](t *testing.T, body []byte, got T) {
	t.Helper()
	if want := fuzzPlainDecode[T](t, body); !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q: got %+v, want %+v (as json.Unmarshal decodes it)", body, got, want)
	}
}

func fuzzCheckIDs(t *testing.T, body []byte, ids []string) {
	t.Helper()
	if len(ids) < 1 || len(ids) > 500 {
		t.Fatalf("body %q: accepted %d ids, want 1 to 500", body, len(ids))
	}
	for _, id := range ids {
		if len(id) > 64 {
			t.Fatalf("body %q: accepted an id of %d bytes, want at most 64", body, len(id))
		}
	}
}

func fuzzAddSeeds(f *testing.F, seeds ...string) {
	for _, s := range append(append([]string(nil), fuzzCommonSeeds...), seeds...) {
		f.Add([]byte(s))
	}
}

func FuzzParseApprove(f *testing.F) {
	fuzzAddSeeds(f,
		`{"ids":["req_abcdefghijkmnpqr"],"duration":"1h"}`,
		`{"ids":["req_abcdefghijkmnpqr","req_bcdefghijkmnpqrs"],"once":true,"reason":"CHG42"}`,
		`{"ids":["a"],"duration":"1h","once":true}`,
		`{"ids":["a"]}`,
		`{"ids":["a"],"duration":"0s"}`,
		`{"ids":["a"],"duration":"-1h"}`,
		`{"ids":["a"],"duration":"9999999999999h"}`,
		`{"ids":["a"],"duration":"1.5ns"}`,
		`{"ids":["a"],"duration":60}`,
		`{"ids":["a"],"once":"yes"}`,
		`{"ids":[],"once":true}`,
		`{"ids":null,"once":true}`,
		`{"ids":"a","once":true}`,
		`{"ids":[""],"once":true}`,
		`{"IDS":["a"],"Once":true}`,
		`{"ids":["a"],"once":true,"ids":["b"]}`,
		`{"ids":["a"],"once":true,"extra":1}`,
		`{"ids":["a"],"once":true}{"ids":["b"]}`,
		`{"ids":["`+strings.Repeat("x", 65)+`"],"once":true}`,
		`{"ids":[`+strings.Repeat(`"a",`, 500)+`"a"],"once":true}`,
		"{\"ids\":[\"\xff\xfe\"],\"once\":true}",
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseApprove(body)
		if err != nil {
			fuzzCheckRefusal(t, body, err)
			if !reflect.DeepEqual(got, Approval{}) {
				t.Fatalf("body %q: refused, but got %+v, want the zero Approval", body, got)
			}
			return
		}
		fuzzCheckIDs(t, body, got.IDs)
		in := fuzzPlainDecode[ApproveBody](t, body)
		if !reflect.DeepEqual(got.IDs, in.IDs) || got.Reason != in.Reason {
			t.Fatalf("body %q: got ids %q reason %q, want %q %q", body, got.IDs, got.Reason, in.IDs, in.Reason)
		}
		switch {
		case got.Duration < 0:
			t.Fatalf("body %q: got duration %v, want 0 (One Time) or positive", body, got.Duration)
		case got.Duration == 0:
			if !in.Once || in.Duration != "" {
				t.Fatalf("body %q: got One Time, want it only for once: true without duration", body)
			}
		default:
			if in.Once {
				t.Fatalf("body %q: got duration %v with once: true, want a refusal", body, got.Duration)
			}
			want, err := hoist.ParseDuration(in.Duration)
			if err != nil || want != got.Duration {
				t.Fatalf("body %q: got duration %v, want what hoist.ParseDuration(%q) gives: %v, %v", body, got.Duration, in.Duration, want, err)
			}
		}
		again, err := ParseApprove(body)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("body %q: a second parse got %+v, %v, want %+v", body, again, err, got)
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	fuzzAddSeeds(f,
		`{"ids":["req_abcdefghijkmnpqr"]}`,
		`{"ids":["ses_abcdefghijkmnpqr","req_abcdefghijkmnpqr"],"reason":"done"}`,
		`{"ids":[]}`,
		`{"ids":null}`,
		`{"ids":[null]}`,
		`{"ids":[1]}`,
		`{"ids":["a"],"reason":7}`,
		`{"ids":["a"],"duration":"1h"}`,
		`{"ids":["a"],"once":true}`,
		`{"Ids":["a"],"REASON":"x"}`,
		`{"ids":["a"]} `,
		`{"ids":["a"]}null`,
		`{"ids":["`+strings.Repeat("x", 64)+`"]}`,
		`{"ids":["`+strings.Repeat("x", 65)+`"]}`,
		`{"ids":[`+strings.Repeat(`"a",`, 499)+`"a"]}`,
		`{"ids":[`+strings.Repeat(`"a",`, 500)+`"a"]}`,
		"{\"ids\":[\"a\"],\"reason\":\"\xc3\x28\"}",
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseBatch(body)
		if err != nil {
			fuzzCheckRefusal(t, body, err)
			return
		}
		fuzzCheckIDs(t, body, got.IDs)
		fuzzCheckAccepted(t, body, got)
	})
}

func FuzzParseLogin(f *testing.F) {
	fuzzAddSeeds(f,
		`{"user":"admin","password":"correct horse battery staple"}`,
		`{"user":"","password":"x"}`,
		`{"user":"admin","password":""}`,
		`{"user":"admin"}`,
		`{"password":"x"}`,
		`{"user":1,"password":2}`,
		`{"user":["admin"],"password":"x"}`,
		`{"user":"admin","password":"x","otp":"123456"}`,
		`{"user":"admin","password":"x"}{"user":"root","password":"y"}`,
		`{"user":"admin","password":"x"}garbage`,
		`{"USER":"admin","Password":"x"}`,
		`{"user":"admin","password":null}`,
		`{"user":"\u0000","password":"\ud800"}`,
		"{\"user\":\"\xff\",\"password\":\"\xfe\"}",
		`{"user":"admin","password":1e309}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseLogin(body)
		if err != nil {
			fuzzCheckRefusal(t, body, err)
			return
		}
		if got.User == "" || got.Password == "" {
			t.Fatalf("body %q: accepted user %q password %q, want both non-empty", body, got.User, got.Password)
		}
		fuzzCheckAccepted(t, body, got)
	})
}

// FuzzParseUser can only hold ParseUser to json.Unmarshal: ParseUser checks
// nothing but the shape. Note that it accepts the body null as an empty
// change, although decodeStrict promises a JSON object.
func FuzzParseUser(f *testing.F) {
	fuzzAddSeeds(f,
		`{"name":"alice","role":"approver","password":"a long enough password"}`,
		`{"disabled":true}`,
		`{"disabled":false,"role":"auditor"}`,
		`{"disabled":null}`,
		`{"disabled":"yes"}`,
		`{"disabled":1}`,
		`{"role":1}`,
		`{"name":["alice"]}`,
		`{"name":"alice","admin":true}`,
		`{"name":"alice"}{"name":"bob"}`,
		`{"name":"alice"},`,
		`{"Name":"alice","DISABLED":true}`,
		`{"password":1e400}`,
		`{"name":"a","role":{"x":[1,2,{"y":null}]}}`,
		"{\"name\":\"\xff\xff\",\"password\":\"\xed\xa0\x80\"}",
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseUser(body)
		if err != nil {
			fuzzCheckRefusal(t, body, err)
			return
		}
		fuzzCheckAccepted(t, body, got)
	})
}

// TestDecodersAtTheLimits feeds each decoder the bodies too big to be fuzz
// seeds: one byte over MaxBodyBytes, a body of exactly MaxBodyBytes, and
// nesting deeper than encoding/json allows.
func TestDecodersAtTheLimits(t *testing.T) {
	decoders := []struct {
		name  string
		parse func([]byte) error
	}{
		{"ParseApprove", func(b []byte) error { _, err := ParseApprove(b); return err }},
		{"ParseBatch", func(b []byte) error { _, err := ParseBatch(b); return err }},
		{"ParseLogin", func(b []byte) error { _, err := ParseLogin(b); return err }},
		{"ParseUser", func(b []byte) error { _, err := ParseUser(b); return err }},
	}
	// padded returns a body of exactly n bytes: prefix, a run of x, suffix.
	padded := func(n int, prefix, suffix string) []byte {
		return []byte(prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix)
	}
	bodies := []struct {
		name     string
		body     []byte
		wantCode string
	}{
		{"one byte over the limit", padded(MaxBodyBytes+1, `{"reason":"`, `"}`), hoist.ETooLarge},
		{"far over the limit", bytes.Repeat([]byte(" "), 10*MaxBodyBytes), hoist.ETooLarge},
		{"at the limit, unknown field", padded(MaxBodyBytes, `{"zzz":"`, `"}`), hoist.EInvalid},
		{"at the limit, whitespace", bytes.Repeat([]byte(" "), MaxBodyBytes), hoist.EInvalid},
		{"nested too deep", []byte(strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001)), hoist.EInvalid},
		{"nested too deep in a field", []byte(`{"ids":` + strings.Repeat(`[`, 10001)), hoist.EInvalid},
	}
	for _, d := range decoders {
		for _, b := range bodies {
			t.Run(d.name+"/"+b.name, func(t *testing.T) {
				err := d.parse(b.body)
				if got := hoist.ErrorCode(err); got != b.wantCode {
					t.Fatalf("got code %q (%v), want %q", got, err, b.wantCode)
				}
				fuzzCheckRefusal(t, b.body, err)
			})
		}
	}
}
