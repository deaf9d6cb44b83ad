package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// factorCookie holds the ticket of a sign-in whose password was right and
// whose passkey step is to come; only this browser has it.
const factorCookie = "__Host-hoist-factor"

// askSecondFactor draws the passkey step of a sign-in.
func (h *Handler) askSecondFactor(w http.ResponseWriter, r *http.Request, v *visit, res control.LoginResult, next string) {
	if res.Device != "" {
		setDeviceCookie(w, res.Device)
	}
	http.SetCookie(w, &http.Cookie{Name: factorCookie, Value: res.SecondFactor, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 300})
	h.render(w, r, http.StatusOK, "login", v, map[string]any{"Next": next, "Factor": true, "User": res.Admin.Name,
		"Passkey": slices.Contains(res.Factors, "passkey"), "TOTP": slices.Contains(res.Factors, "totp")})
}

// totpSignIn finishes a sign-in with the authenticator app's code.
func (h *Handler) totpSignIn(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := readSmallForm(w, r); err != nil {
		return err
	}
	var ticket string
	if c, err := r.Cookie(factorCookie); err == nil {
		ticket = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: factorCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	next := safeNext(r.PostForm.Get("next"))
	res, err := h.svc.FinishTOTPSignIn(r.Context(), ticket, strings.TrimSpace(r.PostForm.Get("code")), remoteIP(r), h.idle)
	if err != nil {
		if hoist.ErrorCode(err) != hoist.EUnauthorized {
			return err
		}
		h.loginForm(w, r, v, map[string]any{"Next": next, "Error": hoist.ErrorMessage(err)})
		return nil
	}
	if old := sessionToken(r); old != "" {
		if a, err := h.svc.Authenticate(r.Context(), old); err == nil {
			_ = h.svc.Logout(r.Context(), a, old)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	setSessionCookie(w, res.Token)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (h *Handler) totpBegin(w http.ResponseWriter, r *http.Request, v *visit) error {
	setup, err := h.svc.BeginTOTP(r.Context(), v.actor)
	if err != nil {
		return h.refused(w, r, "/account", err)
	}
	d, err := h.accountData(r, v)
	if err != nil {
		return err
	}
	d.TOTPSetup = &setup
	h.render(w, r, http.StatusOK, "account", v, d)
	return nil
}

func (h *Handler) totpConfirm(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.ConfirmTOTP(r.Context(), v.actor, strings.TrimSpace(r.PostForm.Get("code"))); err != nil {
		return h.refused(w, r, "/account", err)
	}
	return h.done(w, r, "/account", true, "Your authenticator app is set up: it is a second factor of your sign-in now.")
}

func (h *Handler) totpDelete(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.RemoveTOTP(r.Context(), v.actor); err != nil {
		return h.refused(w, r, "/account", err)
	}
	return h.done(w, r, "/account", true, "Removed the authenticator app.")
}

// readSmallForm parses a public POST's form, bounded.
func readSmallForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 128<<10)
	if err := r.ParseForm(); err != nil {
		return hoist.Errorf(hoist.EInvalid, "the form could not be read")
	}
	return nil
}

// passkeySignInBegin spends the browser's ticket for the options of the
// passkey check.
func (h *Handler) passkeySignInBegin(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := readSmallForm(w, r); err != nil {
		return h.jsonAnswer(w, nil, err)
	}
	var ticket string
	if c, err := r.Cookie(factorCookie); err == nil {
		ticket = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: factorCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	opts, err := h.svc.BeginPasskeySignIn(r.Context(), ticket)
	return h.jsonAnswer(w, opts, err)
}

// passkeySignInFinish checks the passkey's answer and signs the browser
// in; the script goes on to next.
func (h *Handler) passkeySignInFinish(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := readSmallForm(w, r); err != nil {
		return h.jsonAnswer(w, nil, err)
	}
	res, err := h.svc.FinishPasskeySignIn(r.Context(), []byte(r.PostForm.Get("answer")), remoteIP(r), h.idle)
	if err != nil {
		return h.jsonAnswer(w, nil, err)
	}
	if old := sessionToken(r); old != "" {
		if a, err := h.svc.Authenticate(r.Context(), old); err == nil {
			_ = h.svc.Logout(r.Context(), a, old)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	setSessionCookie(w, res.Token)
	body, _ := json.Marshal(map[string]string{"next": safeNext(r.PostForm.Get("next"))})
	return h.jsonAnswer(w, body, nil)
}
