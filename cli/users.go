package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/wire"
)

// newUsers is "hoist admin users": the console and API accounts, with the
// Unix names that are theirs and the computer groups they approve for.
func newUsers(env Env) *cobra.Command {
	users := &cobra.Command{Use: "users", Short: "Console and API accounts: roles, Unix identities, approver groups"}
	users.AddCommand(newUsersLs(env), newUsersCreate(env), newUsersSet(env), newUsersSetRole(env),
		newUsersSwitch(env, "disable", true), newUsersSwitch(env, "enable", false), newUsersDelete(env))
	refuseUnknown(users)
	return users
}

func newUsersLs(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "ls [--json]", "List the accounts", cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		us, err := c.Users(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(env.Stdout, us)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tUNIX NAMES\tAPPROVES FOR")
		for _, u := range us {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, state, listOr(u.UnixNames, "-"), listOr(u.ApproverGroups, "all groups"))
		}
		return tw.Flush()
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func listOr(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	return strings.Join(names, ",")
}

// identityFlags are --unix-names and --approver-groups, comma-separated
// lists that replace the account's; "" clears one.
type identityFlags struct {
	unixNames, groups string
}

func (f *identityFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.unixNames, "unix-names", "", "comma-separated Unix accounts that are this account's (nobody approves their own); \"\" clears")
	cmd.Flags().StringVar(&f.groups, "approver-groups", "", "comma-separated computer groups this account approves for; \"\" means every group")
}

// set puts the lists given on the command line into body.
func (f *identityFlags) set(cmd *cobra.Command, body *wire.UserBody) {
	if cmd.Flags().Changed("unix-names") {
		l := splitList(f.unixNames)
		body.UnixNames = &l
	}
	if cmd.Flags().Changed("approver-groups") {
		l := splitList(f.groups)
		body.ApproverGroups = &l
	}
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newUsersCreate(env Env) *cobra.Command {
	var (
		role          string
		passwordStdin bool
		asJSON        bool
		ids           identityFlags
	)
	cmd := adminCommand(env, "create NAME --role ROLE --password-stdin [--unix-names A,B] [--approver-groups G,H] [--json]",
		"Create an account (roles: admin, approver, auditor)", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			if !passwordStdin {
				return hoist.Errorf(hoist.EInvalid, "give the new account's password on standard input with --password-stdin")
			}
			pw, err := bufio.NewReader(io.LimitReader(env.Stdin, 4096)).ReadString('\n')
			if err != nil && err != io.EOF {
				return hoist.Errorf(hoist.EInvalid, "cannot read the password from standard input")
			}
			body := wire.UserBody{Name: args[0], Role: role, Password: strings.TrimRight(pw, "\r\n")}
			ids.set(cmd, &body)
			ctx, cancel := timeout()
			defer cancel()
			u, err := c.CreateUser(ctx, body)
			if err != nil {
				return err
			}
			return printUser(env, u, asJSON, "created")
		})
	cmd.Flags().StringVar(&role, "role", string(hoist.RoleApprover), "admin, approver or auditor")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	ids.add(cmd)
	return cmd
}

func newUsersSet(env Env) *cobra.Command {
	var (
		role   string
		asJSON bool
		ids    identityFlags
	)
	cmd := adminCommand(env, "set NAME [--role ROLE] [--unix-names A,B] [--approver-groups G,H] [--json]",
		"Change an account's role, Unix names or approver groups; what is not given stays", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			body := wire.UserBody{Role: role}
			ids.set(cmd, &body)
			if body == (wire.UserBody{}) {
				return hoist.Errorf(hoist.EInvalid, "nothing to change: give --role, --unix-names or --approver-groups")
			}
			return updateUser(env, c, args[0], body, asJSON, "changed")
		})
	cmd.Flags().StringVar(&role, "role", "", "admin, approver or auditor")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	ids.add(cmd)
	return cmd
}

func newUsersSetRole(env Env) *cobra.Command {
	return adminCommand(env, "set-role NAME ROLE", "Change an account's role", cobra.ExactArgs(2), func(c *client.Client, cmd *cobra.Command, args []string) error {
		return updateUser(env, c, args[0], wire.UserBody{Role: args[1]}, false, "changed")
	})
}

func newUsersSwitch(env Env, verb string, off bool) *cobra.Command {
	return adminCommand(env, verb+" NAME", strings.ToUpper(verb[:1])+verb[1:]+" an account's sign-in", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		return updateUser(env, c, args[0], wire.UserBody{Disabled: &off}, false, verb+"d")
	})
}

func newUsersDelete(env Env) *cobra.Command {
	return adminCommand(env, "delete NAME", "Delete an account; its logins end", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		if err := c.DeleteUser(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted %s\n", args[0])
		return nil
	})
}

func updateUser(env Env, c *client.Client, name string, body wire.UserBody, asJSON bool, verb string) error {
	ctx, cancel := timeout()
	defer cancel()
	u, err := c.UpdateUser(ctx, name, body)
	if err != nil {
		return err
	}
	return printUser(env, u, asJSON, verb)
}

func printUser(env Env, u wire.UserView, asJSON bool, verb string) error {
	if asJSON {
		return printJSON(env.Stdout, u)
	}
	state := ""
	if u.Disabled {
		state = ", disabled"
	}
	fmt.Fprintf(env.Stdout, "%s %s (%s%s); unix names: %s; approves for: %s\n", verb, u.Name, u.Role, state,
		listOr(u.UnixNames, "-"), listOr(u.ApproverGroups, "all groups"))
	return nil
}
