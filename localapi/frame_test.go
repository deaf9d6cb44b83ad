package localapi_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist/localapi"
)

// framed makes a frame of body: its length, then body.
func framed(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestReadFrame(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"a request", framed(`{"v":1,"op":"status"}`), true},
		{"trailing spaces", framed(`{"v":1,"op":"status"}  ` + "\n"), true},
		{"an unknown field", framed(`{"v":1,"op":"status","sudo":true}`), false},
		{"a second value", framed(`{"v":1,"op":"status"}{"v":1}`), false},
		{"a stray bracket after the value", framed(`{"v":1,"op":"status"}]`), false},
		{"a stray brace after the value", framed(`{"v":1,"op":"status"}}`), false},
		{"not JSON", framed(`v=1&op=status`), false},
		{"a number where a string belongs", framed(`{"v":1,"op":7}`), false},
		{"an empty frame", framed(``), false},
		{"a short frame", framed(`{"v":1,"op":"status"}`)[:10], false},
		{"a short header", []byte{0, 0}, false},
		{"a frame over the limit", binary.BigEndian.AppendUint32(nil, localapi.MaxFrame+1), false},
		{"the largest size there is", []byte{0xff, 0xff, 0xff, 0xff}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req localapi.Request
			err := localapi.ReadFrame(bytes.NewReader(tc.in), nil, &req)
			if tc.ok != (err == nil) {
				t.Fatalf("ReadFrame = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, localapi.ErrFrame) {
				t.Fatalf("the refusal %v does not wrap ErrFrame", err)
			}
		})
	}
	var req localapi.Request
	if err := localapi.ReadFrame(bytes.NewReader(nil), nil, &req); err != io.EOF {
		t.Fatalf("ReadFrame of nothing = %v, want io.EOF", err)
	}
}

// TestReadFrameReadsOneFrame: what follows a frame stays for the next
// read, and a header already read counts.
func TestReadFrameReadsOneFrame(t *testing.T) {
	two := append(framed(`{"v":1,"op":"signal","signal":2}`), framed(`{"v":1,"op":"signal","signal":15}`)...)
	r := bytes.NewReader(two[3:])
	var a, b localapi.Request
	if err := localapi.ReadFrame(r, two[:3], &a); err != nil {
		t.Fatal(err)
	}
	if err := localapi.ReadFrame(r, nil, &b); err != nil {
		t.Fatal(err)
	}
	if a.Signal != 2 || b.Signal != 15 || r.Len() != 0 {
		t.Fatalf("read %+v and %+v, %d bytes left", a, b, r.Len())
	}
}

func TestWriteFrame(t *testing.T) {
	var buf bytes.Buffer
	req := localapi.Request{V: 1, Op: localapi.OpRun, Argv: []string{"sh", "-c", "a && b > c < d"}}
	if err := localapi.WriteFrame(&buf, req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "a && b > c < d") {
		t.Fatalf("the frame escapes what JSON does not need escaped: %q", buf.String())
	}
	var got localapi.Request
	if err := localapi.ReadFrame(&buf, nil, &got); err != nil || got.Argv[2] != req.Argv[2] {
		t.Fatalf("read back %+v, %v", got, err)
	}

	big := localapi.Request{V: 1, Op: localapi.OpRun, Argv: []string{strings.Repeat("\x01", localapi.MaxFrame/6+1)}}
	buf.Reset()
	err := localapi.WriteFrame(&buf, big)
	if !errors.Is(err, localapi.ErrInvalid) || buf.Len() != 0 {
		t.Fatalf("a frame over the limit: %v, %d bytes written; want ErrInvalid and nothing", err, buf.Len())
	}
}

// FuzzReadFrame feeds ReadFrame arbitrary bytes, split anywhere in the
// header: it never panics, refuses with ErrFrame, never takes a frame over
// MaxFrame or reads past the frame, and what it accepts survives being
// written and read again.
func FuzzReadFrame(f *testing.F) {
	f.Add(framed(`{"v":1,"op":"run","argv":["id","-u"],"term":"xterm","tty":true}`), uint8(0))
	f.Add(framed(`{"v":1,"op":"status","helper":true}`), uint8(2))
	f.Add(framed(`{"v":1,"op":"request","duration":"45m","reason":"\u202e\u0000"}`), uint8(4))
	f.Add(framed(`{"v":1,"op":"signal","signal":-1}{}`), uint8(1))
	f.Add(framed(`{"V":1,"OP":"grant","user":"\xff","duration":"1h"}`), uint8(3))
	f.Add(framed(`null`), uint8(0))
	f.Add(framed(`{"v":1,"op":"offline","duration":"1h","reason":"no VPN"}`), uint8(1))
	f.Add(framed(`{"v":1,"op":"respond","code":"K7QF-2M9X-ZR4D"}`), uint8(2))
	f.Add([]byte{0, 4, 0, 1, '{', '}'}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		k := min(int(split%5), len(data))
		r := bytes.NewReader(data[k:])
		var req localapi.Request
		err := localapi.ReadFrame(r, data[:k], &req)
		if err != nil {
			if err != io.EOF && !errors.Is(err, localapi.ErrFrame) {
				t.Fatalf("refusal %v wraps neither io.EOF nor ErrFrame", err)
			}
			return
		}
		size := binary.BigEndian.Uint32(data)
		if size > localapi.MaxFrame {
			t.Fatalf("took a frame of %d bytes", size)
		}
		if read := len(data) - r.Len(); read != 4+int(size) {
			t.Fatalf("read %d bytes of a %d-byte frame", read, 4+size)
		}
		var buf bytes.Buffer
		if err := localapi.WriteFrame(&buf, req); err != nil {
			if !errors.Is(err, localapi.ErrInvalid) {
				t.Fatalf("cannot write back what was read: %v", err)
			}
			return // bigger once re-encoded (invalid UTF-8 becomes U+FFFD): refused, not cut
		}
		var again localapi.Request
		if err := localapi.ReadFrame(&buf, nil, &again); err != nil {
			t.Fatalf("cannot read back what was written: %v", err)
		}
		a, _ := json.Marshal(req)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the request:\n%s\n%s", a, b)
		}
	})
}
