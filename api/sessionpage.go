package api

import (
	"net/http"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// sessionPage adds to v what the session's page shows, when the caller may
// see it (control.Service.SessionView says who may).
func (h *Handler) sessionPage(r *http.Request, v SessionView) (wire.SessionPage, error) {
	page := wire.SessionPage{SessionView: v}
	sv, err := h.svc.SessionView(r.Context(), actorFrom(r.Context()), v.ID)
	if hoist.ErrorCode(err) == hoist.EForbidden {
		page.DetailsHidden = hoist.ErrorMessage(err)
		return page, nil
	}
	if err != nil {
		return page, err
	}
	if sv.Request != nil {
		page.Reason = sv.Request.Reason
	}
	page.Approvers = sv.Approvers
	page.Commands = &sv.Commands
	page.CommandsSource, page.CommandsComplete = sv.CommandsSource, sv.CommandsFinal
	page.CommandsOmitted, page.CommandsLost, page.CommandsSummary = sv.CommandsOmitted, sv.CommandsLost, sv.CommandsSummary
	changes := make([]wire.ChangeView, 0, len(sv.Changes))
	for _, c := range sv.Changes {
		changes = append(changes, wire.ChangeView(c))
	}
	page.Changes, page.ChangesOmitted = &changes, sv.ChangesOmitted
	return page, nil
}

// searchCommands answers GET /api/v1/commands?q=TEXT[&limit=N]: the
// programs run in sessions whose name or arguments contain TEXT.
func (h *Handler) searchCommands(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "q", "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 1, hoist.MaxListLimit)
	if err != nil {
		return err
	}
	match, err := textParam(q, "q")
	if err != nil {
		return err
	}
	cmds, err := h.svc.SearchCommands(r.Context(), actorFrom(r.Context()), match, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"commands": cmds})
	return nil
}
