package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// Offline approval and emergency codes (docs/offline.md): the page where
// an approver turns a challenge read over the phone into a response, and
// the page of emergency codes and offline approvals.

type offlineData struct {
	// Challenge is as typed; Agent picks the machine when several fit.
	Challenge, Agent string
	// Decoded is what the challenge decodes to, once it was checked.
	Decoded *control.OfflineChallengeView
	// Response is the response just issued.
	Response *control.OfflineResponse
}

func (h *Handler) offlinePage(w http.ResponseWriter, r *http.Request, v *visit) error {
	h.render(w, r, http.StatusOK, "offline", v, offlineData{})
	return nil
}

// decodeOffline shows what the typed challenge decodes to, and the For /
// One Time form; a refusal stays on the page with the challenge as typed.
func (h *Handler) decodeOffline(w http.ResponseWriter, r *http.Request, v *visit) error {
	d := offlineData{Challenge: strings.TrimSpace(r.PostForm.Get("challenge")), Agent: strings.TrimSpace(r.PostForm.Get("agent"))}
	dec, err := h.svc.DecodeOfflineChallenge(r.Context(), v.actor, d.Challenge, d.Agent)
	if err != nil {
		return h.offlineRefused(w, r, v, d, err)
	}
	d.Decoded = &dec
	h.render(w, r, http.StatusOK, "offline", v, d)
	return nil
}

// approveOffline issues the response, For the typed duration or One Time.
func (h *Handler) approveOffline(w http.ResponseWriter, r *http.Request, v *visit) error {
	f := r.PostForm
	d := offlineData{Challenge: strings.TrimSpace(f.Get("challenge")), Agent: strings.TrimSpace(f.Get("agent"))}
	var dur time.Duration
	if f.Get("how") != "once" {
		var err error
		if dur, err = hoist.ParseDuration(strings.TrimSpace(f.Get("for"))); err != nil {
			return h.offlineRefused(w, r, v, d, err)
		}
	}
	out, err := h.svc.ApproveOffline(r.Context(), v.actor, d.Challenge, d.Agent, dur)
	if err != nil {
		return h.offlineRefused(w, r, v, d, err)
	}
	d.Response = &out
	h.render(w, r, http.StatusOK, "offline", v, d)
	return nil
}

func (h *Handler) offlineRefused(w http.ResponseWriter, r *http.Request, v *visit, d offlineData, err error) error {
	switch hoist.ErrorCode(err) {
	case hoist.EInvalid, hoist.ENotFound, hoist.EConflict, hoist.EForbidden:
		v.flash = flash{Message: hoist.ErrorMessage(err)}
		h.render(w, r, http.StatusOK, "offline", v, d)
		return nil
	}
	return err
}

type emergencyData struct {
	Codes []hoist.EmergencyCode
	// Issued are the codes just issued, with their values: shown once.
	Issued []control.IssuedCode
	// Offline are the offline approvals: responses issued and used.
	Offline []hoist.AuditRecord
	Now     time.Time
}

func (h *Handler) emergencyPage(w http.ResponseWriter, r *http.Request, v *visit, d emergencyData) error {
	codes, err := h.svc.EmergencyCodes(r.Context(), v.actor)
	if err != nil {
		return err
	}
	d.Codes, d.Now = codes, h.clock()
	if hoist.Can(v.actor.Role, hoist.PermitReadAudit) {
		for _, action := range []string{control.AuditOfflineResponse, control.AuditOfflineUsed, control.AuditEmergencyUsed} {
			err := h.svc.Audit(r.Context(), v.actor, hoist.AuditFilter{Action: action, Newest: true, Limit: 50}, func(rec hoist.AuditRecord) error {
				d.Offline = append(d.Offline, rec)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	h.render(w, r, http.StatusOK, "emergency", v, d)
	return nil
}

func (h *Handler) emergency(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.emergencyPage(w, r, v, emergencyData{})
}

func (h *Handler) issueEmergency(w http.ResponseWriter, r *http.Request, v *visit) error {
	f := r.PostForm
	var target, group string
	if f.Get("kind") == "group" {
		group = strings.TrimSpace(f.Get("target"))
	} else {
		target = strings.TrimSpace(f.Get("target"))
	}
	count, _ := strconv.Atoi(strings.TrimSpace(f.Get("count")))
	var window time.Duration
	if s := strings.TrimSpace(f.Get("window")); s != "" {
		var err error
		if window, err = hoist.ParseDuration(s); err != nil {
			return h.refused(w, r, "/emergency", err)
		}
	}
	issued, err := h.svc.IssueEmergencyCodes(r.Context(), v.actor, target, group, count, window)
	if err != nil {
		return h.refused(w, r, "/emergency", err)
	}
	v.flash = flash{OK: true, Message: "Issued " + strconv.Itoa(len(issued)) + " emergency codes. Note them now: they are not shown again."}
	return h.emergencyPage(w, r, v, emergencyData{Issued: issued})
}

func (h *Handler) revokeEmergency(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("id")
	if _, err := h.svc.RevokeEmergencyCode(r.Context(), v.actor, id); err != nil {
		return h.refused(w, r, "/emergency", err)
	}
	return h.done(w, r, "/emergency", true, "Revoked emergency code "+id+"; machines drop it at their next check-in.")
}
