package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strings"

	"github.com/hoist-jit/hoist"
)

// detailField is one field of an audit record's detail as the audit page
// shows it: a label, the value as text, and a link when the value names
// a request or a session.
type detailField struct {
	Label, Value, Href string
}

// detailFields turns a record's detail object into labelled fields, keys
// in order; a detail that is not an object is one field, "Detail".
func detailFields(raw json.RawMessage) []detailField {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return []detailField{{Label: "Detail", Value: readableDetail(raw)}}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]detailField, 0, len(keys))
	for _, k := range keys {
		v := fieldText(m[k])
		out = append(out, detailField{Label: detailLabel(k), Value: v, Href: objectLink(v)})
	}
	return out
}

// detailLabel is a detail key as a label: "not_shown_bytes" is "Not shown
// bytes".
func detailLabel(k string) string {
	k = strings.ReplaceAll(k, "_", " ")
	if k == "" {
		return k
	}
	return strings.ToUpper(k[:1]) + k[1:]
}

// fieldText is a detail value as text: a string as it is, a list of
// strings (a command line) joined by spaces, anything else as compact JSON.
func fieldText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return fmt.Sprint(v)
	case nil:
		return ""
	case []any:
		parts := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return compactJSON(v)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	return compactJSON(v)
}

func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

// objectLink is the console page of the request or session id names, ""
// for anything else.
func objectLink(id string) string {
	switch {
	case hoist.ValidID(hoist.RequestIDPrefix, id):
		return "/requests/" + url.PathEscape(id)
	case hoist.ValidID(hoist.SessionIDPrefix, id):
		return "/sessions/" + url.PathEscape(id)
	}
	return ""
}

// longRun is the most characters of a field value without a place to
// break: a token longer than any word (a hash, a key) gets one every
// longRun characters, so that it can wrap without a word ever being split.
const longRun = 24

// brkValue is brk for a detail value: break opportunities after the parts
// of a long name, and inside a run of longRun characters with none.
func brkValue(s string) template.HTML {
	var b strings.Builder
	run := 0
	for i, r := range s {
		b.WriteString(template.HTMLEscapeString(string(r)))
		switch {
		case r == ' ' || r == '\t':
			run = 0
		case strings.ContainsRune("./_-:=,@", r) && i+1 < len(s):
			b.WriteString("<wbr>")
			run = 0
		default:
			if run++; run == longRun && i+1 < len(s) {
				b.WriteString("<wbr>")
				run = 0
			}
		}
	}
	return template.HTML(b.String())
}
