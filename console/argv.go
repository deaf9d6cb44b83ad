package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hoist-jit/hoist"
	"sigs.k8s.io/yaml"
)

// The policy form edits an application rule's argv as the YAML of the
// argv block of a policy file, the same text `hoist admin policies show`
// prints under argv:
//
//	match: [install]
//	rest: any
//	options: [-y, -q]
//	each: {regex: "[a-z0-9][a-z0-9+.-]*"}
//
// Empty means no argument rule: any arguments.

// maxArgvText bounds the field before it is parsed.
const maxArgvText = 100 << 10

// argvText writes r for the form; nil is the empty field.
func argvText(r *hoist.ArgvRule) string {
	if r == nil {
		return ""
	}
	out, err := yaml.Marshal(r)
	if err != nil {
		return "" // plain data: cannot fail
	}
	return string(out)
}

// parseArgvText reads the form's field as argvText writes it, strictly:
// an unknown key is an error, not a rule that matches more than meant.
func parseArgvText(s string) (*hoist.ArgvRule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > maxArgvText {
		return nil, fmt.Errorf("at most %d KiB", maxArgvText>>10)
	}
	js, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("not YAML: %v", err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, errors.New("write match:, rest:, options: and each: (or leave the field empty for any arguments)")
	}
	var r hoist.ArgvRule
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		var he *hoist.Error
		if errors.As(err, &he) {
			msg := strings.TrimPrefix(he.Message, "application.argv: ")
			return nil, errors.New(strings.TrimPrefix(msg, "application.argv."))
		}
		return nil, fmt.Errorf("match:, rest:, options: and each: only: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return &r, nil
}

// foldArgvErrors moves the errors of argv's parts (application.argv.
// match[1].regex) to the one field the form has for them, each line
// naming its part.
func foldArgvErrors(errs map[string]string) {
	const field = "application.argv"
	var parts []string
	for k := range errs {
		if strings.HasPrefix(k, field+".") {
			parts = append(parts, k)
		}
	}
	slices.Sort(parts)
	for _, k := range parts {
		line := strings.TrimPrefix(k, field+".") + ": " + errs[k]
		if errs[field] != "" {
			line = errs[field] + "; " + line
		}
		errs[field] = line
		delete(errs, k)
	}
}
