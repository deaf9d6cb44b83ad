// Package console is hoist-server's web console: server-rendered HTML pages
// for the people who approve requests and manage policies, served at "/"
// beside the API.
//
// It is an adapter like package api: it reads forms, calls package control
// (which holds every rule and every permission check) and renders templates.
// Pages work without JavaScript; the one embedded script adds live updates of
// the approval queue, countdowns, "select all" and confirmations.
//
// Safety, in layers: the login lives in an HttpOnly, Secure, SameSite=Strict
// __Host- cookie; every state-changing request must carry a token derived
// from that login (so a page of another origin cannot forge one) and pass
// net/http's cross-origin check (Sec-Fetch-Site, Origin); a strict
// Content-Security-Policy allows scripts and styles from this origin only;
// and a login that is left alone expires (control.KeepAlive slides it while
// it is used).
package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
	"github.com/hoist-jit/hoist/control"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Cookie names. The __Host- prefix makes the browser refuse them unless they
// are Secure, host-only and for the whole site, so no other host or path can
// set or shadow them.
const (
	sessionCookie = "__Host-hoist-session"
	flashCookie   = "__Host-hoist-flash"
	loginCookie   = "__Host-hoist-login"
	// deviceCookie holds the device token of the browser's last sign-in
	// (see control.LoginConsoleWithDevice); it outlasts logouts.
	deviceCookie = "__Host-hoist-device"
)

// maxForm caps a form's body: the largest real one (a policy) is a few
// kilobytes.
const maxForm = 1 << 20

// DefaultIdleTimeout is how long a console login lasts without being used.
const DefaultIdleTimeout = 30 * time.Minute

// Config configures the console.
type Config struct {
	Service *control.Service
	Logger  *slog.Logger
	Clock   func() time.Time
	// IdleTimeout logs out a console left alone this long;
	// DefaultIdleTimeout when zero.
	IdleTimeout time.Duration
}

// Handler serves the console.
type Handler struct {
	svc    *control.Service
	log    *slog.Logger
	clock  func() time.Time
	idle   time.Duration
	pages  map[string]*template.Template
	mux    *http.ServeMux
	cross  *http.CrossOriginProtection
	static http.Handler
}

// New returns the console handler. It panics if the embedded templates do not
// parse, which a test catches before any release.
func New(cfg Config) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	h := &Handler{svc: cfg.Service, log: cfg.Logger, clock: cfg.Clock, idle: cfg.IdleTimeout,
		mux: http.NewServeMux(), cross: http.NewCrossOriginProtection()}
	h.pages = parsePages()
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	h.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	h.routes()
	return h
}

// access says what a route needs before its handler runs.
type access int

const (
	public     access = iota // the login page and the assets
	signedIn                 // any admin account; the action counts as use
	background               // signed in, but polling: it does not keep the login alive
)

// pageFunc handles one route for a signed-in admin (or, for public routes, for
// anyone, with a zero actor). It returns an error for the one error page.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *visit) error

// visit is what the handlers know about the request beyond *http.Request.
type visit struct {
	actor control.Actor
	csrf  string // the token every form of this login carries
	flash flash
}

func (h *Handler) handle(pattern string, acc access, fn pageFunc) {
	h.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, acc, fn)
	}))
}

func (h *Handler) routes() {
	h.mux.Handle("GET /static/", h.assets(h.static))
	h.mux.Handle("GET /favicon.ico", h.assets(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/static/icon.svg"
		h.static.ServeHTTP(w, r2)
	})))
	h.handle("GET /{$}", signedIn, func(w http.ResponseWriter, r *http.Request, v *visit) error {
		http.Redirect(w, r, "/approvals", http.StatusSeeOther)
		return nil
	})
	h.handle("GET /login", public, h.loginPage)
	h.handle("POST /login", public, h.login)
	h.handle("POST /logout", signedIn, h.logout)
	h.handle("GET /sso/start", public, h.ssoStart)
	h.handle("POST /login/passkey/begin", public, h.passkeySignInBegin)
	h.handle("POST /login/passkey/finish", public, h.passkeySignInFinish)
	h.handle("POST /login/totp", public, h.totpSignIn)
	h.handle("GET /sso/callback", public, h.ssoCallback)

	h.handle("GET /approvals", signedIn, h.approvals)
	h.handle("GET /approvals/live", background, h.approvalsLive)
	h.handle("POST /approvals/decide", signedIn, h.decide)
	h.handle("POST /approvals/stepup", signedIn, h.stepUp)
	h.handle("POST /sessions/revoke", signedIn, h.revoke)
	h.handle("GET /requests/{id}", signedIn, h.requestPage)
	h.handle("GET /sessions/{id}", signedIn, h.sessionPage)
	h.handle("GET /commands", signedIn, h.commandsPage)

	h.handle("GET /policies", signedIn, h.policies)
	h.handle("GET /policies/new", signedIn, h.newPolicy)
	h.handle("POST /policies/new", signedIn, h.createPolicy)
	h.handle("GET /policies/{key}", signedIn, h.editPolicy)
	h.handle("POST /policies/{key}", signedIn, h.savePolicy)
	h.handle("POST /policies/{key}/active", signedIn, h.setPolicyActive)
	h.handle("POST /policies/{key}/duplicate", signedIn, h.duplicatePolicy)
	h.handle("POST /policies/{key}/delete", signedIn, h.deletePolicy)

	h.handle("GET /groups", signedIn, h.groups)
	h.handle("POST /groups/new", signedIn, h.createGroup)
	h.handle("GET /groups/{key}", signedIn, h.editGroup)
	h.handle("POST /groups/{key}", signedIn, h.saveGroup)
	h.handle("POST /groups/{key}/config", signedIn, h.saveGroupConfig)
	h.handle("POST /groups/{key}/delete", signedIn, h.deleteGroup)

	h.handle("GET /agents", signedIn, h.agents)
	h.handle("POST /agents/enroll-token", signedIn, h.createEnrollToken)
	h.handle("POST /agents/{id}/revoke", signedIn, h.revokeAgent)
	h.handle("GET /agents/{id}", signedIn, h.agentPage)
	h.handle("POST /agents/{id}/name", signedIn, h.pinAgentName)

	h.handle("GET /account", signedIn, h.account)
	h.handle("POST /account/password", signedIn, h.changePassword)
	h.handle("POST /account/passkeys/begin", signedIn, h.passkeyBegin)
	h.handle("POST /account/passkeys/finish", signedIn, h.passkeyFinish)
	h.handle("POST /account/passkeys/{id}/delete", signedIn, h.passkeyDelete)
	h.handle("POST /account/totp/begin", signedIn, h.totpBegin)
	h.handle("POST /account/totp/confirm", signedIn, h.totpConfirm)
	h.handle("POST /account/totp/delete", signedIn, h.totpDelete)
	h.handle("GET /users", signedIn, h.users)
	h.handle("POST /users/new", signedIn, h.createUser)
	h.handle("POST /users/{name}", signedIn, h.updateUser)
	h.handle("POST /users/{name}/delete", signedIn, h.deleteUser)

	h.handle("GET /integrations", signedIn, h.integrations)
	h.handle("POST /integrations/new", signedIn, h.createIntegration)
	h.handle("POST /integrations/{name}/test", signedIn, h.testIntegration)
	h.handle("POST /integrations/{name}/retry", signedIn, h.retryIntegration)
	h.handle("POST /integrations/{name}/delete", signedIn, h.deleteIntegration)

	h.handle("GET /offline", signedIn, h.offlinePage)
	h.handle("POST /offline/decode", signedIn, h.decodeOffline)
	h.handle("POST /offline/approve", signedIn, h.approveOffline)
	h.handle("GET /emergency", signedIn, h.emergency)
	h.handle("POST /emergency/issue", signedIn, h.issueEmergency)
	h.handle("POST /emergency/{id}/revoke", signedIn, h.revokeEmergency)

	h.handle("GET /audit", signedIn, h.audit)
	h.handle("GET /audit/export", signedIn, h.exportAudit)

	h.handle("GET /sessions/{id}/recordings", signedIn, h.recordingPage)
	h.handle("GET /sessions/{id}/recordings/{n}", signedIn, h.recordingPage)
	h.handle("GET /sessions/{id}/recordings/{n}/cast", signedIn, h.recordingCast)
}

// ServeHTTP answers console requests with the security headers every answer
// carries, then the cross-origin check for anything but GET and HEAD.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=()")
	hd.Set("Strict-Transport-Security", "max-age=31536000")
	if err := h.cross.Check(r); err != nil {
		h.refuseForgery(w, r, "cross-origin request")
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.serve(w, r, public, func(w http.ResponseWriter, r *http.Request, v *visit) error {
			if h.otherMethod(r) {
				h.render(w, r, http.StatusMethodNotAllowed, "error", v, map[string]any{"Status": http.StatusMethodNotAllowed,
					"Title": http.StatusText(http.StatusMethodNotAllowed), "Message": r.Method + " is not how " + r.URL.Path + " is used."})
				return nil
			}
			return hoist.Errorf(hoist.ENotFound, "There is no page at %s.", r.URL.Path)
		})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// otherMethod reports whether the path exists for another method (GET
// /logout, say).
func (h *Handler) otherMethod(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			return true
		}
	}
	return false
}

// assets serves the embedded files; they change only with the binary. The
// directory is not listed.
func (h *Handler) assets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// serve runs one page: sign-in and forgery checks, then fn, then the one
// error page. A panic becomes an error page and the server stays up.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, acc access, fn pageFunc) {
	w.Header().Set("Cache-Control", "no-store")
	v := &visit{}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p) // a deliberate cut of the connection
			}
			h.log.Error("console page panicked", "path", r.URL.Path, "panic", p)
			h.errorPage(w, r, v, hoist.Errorf(hoist.EInternal, "internal error"))
		}
	}()
	if acc != public {
		token := sessionToken(r)
		a, err := h.svc.Authenticate(r.Context(), token)
		if err != nil {
			if hoist.ErrorCode(err) != hoist.EUnauthorized {
				h.errorPage(w, r, v, err)
				return
			}
			h.toLogin(w, r, acc)
			return
		}
		v.actor, v.csrf = a, csrfToken(token)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				h.errorPage(w, r, v, hoist.Errorf(hoist.EInvalid, "the form could not be read"))
				return
			}
			if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(v.csrf)) {
				h.refuseForgery(w, r, "missing or wrong form token")
				return
			}
		}
		if acc == signedIn {
			if err := h.svc.KeepAlive(r.Context(), token, h.idle); err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
				h.log.Warn("cannot extend a console login", "err", err)
			}
		}
	}
	if err := fn(w, r, v); err != nil {
		h.errorPage(w, r, v, err)
	}
}

// toLogin sends a visitor who is not signed in (or whose login expired) to
// the login page, and back here after it. Background polls get a plain 401
// that the script turns into that same trip.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request, acc access) {
	if acc == background {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	next := "/approvals"
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// refuseForgery answers a state-changing request that did not come from a
// console page. Nothing has been done; the refusal is logged, not audited,
// because the request proves nothing about who sent it.
func (h *Handler) refuseForgery(w http.ResponseWriter, r *http.Request, why string) {
	h.log.Warn("console refused a request that may be forged", "path", r.URL.Path, "why", why, "from", remoteIP(r))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte("Refused: this request did not come from a Hoist console page. Nothing was changed.\n"))
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// csrfToken derives the form token from the login token. Only a page that can
// read our HTML knows it, and a new login changes it. Deriving it, rather
// than storing one, keeps replicas and restarts out of it.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("hoist console form token v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// setDeviceCookie keeps the browser's device token for as long as the
// server accepts it.
func setDeviceCookie(w http.ResponseWriter, device string) {
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: device, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		MaxAge: int(hoist.KnownDeviceFor / time.Second)})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// flash is a one-time message shown on the page a form redirects to.
type flash struct {
	OK      bool
	Message string
}

func (h *Handler) setFlash(w http.ResponseWriter, ok bool, message string) {
	// A browser drops a cookie over 4 KB without a word: keep the message
	// well under that once encoded.
	if len(message) > 1500 {
		message = strings.ToValidUTF8(message[:1500], "") + "…"
	}
	kind := "e"
	if ok {
		kind = "o"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: kind + base64.RawURLEncoding.EncodeToString([]byte(message)),
		Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 60})
}

func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) flash {
	c, err := r.Cookie(flashCookie)
	if err != nil || len(c.Value) < 1 || len(c.Value) > 4096 {
		return flash{}
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	msg, err := base64.RawURLEncoding.DecodeString(c.Value[1:])
	if err != nil {
		return flash{}
	}
	return flash{OK: c.Value[0] == 'o', Message: string(msg)}
}

// done ends a successful form: a message, then back to a page (the
// Post/Redirect/Get pattern, so that a reload does not repeat the action).
func (h *Handler) done(w http.ResponseWriter, r *http.Request, to string, ok bool, message string) error {
	h.setFlash(w, ok, message)
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// refused turns a refusal the admin can act on (bad input, a role that
// may not, a change made meanwhile, a busy server) into a message on the
// page at back; any other error is the error page's.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, back string, err error) error {
	switch hoist.ErrorCode(err) {
	case hoist.EInvalid, hoist.EForbidden, hoist.EConflict, hoist.ENotFound, hoist.EUnavailable, hoist.ERateLimited:
		return h.done(w, r, back, false, hoist.ErrorMessage(err))
	}
	return err
}

// errorPage shows err with the status its code maps to.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	code := hoist.ErrorCode(err)
	msg := hoist.ErrorMessage(err)
	status := api.StatusOf(code)
	if status == http.StatusInternalServerError {
		h.log.Error("console page failed", "path", r.URL.Path, "err", err)
		msg = "Something went wrong on the server; the log says what. Nothing has been changed by this page."
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	h.render(w, r, status, "error", v, map[string]any{"Status": status, "Title": http.StatusText(status), "Message": msg})
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeNext returns next when it is a path (and query) of this site, exactly
// as given, and the approvals page otherwise. next is the form or query
// value, decoded once by the form parser; it is never decoded again, so what
// is checked is what the browser gets.
//
// The rule is an allow-list, because browsers are generous readers: a path
// must start with one "/" (not "//" or "/\"); every byte must be visible
// ASCII other than a backslash, quote, angle bracket or backtick (browsers
// drop tabs and newlines and read "\" as "/"; non-ASCII covers look-alikes
// such as the fullwidth solidus U+FF0F); there is no fragment and no "." or
// ".." segment; and a "%" must encode one of a few reserved characters
// (see safeEscape). Anything a decoder further along could turn into a
// slash, backslash, dot, control character, space, "%" or a non-ASCII byte
// is refused here, once, rather than cleaned.
func safeNext(next string) string {
	const home = "/approvals"
	if len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return home
	}
	for i := 0; i < len(next); i++ {
		switch c := next[i]; {
		case c <= ' ' || c >= 0x7f, c == '\\', c == '"', c == '<', c == '>', c == '`', c == '#':
			return home
		case c == '%':
			if i+2 >= len(next) || !safeEscape(next[i+1], next[i+2]) {
				return home
			}
		}
	}
	p, _, _ := strings.Cut(next, "?")
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return home
		}
	}
	if p == "/login" {
		return home // no loop back to the form
	}
	return next
}

// safeEscape reports whether the percent-escape %hi lo stands for one of the
// reserved characters a query value may need escaped: ! # $ & ' ( ) * + , :
// ; = ? @ [ ]. Not "/", "\", "%", ".", letters, digits, controls, space or
// any byte above 0x7f: none of those needs escaping in a link to a console
// page, and each could become a host, a traversal or a second decoding.
func safeEscape(hi, lo byte) bool {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	if !ok1 || !ok2 {
		return false
	}
	return strings.IndexByte("!#$&'()*+,:;=?@[]", h<<4|l) >= 0
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
