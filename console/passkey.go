package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
	"github.com/hoist-jit/hoist/control"
)

// Passkeys in the console: registered and removed on the account page,
// asked for by Approve when a selected request's policy wants one. The
// page's script runs the browser's WebAuthn ceremony; the server's
// answers here are JSON for it, behind the same sign-in and form token as
// every form.

// decisionOf is the decision a form of the approvals page makes, as a
// step-up binds it: the ids and the window chosen (the typed one winning,
// as decide reads it).
func decisionOf(r *http.Request) control.Decision {
	window := "once"
	if r.PostForm.Get("action") != "once" {
		window = strings.TrimSpace(r.PostForm.Get("for_custom"))
		if window == "" {
			window = r.PostForm.Get("for")
		}
	}
	return control.Decision{IDs: r.PostForm["id"], Window: window}
}

// approver returns how decide approves: with the step-up the form carries
// (checked here, once for the whole form), or without one.
func (h *Handler) approver(r *http.Request, v *visit, ids []string) (func(ids []string, d time.Duration) ([]control.Result, error), error) {
	plain := func(ids []string, d time.Duration) ([]control.Result, error) {
		return h.svc.Approve(r.Context(), v.actor, ids, d, "")
	}
	answer := r.PostForm.Get("assertion")
	if answer == "" || r.PostForm.Get("action") == "deny" {
		return plain, nil
	}
	proof, err := h.svc.VerifyStepUp(r.Context(), v.actor, decisionOf(r), []byte(answer))
	if err != nil {
		return nil, err
	}
	return func(ids []string, d time.Duration) ([]control.Result, error) {
		return h.svc.ApproveStepped(r.Context(), v.actor, ids, d, "", proof)
	}, nil
}

// stepUp answers the page's script with the options of a passkey check
// for the decision the form would send.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, v *visit) error {
	opts, err := h.svc.BeginStepUp(r.Context(), v.actor, decisionOf(r))
	return h.jsonAnswer(w, opts, err)
}

func (h *Handler) passkeyBegin(w http.ResponseWriter, r *http.Request, v *visit) error {
	opts, err := h.svc.BeginPasskeyRegistration(r.Context(), v.actor)
	return h.jsonAnswer(w, opts, err)
}

func (h *Handler) passkeyFinish(w http.ResponseWriter, r *http.Request, v *visit) error {
	k, err := h.svc.FinishPasskeyRegistration(r.Context(), v.actor, r.PostForm.Get("name"), []byte(r.PostForm.Get("answer")))
	if err == nil {
		h.setFlash(w, true, "Added the passkey "+k.Name+".")
	}
	return h.jsonAnswer(w, json.RawMessage(`{"ok":true}`), err)
}

func (h *Handler) passkeyDelete(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.RemovePasskey(r.Context(), v.actor, r.PathValue("id")); err != nil {
		return h.refused(w, r, "/account", err)
	}
	return h.done(w, r, "/account", true, "Removed the passkey.")
}

// jsonAnswer writes body, or err as the API's JSON error (with its
// status), for the page's script.
func (h *Handler) jsonAnswer(w http.ResponseWriter, body json.RawMessage, err error) error {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := api.StatusOf(hoist.ErrorCode(err))
		msg := hoist.ErrorMessage(err)
		if status == http.StatusInternalServerError {
			h.log.Error("console passkey step failed", "err", err)
			msg = "Something went wrong on the server; the log says what."
		}
		w.WriteHeader(status)
		return json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	_, werr := w.Write(body)
	return werr
}

// accountData is the account page's.
type accountData struct {
	PasskeysOn bool
	Passkeys   []hoist.Passkey
	// TOTPOn says the account has an authenticator app; TOTPSetup is one
	// being set up, shown once.
	TOTPOn    bool
	TOTPSetup *control.TOTPSetup
}
