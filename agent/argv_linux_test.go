package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

// TestArgvRuleRefusesACommandRunningOption is the apt-get -o attack of
// issue 18 on a real root-owned program: a policy elevates find for one
// directory with a few harmless options, and find's -exec (which runs any
// command as root) is refused before anything starts, while the command
// line the policy names runs as root.
func TestArgvRuleRefusesACommandRunningOption(t *testing.T) {
	r := newRig(t)
	// A directory only root may read: find lists it only when elevated.
	dir := filepath.Join(testenv.PublicDir(t), "root-only")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(testenv.PublicDir(t), "ran-as-root")
	r.applyPolicies(hoist.ApplicationRule{Path: "/usr/bin/find", Action: hoist.ActionElevate,
		Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: dir}}, Rest: hoist.RestAny, Options: []string{"-name", "-maxdepth"}}})

	for _, attack := range []string{
		`-exec touch ` + marker + ` \;`,
		`-name secret -exec touch ` + marker + ` \;`,
		`-maxdepth 1 -fprint ` + marker,
	} {
		got := r.sh("", "hoist run -- /usr/bin/find "+dir+" "+attack)
		if got.code != 126 || got.stdout != "" || !strings.Contains(got.stderr, "not in the allowed options") {
			t.Fatalf("hoist run find DIR %s: exit %d, stdout %q, stderr %q; want 126 naming the refused option", attack, got.code, got.stdout, got.stderr)
		}
		if _, err := os.Lstat(marker); err == nil {
			t.Fatalf("find %s ran as root", attack)
		}
	}
	// Joined, the arguments would read the same as the allowed ones; one
	// argument is not two.
	if got := r.sh("", "hoist run -- /usr/bin/find '"+dir+" -name' secret"); got.code != 126 {
		t.Fatalf("one argument holding two: exit %d %q", got.code, got.stderr)
	}

	got := r.sh("", "hoist run -- /usr/bin/find "+dir+" -maxdepth 1 -name secret")
	if got.code != 0 || got.stdout != filepath.Join(dir, "secret")+"\n" {
		t.Fatalf("the allowed command line: exit %d, stdout %q, stderr %q; want root's listing of %s", got.code, got.stdout, got.stderr, dir)
	}

	why := r.sh("", "hoist explain -- /usr/bin/find "+dir+" -name secret -exec id \\;")
	if why.code != 0 || !strings.Contains(why.stdout, `argument 2 "-name": matches rest any`) ||
		!strings.Contains(why.stdout, `argument 4 "-exec": not in the allowed options (-name -maxdepth)`) {
		t.Fatalf("explain of the attack:\n%s%s", why.stdout, why.stderr)
	}
	ok := r.sh("", "hoist explain -- /usr/bin/find "+dir+" -name secret")
	if !strings.Contains(ok.stdout, "runs as root") || !strings.Contains(ok.stdout, `argument 1 "`+dir+`": matches exact`) {
		t.Fatalf("explain of the allowed line:\n%s%s", ok.stdout, ok.stderr)
	}
}
