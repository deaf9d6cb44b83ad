package api

import (
	"context"
	"net/http"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

func (h *Handler) listPolicies(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ps, err := h.svc.Policies(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []hoist.Policy{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": ps})
	return nil
}

func (h *Handler) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := h.svc.Policy(r.Context(), actorFrom(r.Context()), r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *Handler) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var in hoist.Policy
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	p, err := h.svc.CreatePolicy(r.Context(), actorFrom(r.Context()), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h.linted(r.Context(), p))
	return nil
}

// linted is p as stored with the policy linter's warnings about it (its
// refusals refused the change before it was stored).
func (h *Handler) linted(ctx context.Context, p hoist.Policy) wire.PolicySaved {
	out := wire.PolicySaved{Policy: p, Warnings: hoist.LintWarnings(hoist.LintPolicy(p))}
	// The policy is saved already: a warning that cannot be read is left out.
	if ws, err := h.svc.ApproverWarnings(ctx, p); err == nil {
		out.Warnings = append(out.Warnings, ws...)
	}
	return out
}

func (h *Handler) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	var in hoist.Policy
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	p, err := h.svc.UpdatePolicy(r.Context(), actorFrom(r.Context()), r.PathValue("key"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.linted(r.Context(), p))
	return nil
}

func (h *Handler) activatePolicy(w http.ResponseWriter, r *http.Request) error {
	return h.setPolicyActive(w, r, true)
}

func (h *Handler) deactivatePolicy(w http.ResponseWriter, r *http.Request) error {
	return h.setPolicyActive(w, r, false)
}

func (h *Handler) setPolicyActive(w http.ResponseWriter, r *http.Request, active bool) error {
	p, err := h.svc.SetPolicyActive(r.Context(), actorFrom(r.Context()), r.PathValue("key"), active)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *Handler) duplicatePolicy(w http.ResponseWriter, r *http.Request) error {
	var in wire.DuplicateBody
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	p, err := h.svc.DuplicatePolicy(r.Context(), actorFrom(r.Context()), r.PathValue("key"), in.Name, in.Groups)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (h *Handler) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeletePolicy(r.Context(), actorFrom(r.Context()), r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	gs, err := h.svc.Groups(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []hoist.ComputerGroup{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": gs})
	return nil
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.svc.Group(r.Context(), actorFrom(r.Context()), r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) error {
	var in hoist.ComputerGroup
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	g, err := h.svc.CreateGroup(r.Context(), actorFrom(r.Context()), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, g)
	return nil
}

func (h *Handler) updateGroup(w http.ResponseWriter, r *http.Request) error {
	var in hoist.ComputerGroup
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	g, err := h.svc.UpdateGroup(r.Context(), actorFrom(r.Context()), r.PathValue("key"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (h *Handler) setGroupConfig(w http.ResponseWriter, r *http.Request) error {
	var in hoist.AgentConfig
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	g, err := h.svc.SetGroupConfig(r.Context(), actorFrom(r.Context()), r.PathValue("key"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteGroup(r.Context(), actorFrom(r.Context()), r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeBody reads a JSON object body strictly into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}
