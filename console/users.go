package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

type usersData struct {
	Users []hoist.Admin
	Roles []hoist.Role
	Me    string
	// New holds a refused new account's name and role (never the password).
	NewName string
	NewRole string
	// NewUnixNames and NewGroups are a refused new account's lists, as typed.
	NewUnixNames, NewGroups string
	// Groups names the computer groups, for the approver groups hint.
	Groups []string
}

func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, v *visit, d usersData) error {
	var err error
	if d.Users, err = h.svc.Admins(r.Context(), v.actor); err != nil {
		return err
	}
	slices.SortFunc(d.Users, func(a, b hoist.Admin) int { return strings.Compare(a.Name, b.Name) })
	d.Roles, d.Me = []hoist.Role{hoist.RoleAdmin, hoist.RoleApprover, hoist.RoleAuditor}, v.actor.Name
	gs, err := h.svc.Groups(r.Context(), v.actor)
	if err != nil {
		return err
	}
	for _, g := range gs {
		d.Groups = append(d.Groups, g.Name)
	}
	if d.NewRole == "" {
		d.NewRole = string(hoist.RoleApprover)
	}
	h.render(w, r, http.StatusOK, "users", v, d)
	return nil
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.usersPage(w, r, v, usersData{})
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	in := control.AdminInput{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: hoist.Role(r.PostForm.Get("role")), Password: r.PostForm.Get("password")}
	unixNames, groups := formList(r.PostForm.Get("unix_names")), formList(r.PostForm.Get("approver_groups"))
	in.UnixNames, in.ApproverGroups = &unixNames, &groups
	if in.Password != r.PostForm.Get("password2") {
		return h.done(w, r, "/users", false, "The two passwords differ; nothing was created.")
	}
	a, err := h.svc.CreateAdmin(r.Context(), v.actor, in)
	if err != nil {
		switch hoist.ErrorCode(err) {
		case hoist.EInvalid, hoist.EConflict:
			// Keep what was typed (but the password) beside the reason.
			v.flash = flash{Message: hoist.ErrorMessage(err) + " Nothing was created."}
			return h.usersPage(w, r, v, usersData{NewName: in.Name, NewRole: string(in.Role),
				NewUnixNames: r.PostForm.Get("unix_names"), NewGroups: r.PostForm.Get("approver_groups")})
		}
		return h.refused(w, r, "/users", err)
	}
	return h.done(w, r, "/users", true, "Created "+string(a.Role)+" account "+a.Name+".")
}

// updateUser changes one thing at a time: the role, the password, whether
// the account may sign in, its Unix names or its approver groups.
func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	in := control.AdminInput{Name: r.PathValue("name")}
	var what string
	switch r.PostForm.Get("change") {
	case "role":
		in.Role, what = hoist.Role(r.PostForm.Get("role")), "Changed the role of "
		if in.Role == "" {
			return h.done(w, r, "/users", false, "Choose a role.")
		}
	case "password":
		in.Password, what = r.PostForm.Get("password"), "Set a new password for "
		if in.Password == "" {
			return h.done(w, r, "/users", false, "Type the new password.")
		}
	case "disable", "enable":
		off := r.PostForm.Get("change") == "disable"
		in.Disabled, what = &off, map[bool]string{true: "Disabled ", false: "Enabled "}[off]
	case "unix_names":
		l := formList(r.PostForm.Get("unix_names"))
		in.UnixNames, what = &l, "Set the Unix names of "
	case "approver_groups":
		l := formList(r.PostForm.Get("approver_groups"))
		in.ApproverGroups, what = &l, "Set the approver groups of "
	default:
		return hoist.Errorf(hoist.EInvalid, "unknown change: role, password, disable, enable, unix_names or approver_groups")
	}
	a, err := h.svc.UpdateAdmin(r.Context(), v.actor, in)
	if err != nil {
		return h.refused(w, r, "/users", err)
	}
	return h.done(w, r, "/users", true, what+a.Name+".")
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	if err := h.svc.DeleteAdmin(r.Context(), v.actor, name); err != nil {
		return h.refused(w, r, "/users", err)
	}
	return h.done(w, r, "/users", true, "Deleted account "+name+".")
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.accountData(r, v)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "account", v, d)
	return nil
}

func (h *Handler) accountData(r *http.Request, v *visit) (accountData, error) {
	d := accountData{PasskeysOn: h.svc.PasskeysEnabled()}
	var err error
	if d.PasskeysOn {
		if d.Passkeys, err = h.svc.Passkeys(r.Context(), v.actor); err != nil {
			return d, err
		}
	}
	d.TOTPOn, err = h.svc.TOTPOn(r.Context(), v.actor)
	return d, err
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, v *visit) error {
	next := r.PostForm.Get("password")
	if next != r.PostForm.Get("password2") {
		return h.done(w, r, "/account", false, "The two new passwords differ; the password is unchanged.")
	}
	if err := h.svc.ChangeOwnPassword(r.Context(), v.actor, remoteIP(r), r.PostForm.Get("current"), next); err != nil {
		return h.refused(w, r, "/account", err)
	}
	clearSessionCookie(w)
	h.setFlash(w, true, "Your password is changed. Sign in with the new one.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// formList reads a comma-separated list from a form field; an empty field
// is an empty list. The lists are bounded and checked by the service.
func formList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
