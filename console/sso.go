package console

import (
	"crypto/subtle"
	"net/http"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// ssoCookie binds a sign-in through the identity provider to the browser
// that started it: it holds the state, and the callback is taken only
// from a browser that has it. SameSite=Lax, unlike the other cookies,
// because the callback is a navigation from the provider's site, on
// which a Strict cookie is not sent.
const ssoCookie = "__Host-hoist-sso"

// ssoStart sends the browser to the identity provider. A link, not a
// form: the Content-Security-Policy's form-action 'self' would stop a
// form's redirect to another site.
func (h *Handler) ssoStart(w http.ResponseWriter, r *http.Request, v *visit) error {
	next := safeNext(r.URL.Query().Get("next"))
	state, auth, err := h.svc.StartSSO(r.Context(), control.SSOStart{Next: next})
	if err != nil {
		if code := hoist.ErrorCode(err); code == hoist.EUnavailable || code == hoist.ENotFound {
			h.loginForm(w, r, v, map[string]any{"Next": next, "Error": hoist.ErrorMessage(err)})
			return nil
		}
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: state, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		MaxAge: int(hoist.SSOLoginTTL.Seconds())})
	http.Redirect(w, r, auth, http.StatusSeeOther)
	return nil
}

// ssoCallback is where the provider sends the browser back: a console
// sign-in lands on a page that goes on to where it was going; a CLI's
// goes on to the CLI's loopback address with its one-time code.
func (h *Handler) ssoCallback(w http.ResponseWriter, r *http.Request, v *visit) error {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		h.loginForm(w, r, v, map[string]any{"Next": "/approvals", "Error": "The identity provider did not sign you in (" + clip(e, 80) + "). Nothing was done."})
		return nil
	}
	state := q.Get("state")
	c, err := r.Cookie(ssoCookie)
	bound := err == nil && c.Value != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) == 1
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	res, err := h.svc.FinishSSO(r.Context(), state, q.Get("code"), remoteIP(r), bound, h.idle)
	if err != nil {
		switch hoist.ErrorCode(err) {
		case hoist.EUnauthorized, hoist.EForbidden, hoist.EUnavailable, hoist.ENotFound:
			h.loginForm(w, r, v, map[string]any{"Next": "/approvals", "Error": hoist.ErrorMessage(err)})
			return nil
		}
		return err
	}
	if res.Handoff != "" {
		http.Redirect(w, r, res.Handoff, http.StatusFound)
		return nil
	}
	// A sign-in over an older one ends the older: one browser, one login.
	if old := sessionToken(r); old != "" {
		if a, err := h.svc.Authenticate(r.Context(), old); err == nil {
			_ = h.svc.Logout(r.Context(), a, old)
		}
	}
	setSessionCookie(w, res.Login.Token)
	// This answer ends a navigation that came from the provider's site,
	// so a redirect from it would still not carry the SameSite=Strict
	// login cookie; a page of this site that moves on by itself does.
	next := safeNext(res.Next)
	h.render(w, r, http.StatusOK, "sso", &visit{}, map[string]any{"Next": next})
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
