package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
)

// ssoWait bounds how long hoist admin login --sso waits for the browser.
const ssoWait = 10 * time.Minute

// answerGrace bounds how long the CLI waits for its loopback answer to
// reach the browser once it has the code.
const answerGrace = 5 * time.Second

// loginSSO is hoist admin login --sso: a loopback redirect, as gh and
// tsh do. The CLI listens on 127.0.0.1, asks the server for the identity
// provider's address (with the PKCE challenge of a verifier only it
// knows), and prints it to open in a browser. After the sign-in there the
// server sends the browser to the loopback address with a one-time code,
// which only this process, holding the verifier, can turn into a token.
func loginSSO(env Env, server string, ca []byte) error {
	c, err := client.New(server, ca, "")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return hoist.Errorf(hoist.EUnavailable, "cannot listen on 127.0.0.1 for the browser: %v", err)
	}
	defer ln.Close()
	verifier := newVerifier()
	sum := sha256.Sum256([]byte(verifier))
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), ssoWait)
	defer cancel()
	authURL, err := c.SSOStart(ctx, redirect, base64.RawURLEncoding.EncodeToString(sum[:]))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Open this address in a browser and sign in:\n\n  %s\n\nWaiting for the browser (up to %s)...\n", authURL, hoist.FormatDuration(ssoWait))
	code, err := awaitCode(ctx, ln)
	if err != nil {
		return err
	}
	ans, err := c.SSOToken(ctx, code, verifier)
	if err != nil {
		return err
	}
	if err := saveConfig(env, adminConfig{Server: server, CA: string(ca), User: ans.User.Name, Token: ans.Token}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "logged in to %s as %s (%s) until %s\n", server, ans.User.Name, ans.User.Role, ans.ExpiresAt.Local().Format(time.RFC3339))
	return nil
}

// awaitCode serves the loopback address until a browser brings a code to
// /callback, and returns it.
func awaitCode(ctx context.Context, ln net.Listener) (string, error) {
	got := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := r.URL.Query().Get("code")
		if r.URL.Path != "/callback" || code == "" || len(code) > 200 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Signed in to Hoist. You can close this tab and go back to the terminal.")
		select {
		case got <- code:
		default: // a second visit: the first code is the one
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	select {
	case code := <-got:
		// The handler has the answer written but maybe not sent: Close
		// would cut the connection under it, and the browser would show an
		// error page where it should say the sign-in worked. Shutdown lets
		// the answer out (and closes the idle keep-alive connections), for
		// a few seconds at most: the code is here, the page is a courtesy.
		sent, cancel := context.WithTimeout(context.Background(), answerGrace)
		defer cancel()
		_ = srv.Shutdown(sent)
		return code, nil
	case <-ctx.Done():
		return "", hoist.Errorf(hoist.EUnavailable, "no sign-in came back from the browser within %s; run hoist admin login --sso again", hoist.FormatDuration(ssoWait))
	}
}

// newVerifier is a PKCE code verifier: 43 characters of base64url.
func newVerifier() string {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// loginSSOFlags checks the flags of hoist admin login --sso and runs it.
func loginSSOFlags(env Env, server, user, caFile string, passwordStdin bool) error {
	if server == "" {
		return hoist.Errorf(hoist.EInvalid, "--server is required")
	}
	if user != "" || passwordStdin {
		return hoist.Errorf(hoist.EInvalid, "--sso takes no --user or --password-stdin: the identity provider says who you are")
	}
	var ca []byte
	if caFile != "" {
		var err error
		if ca, err = readCAFile(caFile); err != nil {
			return err
		}
	}
	return loginSSO(env, strings.TrimRight(server, "/"), ca)
}

func readCAFile(path string) ([]byte, error) {
	ca, err := os.ReadFile(path)
	if err != nil {
		return nil, hoist.Errorf(hoist.EInvalid, "cannot read the CA file: %v", err)
	}
	return ca, nil
}
