package snapshot_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hoist-jit/hoist/snapshot"
)

func TestParseDpkgStatus(t *testing.T) {
	in := "Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\nDescription: x\n more\n .\n\n\n" +
		"Package: libc6\r\nStatus: install ok installed\r\nArchitecture: amd64\r\nMulti-Arch: same\r\nVersion: 2.36\r\n\r\n" +
		"Package: long\nDescription: " + strings.Repeat("y", snapshot.MaxLine*2) + "\nVersion: 1\nStatus: install ok unpacked\n"
	var got []snapshot.Package
	if err := snapshot.ParseDpkgStatus(strings.NewReader(in), func(p snapshot.Package) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	want := []snapshot.Package{
		{Name: "curl", Version: "7.88.1-10", Status: "install ok installed"},
		{Name: "libc6:amd64", Version: "2.36", Status: "install ok installed"},
		{Name: "long", Version: "1", Status: "install ok unpacked"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		status string
		want   bool
	}{{"install ok installed", true}, {"install ok half-configured", true}, {"deinstall ok config-files", false}, {"purge ok not-installed", false}, {"", false}} {
		if got := (snapshot.Package{Status: tc.status}).Installed(); got != tc.want {
			t.Errorf("Installed(%q) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// FuzzParseDpkgStatus: any content parses without panic, within bounds,
// and every package passed on has a name from a Package line.
func FuzzParseDpkgStatus(f *testing.F) {
	f.Add([]byte("Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n\nPackage: a\n"))
	f.Add([]byte("Package:\n\n\n Package: x\nPackage: y\nMulti-Arch: same\nArchitecture: arm64\n"))
	f.Add([]byte("\r\n\r\nPackage: z\r\nVersion: \xff\xfe\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := snapshot.ParseDpkgStatus(bytes.NewReader(data), func(p snapshot.Package) {
			n++
			if p.Name == "" || len(p.Name) > len(data)+1 {
				t.Fatalf("package %+v from %q", p, data)
			}
			if !bytes.Contains(data, []byte(strings.SplitN(p.Name, ":", 2)[0])) {
				t.Fatalf("name %q is not in the input", p.Name)
			}
			_ = utf8.ValidString(p.Version)
		})
		if err != nil {
			t.Fatalf("error %v on an in-memory reader", err)
		}
		if n > snapshot.MaxPackages {
			t.Fatalf("%d packages, over the bound", n)
		}
	})
}

func TestParseAccounts(t *testing.T) {
	var users []snapshot.Account
	data := []byte("# comment\nroot:x:0:0:root:/root:/bin/bash\n+nis::::::\nbad:x:notanumber:0::/:/bin/sh\nshort:x:1\nbob:x:1000:1000::/home/bob:/bin/sh")
	if err := snapshot.ParsePasswd(data, 10, func(a snapshot.Account) { users = append(users, a) }); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[1] != (snapshot.Account{Name: "bob", UID: 1000, GID: 1000, Home: "/home/bob", Shell: "/bin/sh"}) {
		t.Fatalf("users = %+v", users)
	}
	if err := snapshot.ParsePasswd(data, 1, func(snapshot.Account) {}); err != snapshot.ErrTooMany {
		t.Fatalf("over the bound: %v, want ErrTooMany", err)
	}
}
