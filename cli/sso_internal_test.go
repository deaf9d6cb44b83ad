package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestLoopbackAnswerReachesTheBrowser: the browser that brings the code to
// the CLI's loopback address gets the page that says it is signed in, whole,
// every time: the CLI, which has what it waited for, must not close the
// connection before the answer is out (the browser would show an error page,
// and a test waiting for the page would time out).
func TestLoopbackAnswerReachesTheBrowser(t *testing.T) {
	for i := range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 1)
		go func() {
			code, _ := awaitCode(context.Background(), ln)
			done <- code
		}()
		resp, err := http.Get("http://" + ln.Addr().String() + "/callback?code=abc")
		if err != nil {
			t.Fatalf("visit %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.Contains(string(body), "Signed in to Hoist") {
			t.Fatalf("visit %d: the browser got %q (%v), want the signed-in page", i, body, err)
		}
		if code := <-done; code != "abc" {
			t.Fatalf("visit %d: the CLI got code %q, want abc", i, code)
		}
		ln.Close()
	}
}
