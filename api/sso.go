package api

import (
	"net/http"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// ssoStart begins a CLI's sign-in through the identity provider (hoist
// admin login --sso): the answer is the address to open in a browser.
func (h *Handler) ssoStart(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.SSOStartBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if in.Redirect == "" || in.Challenge == "" {
		f := map[string]string{}
		if in.Redirect == "" {
			f["redirect"] = "required"
		}
		if in.Challenge == "" {
			f["challenge"] = "required"
		}
		return &hoist.Error{Code: hoist.EInvalid, Message: "redirect and challenge are required", Fields: f}
	}
	_, url, err := h.svc.StartSSO(r.Context(), control.SSOStart{Redirect: in.Redirect, Challenge: in.Challenge})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.SSOStartAnswer{URL: url})
	return nil
}

// ssoToken turns the one-time code of a CLI's sign-in into a login token.
func (h *Handler) ssoToken(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.SSOTokenBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if in.Code == "" || in.Verifier == "" {
		return &hoist.Error{Code: hoist.EInvalid, Message: "code and verifier are required",
			Fields: map[string]string{"code": "required", "verifier": "required"}}
	}
	res, err := h.svc.RedeemSSO(r.Context(), in.Code, in.Verifier, remoteIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, LoginAnswer{Token: res.Token, ExpiresAt: res.Expires, User: userView(res.Admin)})
	return nil
}
