package api_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pki"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/wire"
)

// The parts of an OpenAPI 3.0 document these tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas         map[string]*oaSchema `json:"schemas"`
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
	} `json:"components"`

	raw any                    // the whole document, for walking
	ops map[oaKey]*oaOperation // every operation, by method and path
}

type oaKey struct{ Method, Path string }

func (k oaKey) String() string { return k.Method + " " + k.Path }

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	Security    *[]map[string][]string `json:"security"`
	// HoistAuth marks what OpenAPI 3.0 cannot say: the route needs an
	// agent's TLS client certificate (mutual TLS).
	HoistAuth   string        `json:"x-hoist-auth"`
	Parameters  []oaParameter `json:"parameters"`
	RequestBody *struct {
		Required bool                   `json:"required"`
		Content  map[string]oaMediaType `json:"content"`
	} `json:"requestBody"`
	Responses map[string]oaResponse `json:"responses"`
}

type oaParameter struct {
	Name     string    `json:"name"`
	In       string    `json:"in"`
	Required bool      `json:"required"`
	Schema   *oaSchema `json:"schema"`
}

type oaMediaType struct {
	Schema *oaSchema `json:"schema"`
}

type oaResponse struct {
	Description string                 `json:"description"`
	Content     map[string]oaMediaType `json:"content"`
}

type oaSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 string               `json:"type"`
	Format               string               `json:"format"`
	Enum                 []string             `json:"enum"`
	Properties           map[string]*oaSchema `json:"properties"`
	Required             []string             `json:"required"`
	AdditionalProperties any                  `json:"additionalProperties"`
	Items                *oaSchema            `json:"items"`
	Minimum              *int64               `json:"minimum"`
	Maximum              *int64               `json:"maximum"`
	MinLength            *int                 `json:"minLength"`
	MaxLength            *int                 `json:"maxLength"`
	MinItems             *int                 `json:"minItems"`
	MaxItems             *int                 `json:"maxItems"`
	Pattern              string               `json:"pattern"`
}

const oaSchemaPrefix = "#/components/schemas/"

// oaAgentAuth is the x-hoist-auth of routes that need an agent's client
// certificate.
const oaAgentAuth = "agent-certificate"

var oaMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// fetchOpenAPI reads the document the way clients do: from the server.
func fetchOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	srv := httptest.NewServer(api.New(api.Config{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: got status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("GET /api/v1/openapi.json: got Content-Type %q, want application/json", got)
	}
	return parseOpenAPI(t, data)
}

func parseOpenAPI(t *testing.T, data []byte) *openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if err := json.Unmarshal(data, &doc.raw); err != nil {
		t.Fatal(err)
	}
	doc.ops = map[oaKey]*oaOperation{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !oaMethods[method] {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", strings.ToUpper(method), path, err)
			}
			doc.ops[oaKey{strings.ToUpper(method), path}] = &op
		}
	}
	return &doc
}

// sortedKeys returns the operations in a stable order.
func (d *openAPIDoc) sortedKeys() []oaKey {
	keys := make([]oaKey, 0, len(d.ops))
	for k := range d.ops {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// resolve follows $ref to the named component schema.
func (d *openAPIDoc) resolve(s *oaSchema) (*oaSchema, error) {
	for depth := 0; s != nil && s.Ref != ""; depth++ {
		name, ok := strings.CutPrefix(s.Ref, oaSchemaPrefix)
		if !ok || depth > 10 {
			return nil, fmt.Errorf("cannot resolve $ref %q", s.Ref)
		}
		next, ok := d.Components.Schemas[name]
		if !ok {
			return nil, fmt.Errorf("$ref %q names no component schema", s.Ref)
		}
		s = next
	}
	return s, nil
}

func TestOpenAPIServed(t *testing.T) {
	doc := fetchOpenAPI(t)
	tests := []struct {
		name, got, want string
	}{
		{"openapi", doc.OpenAPI, "3.0.3"},
		{"info.title", doc.Info.Title, "Hoist control server API"},
		{"info.version", doc.Info.Version, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if len(doc.ops) == 0 {
		t.Error("the document has no operations")
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := fetchOpenAPI(t)
	routes := api.New(api.Config{}).Routes()
	if len(routes) == 0 {
		t.Fatal("Routes() is empty")
	}
	want := map[oaKey]bool{{"GET", "/metrics"}: true} // registered beside the routes
	for _, r := range routes {
		k := oaKey{r.Method, r.Path}
		if want[k] {
			t.Errorf("Routes() lists %s twice", k)
		}
		want[k] = true
	}
	var missing, extra []string
	for k := range want {
		if doc.ops[k] == nil {
			missing = append(missing, k.String())
		}
	}
	for k := range doc.ops {
		if !want[k] {
			extra = append(extra, k.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes registered but not in openapi.json: got %d, want none:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("operations in openapi.json that the server does not register: got %d, want none:\n  %s", len(extra), strings.Join(extra, "\n  "))
	}
}

func TestOpenAPISecurity(t *testing.T) {
	doc := fetchOpenAPI(t)
	bearer, ok := doc.Components.SecuritySchemes["bearerAuth"]
	if !ok {
		t.Fatal("components.securitySchemes.bearerAuth is missing")
	}
	if bearer.Type != "http" || bearer.Scheme != "bearer" {
		t.Errorf("bearerAuth: got type %q scheme %q, want http bearer", bearer.Type, bearer.Scheme)
	}
	routes := append(api.New(api.Config{}).Routes(), api.Route{Method: "GET", Path: "/metrics", Auth: true})
	for _, r := range routes {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			if r.Auth && r.Agent {
				t.Fatal("Routes(): got Auth and Agent both true, want at most one")
			}
			op := doc.ops[oaKey{r.Method, r.Path}]
			if op == nil {
				t.Skip("not documented (reported by TestOpenAPIMatchesRoutes)")
			}
			if op.Security == nil {
				t.Fatalf("no security on the operation: want %s", map[bool]string{true: "[{bearerAuth: []}]", false: "[]"}[r.Auth])
			}
			sec := *op.Security
			switch {
			case r.Agent:
				// OpenAPI 3.0 has no mutual TLS scheme: no credential it can
				// describe, and the marker says which one is needed.
				if len(sec) != 0 {
					t.Errorf("agent route: got security %v, want [] (no bearer token)", sec)
				}
				if op.HoistAuth != oaAgentAuth {
					t.Errorf("agent route: got x-hoist-auth %q, want %q", op.HoistAuth, oaAgentAuth)
				}
				if !strings.Contains(op.Description, "client certificate") {
					t.Errorf("agent route: got description %q, want it to say a client certificate is needed", op.Description)
				}
				if _, ok := op.Responses["401"]; !ok {
					t.Error("agent route: got no 401 response, want one")
				}
				return
			case op.HoistAuth != "":
				t.Errorf("got x-hoist-auth %q, want none (not an agent route)", op.HoistAuth)
			}
			if !r.Auth {
				if len(sec) != 0 {
					t.Errorf("public route: got security %v, want []", sec)
				}
				return
			}
			if len(sec) == 0 {
				t.Fatal("authenticated route: got security [], want a bearerAuth requirement")
			}
			for _, req := range sec {
				if len(req) == 0 {
					t.Errorf("authenticated route: got an empty requirement {} (anonymous allowed), want bearerAuth")
				}
				for name := range req {
					if _, ok := doc.Components.SecuritySchemes[name]; !ok {
						t.Errorf("security names %q: no such security scheme", name)
					}
				}
			}
		})
	}
}

// oaCollectRefs returns every $ref in v with where it is.
func oaCollectRefs(v any, at string, out map[string][]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				out[s] = append(out[s], at)
				continue
			}
			oaCollectRefs(e, at+"/"+k, out)
		}
	case []any:
		for i, e := range v {
			oaCollectRefs(e, at+"/"+strconv.Itoa(i), out)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := fetchOpenAPI(t)
	refs := map[string][]string{}
	oaCollectRefs(doc.raw, "#", refs)
	if len(refs) == 0 {
		t.Fatal("the document has no $ref at all")
	}
	var names []string
	for ref := range refs {
		names = append(names, ref)
	}
	sort.Strings(names)
	for _, ref := range names {
		t.Run(ref, func(t *testing.T) {
			name, ok := strings.CutPrefix(ref, oaSchemaPrefix)
			if !ok {
				t.Fatalf("got $ref %q at %v, want one under %s", ref, refs[ref], oaSchemaPrefix)
			}
			if _, ok := doc.Components.Schemas[name]; !ok {
				t.Errorf("$ref %q at %v: got no such schema, want components.schemas.%s", ref, refs[ref], name)
			}
		})
	}

	t.Run("every schema is used", func(t *testing.T) {
		pathRefs := map[string][]string{}
		oaCollectRefs(doc.raw.(map[string]any)["paths"], "#/paths", pathRefs)
		used := map[string]bool{}
		var queue []string
		for ref := range pathRefs {
			queue = append(queue, strings.TrimPrefix(ref, oaSchemaPrefix))
		}
		schemas := doc.raw.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
		for len(queue) > 0 {
			name := queue[0]
			queue = queue[1:]
			if used[name] {
				continue
			}
			used[name] = true
			inner := map[string][]string{}
			oaCollectRefs(schemas[name], "", inner)
			for ref := range inner {
				queue = append(queue, strings.TrimPrefix(ref, oaSchemaPrefix))
			}
		}
		for name := range doc.Components.Schemas {
			if !used[name] {
				t.Errorf("components.schemas.%s: got unused, want referenced from some operation", name)
			}
		}
	})
}

func TestOpenAPIOperations(t *testing.T) {
	doc := fetchOpenAPI(t)
	auth := map[oaKey]bool{}
	for _, r := range api.New(api.Config{}).Routes() {
		auth[oaKey{r.Method, r.Path}] = r.Auth || r.Agent
	}
	seen := map[string]oaKey{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for _, k := range doc.sortedKeys() {
		op := doc.ops[k]
		t.Run(k.String(), func(t *testing.T) {
			if op.OperationID == "" {
				t.Error("got no operationId, want one")
			} else if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("operationId %q: got it also on %s, want unique", op.OperationID, prev)
			} else {
				seen[op.OperationID] = k
			}
			if op.Summary == "" {
				t.Error("got no summary, want one")
			}

			has2xx := false
			for code, resp := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil || n < 100 || n > 599 {
					t.Errorf("response %q: want a status code", code)
					continue
				}
				if resp.Description == "" {
					t.Errorf("response %s: got no description, want one (OpenAPI requires it)", code)
				}
				switch {
				case n >= 200 && n < 300:
					has2xx = true
					if n == http.StatusNoContent && len(resp.Content) > 0 {
						t.Errorf("response 204: got content %v, want none", slices.Collect(maps.Keys(resp.Content)))
					}
					if n != http.StatusNoContent && len(resp.Content) == 0 {
						t.Errorf("response %s: got no content, want a media type", code)
					}
				case n >= 400:
					mt, ok := resp.Content["application/json"]
					if !ok || mt.Schema == nil || mt.Schema.Ref != oaSchemaPrefix+"Error" {
						t.Errorf("response %s: got %+v, want application/json with $ref %sError", code, resp.Content, oaSchemaPrefix)
					}
				}
			}
			if !has2xx {
				t.Errorf("got responses %v, want a 2xx", slices.Sorted(maps.Keys(op.Responses)))
			}
			if auth[k] {
				if _, ok := op.Responses["401"]; !ok {
					t.Error("authenticated route: got no 401 response, want one")
				}
			}
			if op.RequestBody != nil {
				mt, ok := op.RequestBody.Content["application/json"]
				if !ok { // Slack's callbacks come as a form
					mt, ok = op.RequestBody.Content["application/x-www-form-urlencoded"]
				}
				if !ok || mt.Schema == nil || mt.Schema.Ref == "" {
					t.Errorf("requestBody: got %+v, want application/json with a $ref schema", op.RequestBody.Content)
				}
				for _, code := range []string{"400", "413"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("takes a body: got no %s response, want one", code)
					}
				}
			}

			// Path parameters: exactly the wildcards of the path.
			want := map[string]bool{}
			for _, m := range pathParam.FindAllStringSubmatch(k.Path, -1) {
				want[m[1]] = true
			}
			got := map[string]bool{}
			for _, p := range op.Parameters {
				if p.Schema == nil {
					t.Errorf("parameter %s: got no schema, want one", p.Name)
				}
				switch p.In {
				case "path":
					got[p.Name] = true
					if !p.Required {
						t.Errorf("path parameter %s: got required false, want true", p.Name)
					}
				case "query":
				default:
					t.Errorf("parameter %s: got in %q, want path or query", p.Name, p.In)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("path parameters: got %v, want %v", got, want)
			}
		})
	}
}

// oaJSONFields returns the JSON names of t's fields and which of them are
// always present (no omitempty or omitzero). The fields of an embedded
// struct without a JSON name are t's own, as encoding/json writes them.
func oaJSONFields(t reflect.Type) (names []string, always []string) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			n, a := oaJSONFields(f.Type)
			names, always = append(names, n...), append(always, a...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always
}

// TestOpenAPISchemasMatchGoTypes holds each component schema to the Go type
// the server encodes or decodes: the same properties, and for answers the
// same required ones.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := fetchOpenAPI(t)
	tests := []struct {
		name   string
		goType any
		answer bool // required must be the fields always encoded
	}{
		{"LoginBody", api.LoginBody{}, false},
		{"ApproveBody", api.ApproveBody{}, false},
		{"BatchBody", api.BatchBody{}, false},
		{"UserBody", api.UserBody{}, false},
		{"LoginAnswer", api.LoginAnswer{}, true},
		{"RequestView", api.RequestView{}, true},
		{"SessionView", api.SessionView{}, true},
		{"UserView", api.UserView{}, true},
		{"ResultView", api.ResultView{}, true},
		{"SettingsView", api.SettingsView{}, true},
		{"ChainReport", control.ChainReport{}, true},
		{"AuditRecord", hoist.AuditRecord{}, true},
		{"Transition", hoist.Transition{}, true},
		{"Error", api.ErrorBody{}, true},
		{"ErrorDetail", api.ErrorDetail{}, true},
		{"EnrollTokenBody", api.EnrollTokenBody{}, false},
		{"EnrollTokenAnswer", api.EnrollTokenAnswer{}, true},
		{"AgentView", wire.AgentView{}, true}, // hoist.AgentRecord and more
		{"EnrollBody", wire.EnrollBody{}, false},
		{"AgentFacts", wire.AgentFacts{}, false},
		{"AgentSession", wire.AgentSession{}, false},
		{"Enrolment", wire.Enrolment{}, true},
		{"AgentRequestBody", wire.AgentRequestBody{}, false},
		{"AgentRequestAnswer", wire.AgentRequestAnswer{}, true},
		{"EventsAnswer", wire.EventsAnswer{}, true},
		{"AgentEvent", hoist.AgentEvent{}, true},
		{"AuditBody", wire.AuditBody{}, false},
		{"Recording", hoist.Recording{}, true},
		{"RecordingChunk", wire.RecordingChunk{}, false},
		{"RecordingAnswer", wire.RecordingAnswer{}, true},
		{"AgentAuditEvent", wire.AgentAuditEvent{}, false},
		{"CheckinAnswer", wire.CheckinAnswer{}, true},
		{"Bundle", hoist.Bundle{}, true},
		{"HeldBack", hoist.HeldBack{}, true},
		{"SkippedPolicy", hoist.SkippedPolicy{}, true},
		{"Policy", hoist.Policy{}, true},
		{"PolicyBody", hoist.Policy{}, false},
		{"PolicySaved", wire.PolicySaved{}, true},
		{"LintFinding", hoist.LintFinding{}, true},
		{"ApplicationRule", hoist.ApplicationRule{}, true},
		{"ArgvRule", hoist.ArgvRule{}, true},
		{"JITStartup", hoist.JITStartup{}, true},
		{"JITMode", hoist.JITMode{}, true},
		{"JITChildren", hoist.JITChildren{}, true},
		{"DuplicateBody", wire.DuplicateBody{}, false},
		{"ComputerGroup", hoist.ComputerGroup{}, true},
		{"NewGroupBody", hoist.ComputerGroup{}, false},
		{"GroupBody", hoist.ComputerGroup{}, false},
		{"GroupRules", hoist.GroupRules{}, true},
		{"AgentConfig", hoist.AgentConfig{}, true},
		{"PinBody", api.PinBody{}, false},
		{"PreviousHostname", hoist.PreviousHostname{}, true},
		{"IntegrationBody", control.IntegrationInput{}, false},
		{"SinkConfig", hoist.SinkConfig{}, false},
		{"IntegrationView", control.IntegrationView{}, true},
		{"IntegrationEvent", hoist.IntegrationEvent{}, true},
		{"Delivery", hoist.Delivery{}, true},
		{"RetryBody", api.RetryBody{}, false},
		{"RetryAnswer", api.RetryAnswer{}, true},
		{"TestAnswer", api.TestAnswer{}, true},
		{"SlackAnswer", api.SlackAnswer{}, true},
		{"OfflineBody", wire.OfflineBody{}, false},
		{"OfflineChallengeView", wire.OfflineChallengeView{}, true},
		{"OfflineResponseView", wire.OfflineResponseView{}, true},
		{"OfflineKeyAnswer", wire.OfflineKeyAnswer{}, true},
		{"OfflineKeyAck", wire.OfflineKeyAck{}, false},
		{"EmergencyIssueBody", wire.EmergencyIssueBody{}, false},
		{"EmergencyCodeView", wire.EmergencyCodeView{}, true},
		{"EmergencyCodesAnswer", wire.EmergencyCodesAnswer{}, true},
		{"SSOStartBody", wire.SSOStartBody{}, false},
		{"SSOStartAnswer", wire.SSOStartAnswer{}, true},
		{"SSOTokenBody", wire.SSOTokenBody{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := doc.Components.Schemas[tt.name]
			if !ok {
				t.Fatalf("components.schemas.%s: missing", tt.name)
			}
			if s.Type != "object" {
				t.Errorf("type: got %q, want object", s.Type)
			}
			if s.AdditionalProperties != false {
				t.Errorf("additionalProperties: got %v, want false", s.AdditionalProperties)
			}
			names, always := oaJSONFields(reflect.TypeOf(tt.goType))
			got := slices.Sorted(maps.Keys(s.Properties))
			if !slices.Equal(got, names) {
				t.Errorf("properties: got %v, want %v (the JSON fields of %T)", got, names, tt.goType)
			}
			for _, r := range s.Required {
				if !slices.Contains(names, r) {
					t.Errorf("required %q: not a JSON field of %T %v", r, tt.goType, names)
				}
			}
			if tt.answer {
				req := slices.Sorted(slices.Values(s.Required))
				if !slices.Equal(req, always) {
					t.Errorf("required: got %v, want %v (the fields %T always encodes)", req, always, tt.goType)
				}
			}
		})
	}

	t.Run("NewUserBody", func(t *testing.T) {
		s := doc.Components.Schemas["NewUserBody"]
		if s == nil {
			t.Fatal("components.schemas.NewUserBody: missing")
		}
		names, _ := oaJSONFields(reflect.TypeOf(api.UserBody{}))
		for p := range s.Properties {
			if !slices.Contains(names, p) {
				t.Errorf("property %q: not a field of api.UserBody %v", p, names)
			}
		}
		if _, ok := s.Properties["disabled"]; ok {
			t.Error("property disabled: got declared, want absent (a new user cannot be disabled)")
		}
	})

	// Bodies require what the server cannot do without, and nothing a
	// client may leave out.
	for _, tt := range []struct {
		name string
		want []string
	}{
		{"PolicyBody", []string{"groups", "kind", "name"}},
		{"NewGroupBody", []string{"name"}},
		{"GroupBody", nil}, // PUT keeps the name: a client may leave it out
		{"DuplicateBody", nil},
	} {
		t.Run(tt.name+" required", func(t *testing.T) {
			s := doc.Components.Schemas[tt.name]
			if s == nil {
				t.Fatalf("components.schemas.%s: missing", tt.name)
			}
			if got := slices.Sorted(slices.Values(s.Required)); !slices.Equal(got, tt.want) {
				t.Errorf("required: got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("PolicyKind", func(t *testing.T) {
		s := doc.Components.Schemas["PolicyKind"]
		if s == nil {
			t.Fatal("components.schemas.PolicyKind: missing")
		}
		want := slices.Sorted(maps.Keys(hoist.PolicyKinds))
		if got := slices.Sorted(slices.Values(s.Enum)); !slices.Equal(got, want) {
			t.Errorf("enum: got %v, want %v (hoist.PolicyKinds)", got, want)
		}
	})
}

// validate reports where v does not conform to s.
func (d *openAPIDoc) validate(s *oaSchema, v any, at string) []string {
	s, err := d.resolve(s)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	if s == nil {
		return nil
	}
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, at+": "+fmt.Sprintf(format, args...))
	}
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("got %T, want an object", v)
			return errs
		}
		for _, k := range s.Required {
			if _, ok := m[k]; !ok {
				bad("got no %q, want it (required)", k)
			}
		}
		strict := s.AdditionalProperties == false || (s.AdditionalProperties == nil && len(s.Properties) > 0)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ps, ok := s.Properties[k]
			if !ok {
				if strict {
					bad("got property %q, want only the declared %v", k, slices.Sorted(maps.Keys(s.Properties)))
				}
				continue
			}
			errs = append(errs, d.validate(ps, m[k], at+"."+k)...)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("got %T, want an array", v)
			return errs
		}
		if (s.MinItems != nil && len(a) < *s.MinItems) || (s.MaxItems != nil && len(a) > *s.MaxItems) {
			bad("got %d items, want it within the schema's bounds", len(a))
		}
		for i, e := range a {
			errs = append(errs, d.validate(s.Items, e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("got %T, want a string", v)
			return errs
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			bad("got %q, want one of %v", str, s.Enum)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			bad("got %q, want a match of %s", str, s.Pattern)
		}
		if s.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("got %q, want an RFC 3339 date-time", str)
			}
		}
		if n := utf8.RuneCountInString(str); (s.MinLength != nil && n < *s.MinLength) || (s.MaxLength != nil && n > *s.MaxLength) {
			bad("got a string of length %d, want it within the schema's bounds", n)
		}
	case "integer":
		num, ok := v.(json.Number)
		if !ok {
			bad("got %T, want an integer", v)
			return errs
		}
		n, err := num.Int64()
		if err != nil {
			bad("got %s, want an integer", num)
			return errs
		}
		if (s.Minimum != nil && n < *s.Minimum) || (s.Maximum != nil && n > *s.Maximum) {
			bad("got %d, want it within the schema's bounds", n)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("got %T, want a boolean", v)
		}
	case "":
	default:
		bad("schema type %q is not handled by this test", s.Type)
	}
	return errs
}

// oaLiveServer is an API on a real control.Service on SQLite.
type oaLiveServer struct {
	url    string
	svc    *control.Service
	client *http.Client            // for admins and anonymous calls
	tokens map[string]string       // by account name
	agents map[string]*http.Client // by agent name: clients with its certificate
	caPool *x509.CertPool          // the server's CA, with TLS
}

const oaAdminPassword = "correct horse battery staple"

// oaSigner is control.Signer on a CA made for the test.
type oaSigner struct {
	ca       *pki.CA
	grantKey ed25519.PrivateKey
}

func (s *oaSigner) IssueAgentCertificate(pub crypto.PublicKey, agentID string, now time.Time) ([]byte, error) {
	der, err := s.ca.IssueClientCertificate(pub, agentID, now.Add(time.Hour), now)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
func (s *oaSigner) GrantKey() ed25519.PrivateKey { return s.grantKey }
func (s *oaSigner) CAPEM() []byte                { return s.ca.CertPEM }
func (s *oaSigner) CAFingerprint() string        { return pki.Fingerprint(s.ca.Cert) }

// newOALiveServer starts the API over plain HTTP on a service that has no
// Signer: agents cannot enrol and no call carries a client certificate.
func newOALiveServer(t *testing.T) *oaLiveServer {
	return startOALiveServer(t, false)
}

// newOATLSServer starts the API the way hoist-server serves it: over TLS
// that asks agents for their certificate, on a service that can enrol them.
func newOATLSServer(t *testing.T) *oaLiveServer {
	return startOALiveServer(t, true)
}

func startOALiveServer(t *testing.T, withTLS bool) *oaLiveServer {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := control.Config{Store: st, Settings: hoist.DefaultApprovalSettings(), SecretKey: []byte("integrations-key-of-the-oa-tests")}
	var ca *pki.CA
	dir := t.TempDir()
	if withTLS {
		if ca, err = pki.LoadOrCreateCA(dir, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, grantKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Signer, cfg.URL = &oaSigner{ca: ca, grantKey: grantKey}, "https://hoist.test"
	}
	svc, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, oaAdminPassword); err != nil {
		t.Fatal(err)
	}
	// As hoist-server starts: the default group and the three JIT
	// policies, inactive.
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	handler := api.New(api.Config{Service: svc, Store: st, MetricsToken: oaMetricsToken})
	ls := &oaLiveServer{svc: svc, client: http.DefaultClient, tokens: map[string]string{}, agents: map[string]*http.Client{}}
	if withTLS {
		cert, err := ca.ServerCertificate(dir, []string{"127.0.0.1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ls.caPool = x509.NewCertPool()
		ls.caPool.AddCert(ca.Cert)
		srv := httptest.NewUnstartedServer(handler)
		srv.TLS = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.VerifyClientCertIfGiven, // as hoist-server asks
			ClientCAs:    ls.caPool,
		}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		ls.url = srv.URL
		ls.client = ls.tlsClient(nil)
	} else {
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		ls.url = srv.URL
	}

	ls.tokens["admin"] = ls.login(t, "admin", oaAdminPassword)
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if _, err := svc.CreateAdmin(ctx, admin, control.AdminInput{Name: "carol", Role: hoist.RoleApprover, Password: "carol's long password"}); err != nil {
		t.Fatal(err)
	}
	ls.tokens["carol"] = ls.login(t, "carol", "carol's long password")
	return ls
}

// tlsClient trusts the server's CA and presents cert, when given.
func (ls *oaLiveServer) tlsClient(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ls.caPool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// oaCSR returns a new key and a certificate request for it, base64 DER.
func oaCSR(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, base64.StdEncoding.EncodeToString(der)
}

// enrollToken makes an enrolment token through the API and returns its
// secret.
func (ls *oaLiveServer) enrollToken(t *testing.T, uses int) string {
	t.Helper()
	status, _, data := ls.do(t, "POST", "/api/v1/enroll-tokens", "admin", "application/json", fmt.Sprintf(`{"uses":%d}`, uses))
	var ans api.EnrollTokenAnswer
	if err := json.Unmarshal(data, &ans); status != http.StatusCreated || err != nil {
		t.Fatalf("POST /api/v1/enroll-tokens: got status %d (%s), want 201 and a token", status, data)
	}
	tok, err := wire.ParseEnrollToken(ans.Token)
	if err != nil {
		t.Fatalf("the token %q does not parse: %v", ans.Token, err)
	}
	return tok.Secret
}

// oaSignedBundle returns the bundle of a check-in answer after checking its
// signature as an agent does: over the bytes as sent, with the grant key
// the agent got at enrolment.
func oaSignedBundle(t *testing.T, enr wire.Enrolment, ans wire.CheckinAnswer) hoist.Bundle {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(enr.GrantKey)
	if err != nil {
		t.Fatalf("enrolment grant key %q: %v", enr.GrantKey, err)
	}
	if err := hoist.VerifyBundle(ed25519.PublicKey(key), ans.Bundle, ans.Signature); err != nil {
		t.Fatalf("checkin: the bundle's signature: %v; want it to verify with the grant key", err)
	}
	var b hoist.Bundle
	if err := json.Unmarshal(ans.Bundle, &b); err != nil {
		t.Fatalf("checkin: the bundle %s: %v", ans.Bundle, err)
	}
	return b
}

// enroll enrols a machine with secret through the API and keeps a client
// with its certificate as ls.agents[name]. It returns the enrolment.
func (ls *oaLiveServer) enroll(t *testing.T, name, secret string) wire.Enrolment {
	t.Helper()
	key, csr := oaCSR(t)
	body, _ := json.Marshal(wire.EnrollBody{Secret: secret, CSR: csr, Facts: wire.AgentFacts{Hostname: strings.TrimPrefix(name, "@"), Version: "1.0.0", OS: "linux", Kernel: "6.8.0"}})
	status, _, data := ls.do(t, "POST", "/agent/v1/enroll", "", "application/json", string(body))
	var enr wire.Enrolment
	if err := json.Unmarshal(data, &enr); status != http.StatusOK || err != nil {
		t.Fatalf("POST /agent/v1/enroll: got status %d (%s), want 200 and an enrolment", status, data)
	}
	block, _ := pem.Decode([]byte(enr.Certificate))
	if block == nil {
		t.Fatalf("enrolment: got certificate %q, want PEM", enr.Certificate)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != enr.AgentID {
		t.Errorf("enrolment: got a certificate for %q, want one for the agent id %q", leaf.Subject.CommonName, enr.AgentID)
	}
	ls.agents[name] = ls.tlsClient(&tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key, Leaf: leaf})
	return enr
}

func (ls *oaLiveServer) login(t *testing.T, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(api.LoginBody{User: user, Password: password})
	status, _, data := ls.do(t, "POST", "/api/v1/login", "", "application/json", string(body))
	if status != http.StatusOK {
		t.Fatalf("POST /api/v1/login as %s: got status %d (%s), want 200", user, status, data)
	}
	var ans api.LoginAnswer
	if err := json.Unmarshal(data, &ans); err != nil || ans.Token == "" {
		t.Fatalf("POST /api/v1/login as %s: got %s, want a token", user, data)
	}
	return ans.Token
}

func (ls *oaLiveServer) do(t *testing.T, method, target, as, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, ls.url+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := ls.client
	if c, ok := ls.agents[as]; ok {
		client = c // an agent: its certificate, no token
	} else if as != "" {
		tok, ok := ls.tokens[as]
		if !ok {
			tok = as // a literal token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

func oaDecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// checkAnswer holds one real answer to what the document declares for it.
func (d *openAPIDoc) checkAnswer(t *testing.T, k oaKey, status int, header http.Header, data []byte) {
	t.Helper()
	op := d.ops[k]
	if op == nil {
		t.Fatalf("%s is not in the document", k)
	}
	resp, ok := op.Responses[strconv.Itoa(status)]
	if !ok {
		t.Fatalf("status %d (%s): got an undeclared status, want one of %v", status, bytes.TrimSpace(data), slices.Sorted(maps.Keys(op.Responses)))
	}
	if len(resp.Content) == 0 {
		if len(data) != 0 {
			t.Errorf("body: got %q, want none (the document declares no content)", data)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", header.Get("Content-Type"), err)
	}
	declared, ok := resp.Content[mt]
	if !ok {
		t.Fatalf("Content-Type: got %q, want one of %v", mt, slices.Sorted(maps.Keys(resp.Content)))
	}
	switch mt {
	case "application/json":
		v, err := oaDecodeJSON(data)
		if err != nil {
			t.Fatalf("body %q: %v", data, err)
		}
		for _, e := range d.validate(declared.Schema, v, "body") {
			t.Error(e)
		}
	case "application/x-ndjson":
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		for i, line := range lines {
			if len(line) == 0 && len(data) == 0 {
				break
			}
			v, err := oaDecodeJSON(line)
			if err != nil {
				t.Fatalf("line %d %q: %v", i+1, line, err)
			}
			for _, e := range d.validate(&oaSchema{Ref: oaSchemaPrefix + "AuditRecord"}, v, fmt.Sprintf("line %d", i+1)) {
				t.Error(e)
			}
		}
	case "text/plain":
		if !bytes.Contains(data, []byte("hoist_http_requests_total")) {
			t.Errorf("metrics: got %.200q, want hoist_http_requests_total among them", data)
		}
	default:
		t.Fatalf("media type %s is not handled by this test", mt)
	}
}

// TestOpenAPILiveAnswers calls the real server and holds each answer — its
// status, media type and JSON — to the document.
func TestOpenAPILiveAnswers(t *testing.T) {
	doc := fetchOpenAPI(t)
	ls := newOALiveServer(t)
	ctx := t.Context()

	var ids []string
	for _, in := range []control.RequestInput{
		{User: "bob", Host: "web1", Reason: "deploy"},
		{User: "bob", Host: "web2", Reason: "debug"},
		{User: "dave", Host: "db1", Reason: "INC42"},
	} {
		r, _, err := ls.svc.CreateRequest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	approved, denied, pending := ids[0], ids[1], ids[2]

	const js = "application/json"
	tests := []struct {
		name         string
		method, path string // path as the document writes it
		target       string // the URL path and query; path when empty
		as           string // account whose token to send, or a literal token
		contentType  string
		body         string
		wantStatus   int
	}{
		{"health", "GET", "/healthz", "", "", "", "", 200},
		{"ready", "GET", "/readyz", "", "", "", "", 200},
		{"openapi", "GET", "/api/v1/openapi.json", "", "", "", "", 200},
		{"metrics", "GET", "/metrics", "", oaMetricsToken, "", "", 200},
		{"metrics without token", "GET", "/metrics", "", "", "", "", 401},
		{"metrics with an admin's token", "GET", "/metrics", "", "admin", "", "", 401},
		{"login", "POST", "/api/v1/login", "", "", js, `{"user":"admin","password":"` + oaAdminPassword + `"}`, 200},
		{"login unknown user", "POST", "/api/v1/login", "", "", js, `{"user":"nobody","password":"whatever it is"}`, 401},
		{"login no password", "POST", "/api/v1/login", "", "", js, `{"user":"admin"}`, 400},
		{"login unknown field", "POST", "/api/v1/login", "", "", js, `{"user":"admin","password":"x","otp":"1"}`, 400},
		{"login not JSON", "POST", "/api/v1/login", "", "", "text/plain", `user=admin`, 400},
		{"login too large", "POST", "/api/v1/login", "", "", js, `{"user":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413},
		{"me", "GET", "/api/v1/me", "", "admin", "", "", 200},
		{"me without token", "GET", "/api/v1/me", "", "", "", "", 401},
		{"me with a bad token", "GET", "/api/v1/me", "", "hst_nope", "", "", 401},
		{"settings", "GET", "/api/v1/settings", "", "carol", "", "", 200},
		{"requests", "GET", "/api/v1/requests", "", "admin", "", "", 200},
		{"requests pending", "GET", "/api/v1/requests", "/api/v1/requests?state=pending&limit=10&user=bob", "carol", "", "", 200},
		{"requests bad state", "GET", "/api/v1/requests", "/api/v1/requests?state=bogus", "admin", "", "", 400},
		{"requests unknown query", "GET", "/api/v1/requests", "/api/v1/requests?colour=red", "admin", "", "", 400},
		{"request", "GET", "/api/v1/requests/{id}", "/api/v1/requests/" + pending, "admin", "", "", 200},
		{"request not found", "GET", "/api/v1/requests/{id}", "/api/v1/requests/req_nope", "admin", "", "", 404},
		{"approve", "POST", "/api/v1/requests/approve", "", "carol", js, `{"ids":["` + approved + `","req_nope"],"duration":"1h","reason":"ok"}`, 200},
		{"approve once and duration", "POST", "/api/v1/requests/approve", "", "carol", js, `{"ids":["` + pending + `"],"duration":"1h","once":true}`, 400},
		{"approve too long", "POST", "/api/v1/requests/approve", "", "carol", js, `{"ids":["` + pending + `"],"duration":"100h"}`, 400},
		{"deny", "POST", "/api/v1/requests/deny", "", "admin", js, `{"ids":["` + denied + `"],"reason":"not now"}`, 200},
		{"deny no ids", "POST", "/api/v1/requests/deny", "", "admin", js, `{"ids":[]}`, 400},
		{"sessions", "GET", "/api/v1/sessions", "", "admin", "", "", 200},
		{"sessions active", "GET", "/api/v1/sessions", "/api/v1/sessions?state=active", "admin", "", "", 200},
		{"session by request id", "GET", "/api/v1/sessions/{id}", "/api/v1/sessions/" + approved, "admin", "", "", 200},
		{"session not found", "GET", "/api/v1/sessions/{id}", "/api/v1/sessions/ses_nope", "admin", "", "", 404},
		{"revoke", "POST", "/api/v1/sessions/revoke", "", "carol", js, `{"ids":["` + approved + `"],"reason":"done"}`, 200},
		{"revoke again", "POST", "/api/v1/sessions/revoke", "", "carol", js, `{"ids":["` + approved + `"]}`, 200},
		{"ended session", "GET", "/api/v1/sessions/{id}", "/api/v1/sessions/" + approved, "admin", "", "", 200},
		{"users", "GET", "/api/v1/users", "", "admin", "", "", 200},
		{"users as approver", "GET", "/api/v1/users", "", "carol", "", "", 403},
		{"create user", "POST", "/api/v1/users", "", "admin", js, `{"name":"erin","role":"auditor","password":"erin's long password"}`, 201},
		{"create user taken", "POST", "/api/v1/users", "", "admin", js, `{"name":"erin","role":"auditor","password":"erin's long password"}`, 409},
		{"create user disabled", "POST", "/api/v1/users", "", "admin", js, `{"name":"frank","role":"auditor","password":"frank's long password","disabled":true}`, 400},
		{"update user", "PATCH", "/api/v1/users/{name}", "/api/v1/users/erin", "admin", js, `{"disabled":true}`, 200},
		{"update unknown user", "PATCH", "/api/v1/users/{name}", "/api/v1/users/nobody", "admin", js, `{"role":"approver"}`, 404},
		{"demote oneself", "PATCH", "/api/v1/users/{name}", "/api/v1/users/admin", "admin", js, `{"role":"auditor"}`, 409},
		{"rename", "PATCH", "/api/v1/users/{name}", "/api/v1/users/erin", "admin", js, `{"name":"erin2"}`, 400},
		{"audit", "GET", "/api/v1/audit", "", "admin", "", "", 200},
		{"audit page", "GET", "/api/v1/audit", "/api/v1/audit?after=2&limit=3", "admin", "", "", 200},
		{"audit beyond the end", "GET", "/api/v1/audit", "/api/v1/audit?after=100000", "admin", "", "", 200},
		{"audit bad after", "GET", "/api/v1/audit", "/api/v1/audit?after=-1", "admin", "", "", 400},
		{"audit as approver", "GET", "/api/v1/audit", "", "carol", "", "", 403},
		{"verify", "GET", "/api/v1/audit/verify", "", "admin", "", "", 200},
		{"export", "GET", "/api/v1/audit/export", "", "admin", "", "", 200},
		{"export empty", "GET", "/api/v1/audit/export", "/api/v1/audit/export?after=100000", "admin", "", "", 200},
		{"export as approver", "GET", "/api/v1/audit/export", "", "carol", "", "", 403},
		{"delete user", "DELETE", "/api/v1/users/{name}", "/api/v1/users/erin", "admin", "", "", 204},
		{"delete user again", "DELETE", "/api/v1/users/{name}", "/api/v1/users/erin", "admin", "", "", 404},
		{"delete oneself", "DELETE", "/api/v1/users/{name}", "/api/v1/users/admin", "admin", "", "", 409},
		// Agents, on a server that has no CA to enrol them with.
		{"enroll token without a CA", "POST", "/api/v1/enroll-tokens", "", "admin", js, `{"group":"web","ttl":"1h","uses":2}`, 503},
		{"enroll token as approver", "POST", "/api/v1/enroll-tokens", "", "carol", js, `{}`, 403},
		{"enroll token without token", "POST", "/api/v1/enroll-tokens", "", "", js, `{}`, 401},
		{"enroll token bad ttl", "POST", "/api/v1/enroll-tokens", "", "admin", js, `{"ttl":"soon"}`, 400},
		{"enroll token unknown field", "POST", "/api/v1/enroll-tokens", "", "admin", js, `{"ttl":"1h","expires":"never"}`, 400},
		{"agents", "GET", "/api/v1/agents", "", "admin", "", "", 200},
		{"agents as approver", "GET", "/api/v1/agents", "", "carol", "", "", 200},
		{"agents without token", "GET", "/api/v1/agents", "", "", "", "", 401},
		{"revoke unknown agent", "POST", "/api/v1/agents/{id}/revoke", "/api/v1/agents/agt_nope/revoke", "admin", "", "", 404},
		{"revoke agent as approver", "POST", "/api/v1/agents/{id}/revoke", "/api/v1/agents/agt_nope/revoke", "carol", "", "", 403},
		{"enroll without a CA", "POST", "/agent/v1/enroll", "", "", js, `{"secret":"s3cret","csr":"AAAA","facts":{"hostname":"web1"}}`, 503},
		{"enroll no secret", "POST", "/agent/v1/enroll", "", "", js, `{"csr":"AAAA","facts":{"hostname":"web1"}}`, 400},
		{"enroll unknown field", "POST", "/agent/v1/enroll", "", "", js, `{"secret":"s","csr":"AAAA","facts":{"hostname":"web1","arch":"arm64"}}`, 400},
		// Agent routes without a client certificate, with or without a token.
		{"checkin without certificate", "POST", "/agent/v1/checkin", "", "", js, `{"hostname":"web1"}`, 401},
		{"checkin with a bearer token", "POST", "/agent/v1/checkin", "", "admin", js, `{"hostname":"web1"}`, 401},
		{"agent request without certificate", "POST", "/agent/v1/requests", "", "", js, `{"user":"bob"}`, 401},
		{"events without certificate", "GET", "/agent/v1/events", "/agent/v1/events?after=0&wait=0", "", "", "", 401},
		{"events with a bearer token", "GET", "/agent/v1/events", "", "admin", "", "", 401},
		{"agent audit without certificate", "POST", "/agent/v1/audit", "", "", js, `{"events":[]}`, 401},
		{"session ended without certificate", "POST", "/agent/v1/sessions/{id}/ended", "/agent/v1/sessions/ses_nope/ended", "", "", "", 401},
		{"offline key without certificate", "POST", "/agent/v1/offline-key", "", "", js, `{}`, 401},
		{"offline key ack without certificate", "POST", "/agent/v1/offline-key/ack", "", "", js, `{"key_id":"0011223344556677"}`, 401},
		// Offline approval: the challenge is checked before any lookup.
		{"offline decode without challenge", "POST", "/api/v1/offline/decode", "", "admin", js, `{}`, 400},
		{"offline decode mistyped", "POST", "/api/v1/offline/decode", "", "admin", js, `{"challenge":"AAAA-AAAA-AAAB"}`, 400},
		{"offline decode of no machine", "POST", "/api/v1/offline/decode", "", "carol", js, `{"challenge":"` + hoist.NewChallenge("agt_x", "bob", 8, 1).String() + `"}`, 404},
		{"offline decode with a window", "POST", "/api/v1/offline/decode", "", "admin", js, `{"challenge":"x","once":true}`, 400},
		{"offline approve without window", "POST", "/api/v1/offline/approve", "", "admin", js, `{"challenge":"` + hoist.NewChallenge("agt_x", "bob", 8, 1).String() + `"}`, 400},
		{"offline approve both windows", "POST", "/api/v1/offline/approve", "", "admin", js, `{"challenge":"x","once":true,"duration":"1h"}`, 400},
		{"offline approve longer than asked", "POST", "/api/v1/offline/approve", "", "admin", js, `{"challenge":"` + hoist.NewChallenge("agt_x", "bob", 8, 1).String() + `","duration":"2h"}`, 400},
		{"offline approve of no machine", "POST", "/api/v1/offline/approve", "", "admin", js, `{"challenge":"` + hoist.NewChallenge("agt_x", "bob", 8, 1).String() + `","once":true}`, 404},
		{"offline approve without token", "POST", "/api/v1/offline/approve", "", "", js, `{}`, 401},
		{"emergency codes", "GET", "/api/v1/emergency-codes", "", "carol", "", "", 200},
		{"emergency codes for nothing", "POST", "/api/v1/emergency-codes", "", "admin", js, `{}`, 400},
		{"emergency codes for both", "POST", "/api/v1/emergency-codes", "", "admin", js, `{"agent":"a","group":"g"}`, 400},
		{"emergency codes too many", "POST", "/api/v1/emergency-codes", "", "admin", js, `{"agent":"a","count":21}`, 400},
		{"emergency codes window too long", "POST", "/api/v1/emergency-codes", "", "admin", js, `{"agent":"a","window":"5h"}`, 400},
		{"emergency codes for no agent", "POST", "/api/v1/emergency-codes", "", "admin", js, `{"agent":"nope"}`, 404},
		{"emergency codes as approver", "POST", "/api/v1/emergency-codes", "", "carol", js, `{"agent":"nope"}`, 403},
		{"revoke no emergency code", "POST", "/api/v1/emergency-codes/{id}/revoke", "/api/v1/emergency-codes/emc_nope/revoke", "admin", "", "", 404},
		// Policies and computer groups: read by every role, changed by admins.
		{"policies", "GET", "/api/v1/policies", "", "admin", "", "", 200},
		{"policies as approver", "GET", "/api/v1/policies", "", "carol", "", "", 200},
		{"policies unknown query", "GET", "/api/v1/policies", "/api/v1/policies?kind=application", "admin", "", "", 400},
		{"policies without token", "GET", "/api/v1/policies", "", "", "", "", 401},
		{"policy by name", "GET", "/api/v1/policies/{key}", "/api/v1/policies/JIT%20Mode", "carol", "", "", 200},
		{"policy not found", "GET", "/api/v1/policies/{key}", "/api/v1/policies/pol_nope", "admin", "", "", 404},
		{"policy key too long", "GET", "/api/v1/policies/{key}", "/api/v1/policies/" + strings.Repeat("a", 101), "admin", "", "", 400},
		{"create policy as approver", "POST", "/api/v1/policies", "", "carol", js, `{"name":"x","kind":"jit-mode","groups":["Linux Computers"]}`, 403},
		{"create policy not JSON", "POST", "/api/v1/policies", "", "admin", "text/plain", `name=x`, 400},
		{"create policy too large", "POST", "/api/v1/policies", "", "admin", js, `{"name":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413},
		{"activate as approver", "POST", "/api/v1/policies/{key}/activate", "/api/v1/policies/JIT%20Mode/activate", "carol", "", "", 403},
		{"deactivate unknown policy", "POST", "/api/v1/policies/{key}/deactivate", "/api/v1/policies/nope/deactivate", "admin", "", "", 404},
		{"duplicate no body", "POST", "/api/v1/policies/{key}/duplicate", "/api/v1/policies/JIT%20Mode/duplicate", "admin", "", "", 400},
		{"update unknown policy", "PUT", "/api/v1/policies/{key}", "/api/v1/policies/nope", "admin", js, `{"name":"nope","kind":"jit-mode","groups":["Linux Computers"]}`, 404},
		{"delete policy as approver", "DELETE", "/api/v1/policies/{key}", "/api/v1/policies/JIT%20Mode", "carol", "", "", 403},
		{"groups", "GET", "/api/v1/groups", "", "carol", "", "", 200},
		{"groups unknown query", "GET", "/api/v1/groups", "/api/v1/groups?limit=1", "admin", "", "", 400},
		{"default group", "GET", "/api/v1/groups/{key}", "/api/v1/groups/Linux%20Computers", "admin", "", "", 200},
		{"group not found", "GET", "/api/v1/groups/{key}", "/api/v1/groups/grp_nope", "admin", "", "", 404},
		{"create group as approver", "POST", "/api/v1/groups", "", "carol", js, `{"name":"web"}`, 403},
		{"update group unknown field", "PUT", "/api/v1/groups/{key}", "/api/v1/groups/Linux%20Computers", "admin", js, `{"colour":"red"}`, 400},
		{"config as approver", "PUT", "/api/v1/groups/{key}/config", "/api/v1/groups/Linux%20Computers/config", "carol", js, `{}`, 403},
		{"config bad duration", "PUT", "/api/v1/groups/{key}/config", "/api/v1/groups/Linux%20Computers/config", "admin", js, `{"grace":"soon"}`, 400},
		{"delete default group", "DELETE", "/api/v1/groups/{key}", "/api/v1/groups/Linux%20Computers", "admin", "", "", 409},
		{"integrations", "GET", "/api/v1/integrations", "", "admin", "", "", 200},
		{"integrations as approver", "GET", "/api/v1/integrations", "", "carol", "", "", 403},
		{"add integration plain http", "POST", "/api/v1/integrations", "", "admin", js, `{"name":"ops","kind":"webhook","config":{"url":"http://hooks.example/x","secret":"k"}}`, 400},
		{"add integration unknown field", "POST", "/api/v1/integrations", "", "admin", js, `{"name":"ops","kind":"webhook","colour":"red"}`, 400},
		{"add integration", "POST", "/api/v1/integrations", "", "admin", js, `{"name":"ops","kind":"webhook","config":{"url":"https://hooks.example/x","secret":"k"}}`, 201},
		{"add integration twice", "POST", "/api/v1/integrations", "", "admin", js, `{"name":"ops","kind":"webhook","config":{"url":"https://hooks.example/x","secret":"k"}}`, 409},
		{"test integration without a sink", "POST", "/api/v1/integrations/{name}/test", "/api/v1/integrations/ops/test", "admin", "", "", 503},
		{"dead letters", "GET", "/api/v1/integrations/{name}/dead-letters", "/api/v1/integrations/ops/dead-letters", "admin", "", "", 200},
		{"retry", "POST", "/api/v1/integrations/{name}/retry", "/api/v1/integrations/ops/retry", "admin", js, `{}`, 200},
		{"retry unknown id", "POST", "/api/v1/integrations/{name}/retry", "/api/v1/integrations/ops/retry", "admin", js, `{"ids":["dlv_nope"]}`, 404},
		{"remove integration", "DELETE", "/api/v1/integrations/{name}", "/api/v1/integrations/ops", "admin", "", "", 204},
		{"remove integration again", "DELETE", "/api/v1/integrations/{name}", "/api/v1/integrations/ops", "admin", "", "", 404},

		{"logout", "POST", "/api/v1/logout", "", "carol", "", "", 204},
		{"logged out", "GET", "/api/v1/me", "", "carol", "", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = tt.path
			}
			status, header, data := ls.do(t, tt.method, target, tt.as, tt.contentType, tt.body)
			if status != tt.wantStatus {
				t.Errorf("%s %s: got status %d (%s), want %d", tt.method, target, status, bytes.TrimSpace(data), tt.wantStatus)
			}
			doc.checkAnswer(t, oaKey{tt.method, tt.path}, status, header, data)
		})
	}

	t.Run("no agents", func(t *testing.T) {
		status, _, data := ls.do(t, "GET", "/api/v1/agents", "admin", "", "")
		if status != http.StatusOK || string(bytes.TrimSpace(data)) != `{"agents":[]}` {
			t.Errorf("GET /api/v1/agents: got %d %s, want 200 {\"agents\":[]}", status, bytes.TrimSpace(data))
		}
	})
}

// call makes one call as a subtest of t, holds the answer to the document
// and returns its body; path is the route as the document writes it, target
// the URL when it differs. A body is sent as application/json.
func (ls *oaLiveServer) call(t *testing.T, doc *openAPIDoc, name, method, path, target, as, body string, wantStatus int) []byte {
	t.Helper()
	if target == "" {
		target = path
	}
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	var data []byte
	t.Run(name, func(t *testing.T) {
		status, header, got := ls.do(t, method, target, as, contentType, body)
		data = got
		if status != wantStatus {
			t.Errorf("%s %s: got status %d (%s), want %d", method, target, status, bytes.TrimSpace(got), wantStatus)
		}
		doc.checkAnswer(t, oaKey{method, path}, status, header, got)
	})
	return data
}

// oaDecode reads a JSON answer into v, or stops the test.
func oaDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", bytes.TrimSpace(data), err)
	}
}

// TestOpenAPILiveAgent walks an agent's life over TLS, the way hoist-server
// serves it: a token, enrolment, then calls with the client certificate
// enrolment issued, an approval reaching the agent as an event, and a
// revoke. Each answer is held to the document.
func TestOpenAPILiveAgent(t *testing.T) {
	doc := fetchOpenAPI(t)
	ls := newOATLSServer(t)

	call := func(name, method, path, target, as, body string, wantStatus int) []byte {
		t.Helper()
		return ls.call(t, doc, name, method, path, target, as, body, wantStatus)
	}
	decode := func(data []byte, v any) {
		t.Helper()
		oaDecode(t, data, v)
	}

	// Tokens.
	var tok api.EnrollTokenAnswer
	decode(call("enroll token", "POST", "/api/v1/enroll-tokens", "", "admin", `{"group":"web","ttl":"1h","uses":2}`, 201), &tok)
	if tok.Group != "web" || tok.Uses != 2 {
		t.Errorf("enroll token: got group %q uses %d, want web and 2", tok.Group, tok.Uses)
	}
	parsed, err := wire.ParseEnrollToken(tok.Token)
	if err != nil {
		t.Fatalf("enroll token %q: %v", tok.Token, err)
	}
	secret := parsed.Secret
	call("enroll token defaults", "POST", "/api/v1/enroll-tokens", "", "admin", `{}`, 201)
	call("enroll token no body", "POST", "/api/v1/enroll-tokens", "", "admin", "", 400)
	call("enroll token too short", "POST", "/api/v1/enroll-tokens", "", "admin", `{"ttl":"30s"}`, 400)
	call("enroll token too many uses", "POST", "/api/v1/enroll-tokens", "", "admin", `{"uses":10001}`, 400)
	call("enroll token as approver", "POST", "/api/v1/enroll-tokens", "", "carol", `{}`, 403)

	// Enrolment.
	_, csr := oaCSR(t)
	call("enroll bad csr", "POST", "/agent/v1/enroll", "", "", `{"secret":"`+secret+`","csr":"AAAA","facts":{"hostname":"web1"}}`, 400)
	call("enroll no hostname", "POST", "/agent/v1/enroll", "", "", `{"secret":"`+secret+`","csr":"`+csr+`","facts":{}}`, 400)
	call("enroll unknown secret", "POST", "/agent/v1/enroll", "", "", `{"secret":"not-the-secret","csr":"`+csr+`","facts":{"hostname":"web1"}}`, 401)
	web1 := ls.enroll(t, "@web1", secret)
	ls.enroll(t, "@db1", secret)
	call("enroll token used up", "POST", "/agent/v1/enroll", "", "", `{"secret":"`+secret+`","csr":"`+csr+`","facts":{"hostname":"web3"}}`, 401)

	// The agent's calls. JIT mode is off until the three JIT policies the
	// server seeded inactive are all active for one of the agent's groups.
	call("request before JIT mode", "POST", "/agent/v1/requests", "", "@web1", `{"user":"bob","duration":"30m"}`, 403)
	for _, name := range oaJITPolicies {
		var p hoist.Policy
		decode(call("activate "+name, "POST", "/api/v1/policies/{key}/activate", "/api/v1/policies/"+url.PathEscape(name)+"/activate", "admin", "", 200), &p)
		if !p.Active || p.Name != name {
			t.Errorf("activate %s: got %q active %v, want it active", name, p.Name, p.Active)
		}
	}

	var bundle wire.CheckinAnswer
	decode(call("checkin", "POST", "/agent/v1/checkin", "", "@web1", `{"hostname":"web1","version":"1.0.1","os":"linux","kernel":"6.8.0"}`, 200), &bundle)
	b := oaSignedBundle(t, web1, bundle)
	if b.Revision == "" || len(b.Policies) != 3 || !slices.Equal(b.Groups, []string{hoist.DefaultGroup}) {
		t.Fatalf("checkin: got bundle %+v, want the three JIT policies for %q and a revision", b, hoist.DefaultGroup)
	}
	revision := b.Revision
	call("checkin with the revision", "POST", "/agent/v1/checkin", "", "@web1", `{"hostname":"web1","version":"1.0.1","os":"linux","kernel":"6.8.0","revision":"`+revision+`"}`, 204)
	call("checkin unknown field", "POST", "/agent/v1/checkin", "", "@web1", `{"hostname":"web1","arch":"arm64"}`, 400)
	call("checkin revision too long", "POST", "/agent/v1/checkin", "", "@web1", `{"hostname":"web1","revision":"`+strings.Repeat("a", 65)+`"}`, 400)
	call("checkin without certificate", "POST", "/agent/v1/checkin", "", "", `{"hostname":"web1"}`, 401)
	call("checkin with a bearer token", "POST", "/agent/v1/checkin", "", "admin", `{"hostname":"web1"}`, 401)

	var first, again wire.AgentRequestAnswer
	decode(call("request", "POST", "/agent/v1/requests", "", "@web1", `{"user":"bob","duration":"30m","reason":"deploy"}`, 200), &first)
	decode(call("request again", "POST", "/agent/v1/requests", "", "@web1", `{"user":"bob","duration":"10m"}`, 200), &again)
	if !first.Created || again.Created || again.Request.ID != first.Request.ID || first.Request.Host != "web1" {
		t.Errorf("requests: got created %v then %v for %s then %s on %q, want true then false for one request on web1",
			first.Created, again.Created, first.Request.ID, again.Request.ID, first.Request.Host)
	}
	call("request for root", "POST", "/agent/v1/requests", "", "@web1", `{"user":"root"}`, 400)
	call("request too long", "POST", "/agent/v1/requests", "", "@web1", `{"user":"dave","duration":"100h"}`, 400)

	// The policy changes reached every agent as one event: the latest.
	var evs wire.EventsAnswer
	decode(call("policy event", "GET", "/agent/v1/events", "/agent/v1/events?wait=0", "@web1", "", 200), &evs)
	if len(evs.Events) != 1 || evs.Events[0].Kind != hoist.AgentEventPolicy || evs.Cursor != evs.Events[0].Seq {
		t.Fatalf("events before a decision: got %+v, want one policy event and the cursor at its seq", evs)
	}
	after := strconv.FormatInt(evs.Cursor, 10)
	decode(call("no events", "GET", "/agent/v1/events", "/agent/v1/events?wait=0&after="+after, "@web1", "", 200), &evs)
	if len(evs.Events) != 0 || strconv.FormatInt(evs.Cursor, 10) != after {
		t.Errorf("events after the policy event: got %+v, want none and cursor %s", evs, after)
	}
	call("approve", "POST", "/api/v1/requests/approve", "", "carol", `{"ids":["`+first.Request.ID+`"],"duration":"30m"}`, 200)
	decode(call("approved event", "GET", "/agent/v1/events", "/agent/v1/events?after="+after, "@web1", "", 200), &evs)
	if len(evs.Events) != 1 || evs.Events[0].Kind != hoist.AgentEventApproved || evs.Events[0].Grant == "" ||
		evs.Events[0].SessionID == "" || evs.Cursor != evs.Events[0].Seq {
		t.Fatalf("events after the approval: got %+v, want one approved event with a grant, a session and the cursor at its seq", evs)
	}
	session := evs.Events[0].SessionID
	cursor := strconv.FormatInt(evs.Cursor, 10)
	call("no other agent's events", "GET", "/agent/v1/events", "/agent/v1/events?after="+after, "@db1", "", 200)
	call("long poll", "GET", "/agent/v1/events", "/agent/v1/events?after="+cursor+"&wait=1", "@web1", "", 200)
	call("wait too long", "GET", "/agent/v1/events", "/agent/v1/events?wait=61", "@web1", "", 400)

	events := `{"events":[{"id":"evt_1","time":"2025-01-02T03:04:05Z","action":"command.started","actor":"bob","subject":"` + session + `","detail":{"argv":["id"]}}]}`
	var stored struct{ Stored int }
	decode(call("audit", "POST", "/agent/v1/audit", "", "@web1", events, 200), &stored)
	if stored.Stored != 1 {
		t.Errorf("audit: got stored %d, want 1", stored.Stored)
	}
	decode(call("audit again", "POST", "/agent/v1/audit", "", "@web1", events, 200), &stored)
	if stored.Stored != 0 {
		t.Errorf("audit again: got stored %d, want 0", stored.Stored)
	}
	call("audit bad id", "POST", "/agent/v1/audit", "", "@web1", `{"events":[{"id":"1","action":"command.started"}]}`, 400)
	call("agent audit in the log", "GET", "/api/v1/audit", "/api/v1/audit?action=agent.command.started", "admin", "", 200)

	ended := "/agent/v1/sessions/" + session + "/ended"
	call("session ended by another agent", "POST", "/agent/v1/sessions/{id}/ended", ended, "@db1", "", 404)
	call("session ended", "POST", "/agent/v1/sessions/{id}/ended", ended, "@web1", "", 204)
	call("session ended again", "POST", "/agent/v1/sessions/{id}/ended", ended, "@web1", "", 204)
	call("unknown session ended", "POST", "/agent/v1/sessions/{id}/ended", "/agent/v1/sessions/ses_nope/ended", "@web1", "", 404)

	// Admins see and revoke agents.
	var list struct{ Agents []wire.AgentView }
	decode(call("agents", "GET", "/api/v1/agents", "", "carol", "", 200), &list)
	if len(list.Agents) != 2 {
		t.Errorf("agents: got %d, want 2", len(list.Agents))
	}
	db1 := ""
	for _, a := range list.Agents {
		if a.ID != web1.AgentID {
			db1 = a.ID
			if a.Current {
				t.Errorf("agent db1: got current, want not (it never checked in)")
			}
			continue
		}
		if !a.Current || a.Revision != revision || !slices.Equal(a.Groups, []string{hoist.DefaultGroup}) || len(a.HeldBack) != 0 {
			t.Errorf("agent web1: got %+v, want current at revision %s in %q, nothing held back", a, revision, hoist.DefaultGroup)
		}
	}
	revoke := "/api/v1/agents/" + db1 + "/revoke"
	call("revoke agent as approver", "POST", "/api/v1/agents/{id}/revoke", revoke, "carol", "", 403)
	call("revoke agent", "POST", "/api/v1/agents/{id}/revoke", revoke, "admin", "", 204)
	call("revoke agent again", "POST", "/api/v1/agents/{id}/revoke", revoke, "admin", "", 409)
	call("revoke unknown agent", "POST", "/api/v1/agents/{id}/revoke", "/api/v1/agents/agt_nope/revoke", "admin", "", 404)
	call("revoked agent checks in", "POST", "/agent/v1/checkin", "", "@db1", `{"hostname":"db1"}`, 401)
	call("revoked agent polls", "GET", "/agent/v1/events", "", "@db1", "", 401)
	call("other agent still in", "POST", "/agent/v1/checkin", "", "@web1", `{"hostname":"web1","version":"1.0.1","revision":"`+revision+`"}`, 204)

	// JIT mode off again: one policy of the three is enough.
	call("deactivate JIT Mode", "POST", "/api/v1/policies/{key}/deactivate", "/api/v1/policies/"+url.PathEscape("JIT Mode")+"/deactivate", "admin", "", 200)
	call("request after JIT mode", "POST", "/agent/v1/requests", "", "@web1", `{"user":"dave","duration":"30m"}`, 403)
	bundle = wire.CheckinAnswer{}
	decode(call("checkin after the change", "POST", "/agent/v1/checkin", "", "@web1", `{"hostname":"web1","version":"1.0.1","revision":"`+revision+`"}`, 200), &bundle)
	if b := oaSignedBundle(t, web1, bundle); b.Revision == revision || len(b.Policies) != 2 {
		t.Errorf("checkin after the change: got %+v, want a new revision with two policies", b)
	}
}

// oaJITPolicies are the JIT policies control.Service.Seed makes.
var oaJITPolicies = []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"}

// TestOpenAPILivePolicies manages policies and computer groups through the
// API the way an administrator does, and follows them to an enrolled
// agent's bundle and to the agents list. Each answer is held to the
// document; refusals of bad content name the bad fields.
func TestOpenAPILivePolicies(t *testing.T) {
	doc := fetchOpenAPI(t)
	ls := newOATLSServer(t)
	web1 := ls.enroll(t, "@web1", ls.enrollToken(t, 1))

	call := func(name, method, path, target, as, body string, wantStatus int) []byte {
		t.Helper()
		return ls.call(t, doc, name, method, path, target, as, body, wantStatus)
	}
	decode := func(data []byte, v any) {
		t.Helper()
		oaDecode(t, data, v)
	}
	// fields calls, wants a 400, and checks that the error names exactly
	// these fields.
	fields := func(name, method, path, target, body string, want ...string) {
		t.Helper()
		var e api.ErrorBody
		decode(call(name, method, path, target, "admin", body, 400), &e)
		if got := slices.Sorted(maps.Keys(e.Error.Fields)); !slices.Equal(got, want) {
			t.Errorf("%s: got fields %v (%s), want %v", name, got, e.Error.Message, want)
		}
	}
	policy := func(key string) string { return "/api/v1/policies/" + url.PathEscape(key) }
	group := func(key string) string { return "/api/v1/groups/" + url.PathEscape(key) }

	// What a new server holds.
	var pl struct{ Policies []hoist.Policy }
	decode(call("seeded policies", "GET", "/api/v1/policies", "", "carol", "", 200), &pl)
	var seeded []string
	for _, p := range pl.Policies {
		seeded = append(seeded, p.Name)
		if p.Active || !slices.Equal(p.Groups, []string{hoist.DefaultGroup}) || !strings.HasPrefix(p.ID, hoist.PolicyIDPrefix) {
			t.Errorf("seeded policy %q: got active %v groups %v id %q, want inactive for %q", p.Name, p.Active, p.Groups, p.ID, hoist.DefaultGroup)
		}
	}
	if want := slices.Sorted(slices.Values(oaJITPolicies)); !slices.Equal(seeded, want) {
		t.Errorf("seeded policies: got %v, want %v in name order", seeded, want)
	}
	var gl struct{ Groups []hoist.ComputerGroup }
	decode(call("seeded groups", "GET", "/api/v1/groups", "", "admin", "", 200), &gl)
	if len(gl.Groups) != 1 || gl.Groups[0].Name != hoist.DefaultGroup {
		t.Errorf("seeded groups: got %+v, want only %q", gl.Groups, hoist.DefaultGroup)
	}

	// Computer groups.
	var web hoist.ComputerGroup
	decode(call("create group", "POST", "/api/v1/groups", "", "admin", `{"name":"web","description":"Web servers","priority":20,"rules":{"hostname":"web-*","os":"linux"}}`, 201), &web)
	if !strings.HasPrefix(web.ID, hoist.GroupIDPrefix) || web.Version != 1 || web.UpdatedBy != "admin" || web.Rules.Hostname != "web-*" {
		t.Errorf("create group: got %+v, want a new group at version 1 by admin", web)
	}
	call("create group again", "POST", "/api/v1/groups", "", "admin", `{"name":"web"}`, 409)
	call("create group as approver", "POST", "/api/v1/groups", "", "carol", `{"name":"db"}`, 403)
	fields("create bad group", "POST", "/api/v1/groups", "",
		`{"name":" web","priority":2000,"rules":{"min_agent_version":"new"},"config":{"grace":"11m"}}`,
		"config.grace", "name", "priority", "rules.min_agent_version")
	fields("create group without a name", "POST", "/api/v1/groups", "", `{}`, "name")
	decode(call("group by name", "GET", "/api/v1/groups/{key}", group("web"), "carol", "", 200), &web)
	decode(call("group by id", "GET", "/api/v1/groups/{key}", group(web.ID), "carol", "", 200), &web)

	decode(call("set config", "PUT", "/api/v1/groups/{key}/config", group("web")+"/config", "admin",
		`{"create_jit_shortcut":true,"reminders":["10m","1m"],"max_duration":"4h","checkin_interval":"2m"}`, 200), &web)
	if c := web.Config; c.CreateJITShortcut == nil || !*c.CreateJITShortcut || len(c.Reminders) != 2 || c.MaxDuration == nil || c.MaxDuration.D() != 4*time.Hour || web.Version != 2 {
		t.Errorf("set config: got %+v at version %d, want the configuration set at version 2", c, web.Version)
	}
	fields("config out of bounds", "PUT", "/api/v1/groups/{key}/config", group("web")+"/config",
		`{"checkin_interval":"1s","default_duration":"5h","max_duration":"4h"}`, "config.checkin_interval", "config.default_duration")
	call("config unknown field", "PUT", "/api/v1/groups/{key}/config", group("web")+"/config", "admin", `{"colour":"red"}`, 400)
	call("config of an unknown group", "PUT", "/api/v1/groups/{key}/config", group("nope")+"/config", "admin", `{}`, 404)

	call("update group stale", "PUT", "/api/v1/groups/{key}", group("web"), "admin", `{"priority":30,"rules":{"hostname":"web-*"},"version":1}`, 409)
	web = hoist.ComputerGroup{} // decode into a fresh value: fields left out stay unset
	decode(call("update group", "PUT", "/api/v1/groups/{key}", group("web"), "admin",
		`{"name":"web","description":"Web servers","priority":30,"rules":{"hostname":"web-*"},"config":{"create_jit_shortcut":true},"version":2}`, 200), &web)
	if web.Version != 3 || web.Priority != 30 || web.Rules.OS != "" || web.Config.MaxDuration != nil {
		t.Errorf("update group: got %+v, want version 3, priority 30, the rules and configuration replaced", web)
	}
	fields("rename group", "PUT", "/api/v1/groups/{key}", group("web"), `{"name":"www"}`, "name")
	fields("rules for the default group", "PUT", "/api/v1/groups/{key}", group(hoist.DefaultGroup), `{"rules":{"os":"linux"}}`, "rules")
	call("update unknown group", "PUT", "/api/v1/groups/{key}", group("nope"), "admin", `{}`, 404)

	// Policies.
	const apt = `{"name":"Elevate apt-get","kind":"application","groups":["web"],"priority":5,` +
		`"application":{"path":"/usr/bin/apt-get","argv":{"match":["install"],"rest":"any","options":["-y"],"each":{"regex":"[a-z0-9][a-z0-9+.-]*"}},"unix_groups":["devs"],"action":"elevate"}}`
	var p hoist.Policy
	decode(call("create policy", "POST", "/api/v1/policies", "", "admin", apt, 201), &p)
	if !strings.HasPrefix(p.ID, hoist.PolicyIDPrefix) || p.Version != 1 || p.Active || p.Application == nil || p.Application.Action != hoist.ActionElevate ||
		p.Application.Argv == nil || p.Application.Argv.Each == nil || p.Application.Argv.Each.Regex == "" {
		t.Errorf("create policy: got %+v, want a new inactive application policy at version 1", p)
	}
	call("create policy again", "POST", "/api/v1/policies", "", "admin", apt, 409)
	// The policy linter: a root shell is refused with the field named; a
	// warning comes back with the stored policy.
	fields("create root shell policy", "POST", "/api/v1/policies", "",
		`{"name":"Root shell","kind":"application","groups":["web"],"application":{"path":"/usr/bin/bash","action":"elevate"}}`, "application.path")
	var warned wire.PolicySaved
	decode(call("create policy with a warning", "POST", "/api/v1/policies", "", "admin",
		`{"name":"Reboot","kind":"application","groups":["web"],"application":{"path":"/usr/sbin/reboot","action":"justify"}}`, 201), &warned)
	if len(warned.Warnings) != 1 || warned.Warnings[0].Code != hoist.LintAnyArguments || warned.Warnings[0].Field != "application.argv" || warned.ID == "" {
		t.Errorf("create with a warning: got %+v, want the policy and one any-arguments warning", warned)
	}
	call("delete the policy with a warning", "DELETE", "/api/v1/policies/{key}", policy(warned.ID), "admin", "", 204)
	call("create policy as approver", "POST", "/api/v1/policies", "", "carol", apt, 403)
	fields("create bad policy", "POST", "/api/v1/policies", "",
		`{"name":"Bad","kind":"application","groups":["Linux Computers"],"application":{"path":"usr/bin/apt","sha256":"abc","action":"run"},"mode":{}}`,
		"application.action", "application.path", "application.sha256", "mode")
	fields("create policy with the old args", "POST", "/api/v1/policies", "",
		`{"name":"Old","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","args":"^update","action":"elevate"}}`,
		"application.args")
	fields("create policy with bad argv", "POST", "/api/v1/policies", "",
		`{"name":"Bad argv","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","argv":{"match":["a",{"regex":"(a"}],"rest":"some","options":["y"]},"action":"elevate"}}`,
		"application.argv.match[1].regex", "application.argv.options[0]", "application.argv.rest")
	fields("create policy with a two-field pattern", "POST", "/api/v1/policies", "",
		`{"name":"Bad pattern","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","argv":{"match":[{"exact":"a","glob":"b"}]},"action":"elevate"}}`,
		"application.argv.match")
	fields("create policy with null options", "POST", "/api/v1/policies", "",
		`{"name":"Null options","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","argv":{"rest":"any","options":null},"action":"elevate"}}`,
		"application.argv.options")
	fields("create policy with argv key in another case", "POST", "/api/v1/policies", "",
		`{"name":"Case","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","argv":{"rest":"any","Options":[]},"action":"elevate"}}`,
		"application.argv")
	fields("create policy with a bad each", "POST", "/api/v1/policies", "",
		`{"name":"Bad each","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","argv":{"each":{"regex":"(a"}},"action":"elevate"}}`,
		"application.argv.each", "application.argv.each.regex")
	fields("create policy with a two-field each", "POST", "/api/v1/policies", "",
		`{"name":"Bad each","kind":"application","groups":["Linux Computers"],"application":{"path":"/usr/bin/apt-get","argv":{"rest":"any","each":{"exact":"a","glob":"b"}},"action":"elevate"}}`,
		"application.argv.each")
	fields("create bad JIT policy", "POST", "/api/v1/policies", "",
		`{"name":"Too long","kind":"jit-startup","groups":["Linux Computers"],"startup":{"max_duration":"200h","approver_role":"root"}}`,
		"startup.approver_role", "startup.max_duration")
	fields("policy for an unknown group", "POST", "/api/v1/policies", "", `{"name":"Nowhere","kind":"jit-mode","groups":["nope"]}`, "groups")
	call("policy unknown nested field", "POST", "/api/v1/policies", "", "admin", `{"name":"x","kind":"jit-mode","groups":["web"],"mode":{"include":[]}}`, 400)
	decode(call("policy by id", "GET", "/api/v1/policies/{key}", policy(p.ID), "carol", "", 200), &p)
	decode(call("policy by name", "GET", "/api/v1/policies/{key}", policy(p.Name), "carol", "", 200), &p)

	update := strings.Replace(apt, `"priority":5`, `"priority":7,"version":1`, 1)
	decode(call("update policy", "PUT", "/api/v1/policies/{key}", policy("Elevate apt-get"), "admin", update, 200), &p)
	if p.Version != 2 || p.Priority != 7 || p.UpdatedBy != "admin" {
		t.Errorf("update policy: got version %d priority %d by %q, want version 2, priority 7, by admin", p.Version, p.Priority, p.UpdatedBy)
	}
	call("update policy stale", "PUT", "/api/v1/policies/{key}", policy("Elevate apt-get"), "admin", update, 409)
	fields("update policy badly", "PUT", "/api/v1/policies/{key}", policy(p.ID), `{"name":"Elevate apt-get","kind":"application","groups":[]}`, "application", "groups")
	call("update policy as approver", "PUT", "/api/v1/policies/{key}", policy(p.ID), "carol", update, 403)

	decode(call("activate policy", "POST", "/api/v1/policies/{key}/activate", policy(p.Name)+"/activate", "admin", "", 200), &p)
	if !p.Active || p.Version != 3 {
		t.Errorf("activate policy: got active %v version %d, want active at version 3", p.Active, p.Version)
	}
	decode(call("deactivate policy", "POST", "/api/v1/policies/{key}/deactivate", policy(p.ID)+"/deactivate", "admin", "", 200), &p)
	if p.Active || p.Version != 4 {
		t.Errorf("deactivate policy: got active %v version %d, want inactive at version 4", p.Active, p.Version)
	}
	decode(call("activate policy again", "POST", "/api/v1/policies/{key}/activate", policy(p.Name)+"/activate", "admin", "", 200), &p)
	call("deactivate as approver", "POST", "/api/v1/policies/{key}/deactivate", policy(p.Name)+"/deactivate", "carol", "", 403)

	var dup, copied hoist.Policy
	decode(call("duplicate policy", "POST", "/api/v1/policies/{key}/duplicate", policy(p.Name)+"/duplicate", "admin",
		`{"name":"Elevate apt-get everywhere","groups":["Linux Computers"]}`, 201), &dup)
	if dup.ID == p.ID || dup.Active || dup.Version != 1 || !slices.Equal(dup.Groups, []string{hoist.DefaultGroup}) ||
		dup.Application == nil || dup.Application.Path != "/usr/bin/apt-get" {
		t.Errorf("duplicate policy: got %+v, want an inactive copy at version 1 for %q", dup, hoist.DefaultGroup)
	}
	decode(call("duplicate with defaults", "POST", "/api/v1/policies/{key}/duplicate", policy(p.Name)+"/duplicate", "admin", `{}`, 201), &copied)
	if copied.Name != p.Name+" (copy)" || !slices.Equal(copied.Groups, p.Groups) {
		t.Errorf("duplicate with defaults: got %q for %v, want %q for %v", copied.Name, copied.Groups, p.Name+" (copy)", p.Groups)
	}
	call("duplicate again", "POST", "/api/v1/policies/{key}/duplicate", policy(p.Name)+"/duplicate", "admin", `{}`, 409)
	fields("duplicate to an unknown group", "POST", "/api/v1/policies/{key}/duplicate", policy(p.Name)+"/duplicate", `{"name":"x","groups":["nope"]}`, "groups")
	call("duplicate unknown field", "POST", "/api/v1/policies/{key}/duplicate", policy(p.Name)+"/duplicate", "admin", `{"active":true}`, 400)
	call("duplicate unknown policy", "POST", "/api/v1/policies/{key}/duplicate", policy("nope")+"/duplicate", "admin", `{}`, 404)
	call("duplicate as approver", "POST", "/api/v1/policies/{key}/duplicate", policy(p.Name)+"/duplicate", "carol", `{}`, 403)

	// A policy for newer agents than this one is held back from it.
	decode(call("create policy for newer agents", "POST", "/api/v1/policies", "", "admin",
		`{"name":"Needs 9","kind":"application","groups":["web"],"active":true,"min_agent_version":"9.0.0","application":{"path":"/usr/bin/top","action":"audit"}}`, 201), &p)

	// The agent: its hostname puts it in web; it gets the active policies
	// of its groups and their merged configuration, and reports what it
	// could not process.
	const facts = `"hostname":"web-01","version":"1.0.0","os":"linux","kernel":"6.8.0","skipped":[{"name":"config colour","reason":"unknown field"}]`
	var ans wire.CheckinAnswer
	decode(call("checkin", "POST", "/agent/v1/checkin", "", "@web1", `{`+facts+`}`, 200), &ans)
	b := oaSignedBundle(t, web1, ans)
	if !slices.Equal(b.Groups, []string{"web", hoist.DefaultGroup}) || len(b.Policies) != 1 || b.Policies[0].Name != "Elevate apt-get" ||
		b.Config.CreateJITShortcut == nil || !*b.Config.CreateJITShortcut {
		t.Fatalf("checkin: got bundle %+v, want groups web and %q, the one active policy it may have, and web's configuration", b, hoist.DefaultGroup)
	}
	call("checkin with the revision", "POST", "/agent/v1/checkin", "", "@web1", `{`+facts+`,"revision":"`+b.Revision+`"}`, 204)
	call("checkin skipped too long", "POST", "/agent/v1/checkin", "", "@web1", `{`+facts+`,"revision":"`+b.Revision+`","skipped":[{"reason":"`+strings.Repeat("a", 2001)+`"}]}`, 400)

	var al struct{ Agents []wire.AgentView }
	decode(call("agents", "GET", "/api/v1/agents", "", "carol", "", 200), &al)
	if len(al.Agents) != 1 {
		t.Fatalf("agents: got %d, want 1", len(al.Agents))
	}
	a := al.Agents[0]
	wantHeld := []hoist.HeldBack{{What: "policy Needs 9", Needs: "9.0.0"}}
	if !a.Current || a.Revision != b.Revision || !slices.Equal(a.Groups, b.Groups) || !slices.Equal(a.HeldBack, wantHeld) ||
		len(a.Skipped) != 1 || a.Skipped[0].Name != "config colour" {
		t.Errorf("agents: got %+v, want it current in %v, %v held back and one skipped", a, b.Groups, wantHeld)
	}

	// Deleting: a group goes once no policy targets it.
	call("delete targeted group", "DELETE", "/api/v1/groups/{key}", group("web"), "admin", "", 409)
	call("delete default group", "DELETE", "/api/v1/groups/{key}", group(hoist.DefaultGroup), "admin", "", 409)
	call("delete group as approver", "DELETE", "/api/v1/groups/{key}", group("web"), "carol", "", 403)
	call("delete policy as approver", "DELETE", "/api/v1/policies/{key}", policy("Elevate apt-get"), "carol", "", 403)
	call("delete policy", "DELETE", "/api/v1/policies/{key}", policy("Elevate apt-get"), "admin", "", 204)
	call("delete policy again", "DELETE", "/api/v1/policies/{key}", policy("Elevate apt-get"), "admin", "", 404)
	call("delete copy", "DELETE", "/api/v1/policies/{key}", policy(copied.ID), "admin", "", 204)
	call("delete policy for newer agents", "DELETE", "/api/v1/policies/{key}", policy(p.ID), "admin", "", 204)
	call("deleted policy", "GET", "/api/v1/policies/{key}", policy(p.ID), "admin", "", 404)
	call("delete group", "DELETE", "/api/v1/groups/{key}", group(web.ID), "admin", "", 204)
	call("delete group again", "DELETE", "/api/v1/groups/{key}", group(web.ID), "admin", "", 404)
	call("deleted group", "GET", "/api/v1/groups/{key}", group("web"), "admin", "", 404)

	// Every change is in the audit log.
	var page struct{ Records []hoist.AuditRecord }
	decode(call("audited", "GET", "/api/v1/audit", "/api/v1/audit?action=policy.duplicated", "admin", "", 200), &page)
	if len(page.Records) != 2 {
		t.Errorf("audit of policy.duplicated: got %d records, want 2", len(page.Records))
	}
}

// TestOpenAPIQueryParameters holds the query parameters the document
// declares to what the handlers accept: each enum value and each bound is
// accepted, one past a bound and any other value refused, and so are
// undeclared and repeated parameters. Agent routes are called by an
// enrolled agent, over TLS with its certificate.
func TestOpenAPIQueryParameters(t *testing.T) {
	doc := fetchOpenAPI(t)
	ls := newOATLSServer(t)
	ls.enroll(t, "@web1", ls.enrollToken(t, 1))
	ls.svc.StopWaiting() // every long poll answers at once: wait=60 must not take a minute
	caller := map[oaKey]string{}
	for _, r := range api.New(api.Config{}).Routes() {
		switch {
		case r.Agent:
			caller[oaKey{r.Method, r.Path}] = "@web1"
		default:
			caller[oaKey{r.Method, r.Path}] = "admin"
		}
	}
	type probe struct {
		query string
		ok    bool
		label string // the subtest's name, when the query is long
	}
	for _, k := range doc.sortedKeys() {
		op := doc.ops[k]
		var params []oaParameter
		for _, p := range op.Parameters {
			if p.In == "query" {
				params = append(params, p)
			}
		}
		if len(params) == 0 || k.Method != "GET" {
			continue
		}
		probes := []probe{
			{"undeclared=1", false, ""},
			{params[0].Name + "=&" + params[0].Name + "=", false, ""},
		}
		for _, p := range params {
			s, err := doc.resolve(p.Schema)
			if err != nil {
				t.Fatalf("%s parameter %s: %v", k, p.Name, err)
			}
			q := func(v string) string { return p.Name + "=" + v }
			switch s.Type {
			case "string":
				if len(s.Enum) > 0 {
					for _, e := range s.Enum {
						probes = append(probes, probe{q(e), true, ""})
					}
					probes = append(probes, probe{q("bogus"), false, ""})
				}
				if n := s.MaxLength; n != nil {
					probes = append(probes,
						probe{q(strings.Repeat("a", *n)), true, fmt.Sprintf("%s=%d_bytes", p.Name, *n)},
						probe{q(strings.Repeat("a", *n+1)), false, fmt.Sprintf("%s=%d_bytes", p.Name, *n+1)})
				}
			case "integer":
				if s.Minimum == nil || s.Maximum == nil {
					t.Errorf("%s parameter %s: got no minimum or maximum, want both", k, p.Name)
					continue
				}
				probes = append(probes,
					probe{q(strconv.FormatInt(*s.Minimum, 10)), true, ""},
					probe{q(strconv.FormatInt(*s.Maximum, 10)), true, ""},
					probe{q(strconv.FormatInt(*s.Minimum-1, 10)), false, ""},
					probe{q(strconv.FormatInt(*s.Maximum+1, 10)), false, ""},
					probe{q("ten"), false, ""})
			default:
				t.Errorf("%s parameter %s: type %q is not handled by this test", k, p.Name, s.Type)
			}
		}
		for _, pr := range probes {
			name := pr.query
			if pr.label != "" {
				name = pr.label
			}
			t.Run(k.String()+"?"+name, func(t *testing.T) {
				status, header, data := ls.do(t, k.Method, k.Path+"?"+pr.query, caller[k], "", "")
				if got := status < 300; got != pr.ok {
					t.Errorf("got status %d (%.200s), want %s", status, bytes.TrimSpace(data), map[bool]string{true: "2xx", false: "400"}[pr.ok])
				}
				if !pr.ok && status != http.StatusBadRequest {
					t.Errorf("got status %d, want 400", status)
				}
				doc.checkAnswer(t, k, status, header, data)
			})
		}
	}
}
