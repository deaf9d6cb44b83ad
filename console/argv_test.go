package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

// TestPolicyFormEditsArgv: the Arguments field is the YAML of the argv
// block; what the form saves, it shows again, and saving that page again
// changes nothing; errors are named beside the field.
func TestPolicyFormEditsArgv(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	form := url.Values{"csrf": {csrf}, "kind": {"application"}, "name": {"apt-get install"}, "groups": {hoist.DefaultGroup},
		"application.path": {"/usr/bin/apt-get"}, "application.action": {"elevate"},
		"application.argv": {"match: [install]\nrest: any\noptions: [-y, --no-install-recommends]\neach: {regex: '[a-z0-9][a-z0-9+.-]*'}\n"}}
	if res, body := v.post("/policies/new", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%.3000s", res.StatusCode, body)
	}
	p, err := s.svc.Policy(ctx, s.admin, "apt-get install")
	if err != nil {
		t.Fatal(err)
	}
	a := p.Application.Argv
	if a == nil || len(a.Match) != 1 || a.Match[0].Exact != "install" || a.Rest != hoist.RestAny || len(a.Options) != 2 ||
		a.Each == nil || a.Each.Regex != "[a-z0-9][a-z0-9+.-]*" {
		t.Fatalf("stored argv %+v", a)
	}
	_, body := v.get("/policies/" + p.ID)
	text := textareaValue(t, body, "application.argv")
	if !strings.Contains(text, "- install") || !strings.Contains(text, "rest: any") || !strings.Contains(text, "each:") {
		t.Fatalf("the edit page shows argv as\n%s", text)
	}
	again := url.Values{"csrf": {csrf}, "name": {p.Name}, "groups": {hoist.DefaultGroup}, "version": {"1"},
		"application.path": {"/usr/bin/apt-get"}, "application.action": {"elevate"}, "application.argv": {text}}
	if res, body := v.post("/policies/"+p.ID, again); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save unchanged: %d\n%.3000s", res.StatusCode, body)
	}
	if after, _ := s.svc.Policy(ctx, s.admin, p.ID); after.Application.Argv == nil || after.Application.Argv.Rest != hoist.RestAny ||
		len(after.Application.Argv.Options) != 2 || after.Application.Argv.Match[0] != a.Match[0] ||
		after.Application.Argv.Each == nil || *after.Application.Argv.Each != *a.Each {
		t.Fatalf("a round trip changed argv: %+v", after.Application.Argv)
	}

	for _, tc := range []struct{ argv, says string }{
		{"match: [install, {regex: '(a'}]\nrest: sometimes\n", "match[1].regex: not a regular expression"},
		{"match: [install, {regex: '(a'}]\nrest: sometimes\n", "rest: "},
		{"match: [{exact: a, glob: b}]\n", "exactly one of exact, glob or regex"},
		{"matches: [install]\n", "unknown field"},
		{"options: [x]\n", "options[0]"},
		{"rest: any\noptions:\n", "options: write [] for no options, or leave the key out for any"},
		{"rest: any\nOptions: [-y]\n", `unknown field "Options"`},
		{"rest: any\neach: {regex: '(a'}\n", "each.regex: not a regular expression"},
		{"rest: any\neach: {exact: a, glob: b}\n", "each: a pattern has exactly one"},
		{"each: {glob: '*'}\n", "each: applies only with rest: any"},
	} {
		bad := url.Values{"csrf": {csrf}, "name": {p.Name}, "groups": {hoist.DefaultGroup}, "version": {"2"},
			"application.path": {"/usr/bin/apt-get"}, "application.action": {"elevate"}, "application.argv": {tc.argv}}
		res, body := v.post("/policies/"+p.ID, bad)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="f-application-argv-err"`) || !strings.Contains(html.UnescapeString(body), tc.says) {
			t.Errorf("argv %q: %d, want the error %q beside the field\n%.4000s", tc.argv, res.StatusCode, tc.says, body)
		}
	}
}

// TestPolicyFormKeepsLegacyArgs: a policy of the old args form opens with
// the error that says how to migrate it, and a save that keeps the old
// field is refused rather than dropping it (which would allow any
// arguments).
func TestPolicyFormKeepsLegacyArgs(t *testing.T) {
	s := newSite(t)
	legacy := hoist.Policy{ID: hoist.NewID(hoist.PolicyIDPrefix), Name: "Old apt", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup},
		Application: &hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: `^(update|install)\b`, Action: hoist.ActionElevate}, Version: 1}
	if err := s.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertPolicy(ctx, legacy) }); err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	_, list := v.get("/policies")
	if !strings.Contains(list, "needs migration") {
		t.Fatalf("the policies page does not flag the legacy policy:\n%.4000s", list)
	}
	_, body := v.get("/policies/" + legacy.ID)
	if !strings.Contains(body, `id="f-application-args-err"`) || !strings.Contains(body, "no longer supported") {
		t.Fatalf("the edit page does not say the policy needs migration:\n%.4000s", body)
	}
	keep := url.Values{"csrf": {csrf}, "name": {legacy.Name}, "groups": {hoist.DefaultGroup}, "version": {"1"},
		"application.path": {"/usr/bin/apt-get"}, "application.action": {"elevate"}, "application.args": {legacy.Application.Args}}
	if res, _ := v.post("/policies/"+legacy.ID, keep); res.StatusCode != http.StatusOK {
		t.Fatalf("a save with the old args: %d; want the form again", res.StatusCode)
	}
	keep.Del("application.args")
	keep.Set("application.argv", "match: [update]\n")
	if res, body := v.post("/policies/"+legacy.ID, keep); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the migrated save: %d\n%.3000s", res.StatusCode, body)
	}
	if got, _ := s.svc.Policy(ctx, s.admin, legacy.ID); got.Application.Args != "" || got.Application.Argv == nil {
		t.Fatalf("after migration: %+v", got.Application)
	}
}

// textareaValue is the text of the textarea named name.
func textareaValue(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `name="`+name+`"`)
	if i < 0 {
		t.Fatalf("no textarea %s", name)
	}
	rest := body[i:]
	start := strings.Index(rest, ">") + 1
	end := strings.Index(rest, "</textarea>")
	return html.UnescapeString(rest[start:end])
}
