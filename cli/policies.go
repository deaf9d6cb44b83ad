package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
)

// maxPolicyFile bounds a policy or group file: they are a few lines.
const maxPolicyFile = 1 << 20

// readSpec reads a YAML or JSON file ("-" for standard input) strictly into
// v: a misspelt field is an error, not a silent default.
func readSpec(env Env, path string, v any) error {
	if path == "" {
		return hoist.Errorf(hoist.EInvalid, "name the file with -f FILE (YAML or JSON; - for standard input)")
	}
	var r io.Reader
	if path == "-" {
		r = env.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return hoist.Errorf(hoist.EInvalid, "cannot read %s: %v", path, err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyFile+1))
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot read %s: %v", path, err)
	}
	if len(data) > maxPolicyFile {
		return hoist.Errorf(hoist.EInvalid, "%s is larger than %d bytes", path, maxPolicyFile)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "%s is not YAML or JSON: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return hoist.Errorf(hoist.EInvalid, "%s: field %q has the wrong type (%s where %s is wanted)", path, typ.Field, typ.Value, typ.Type)
		}
		return hoist.Errorf(hoist.EInvalid, "%s: %s", path, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// printSpec prints v as JSON, or as YAML for people.
func printSpec(w io.Writer, v any, asJSON bool) error {
	if asJSON {
		return printJSON(w, v)
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

func newPolicies(env Env) *cobra.Command {
	root := &cobra.Command{Use: "policies", Short: "Application and JIT policies: ls, show, create, edit, lint, activate, deactivate, duplicate, delete"}
	var asJSON bool

	ls := adminCommand(env, "ls [--json]", "List the policies", cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		ps, err := c.Policies(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(env.Stdout, ps)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tACTIVE\tPRIORITY\tGROUPS\tACTION")
		for _, p := range ps {
			action := "-"
			if p.Application != nil {
				action = p.Application.Action + " " + p.Application.Path
				if p.Application.Args != "" {
					action += " (needs migration: args)"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.ID, p.Name, p.Kind, yesNo(p.Active), p.Priority, strings.Join(p.Groups, ", "), action)
		}
		return tw.Flush()
	})
	ls.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")

	show := adminCommand(env, "show ID|NAME [--json]", "Show one policy (YAML, or JSON with --json)", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		p, err := c.Policy(ctx, args[0])
		if err != nil {
			return err
		}
		if err := p.Validate(); err != nil && !asJSON {
			// A stored policy of an older form (args): say what to change
			// before edit will take it.
			fmt.Fprintf(env.Stderr, "this policy needs migration before it can be saved or turned on: %s\n", hoist.ErrorMessage(err))
		}
		return printSpec(env.Stdout, p, asJSON)
	})
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var file string
	create := adminCommand(env, "create -f FILE", "Create a policy from a YAML or JSON file, validated before it is stored", cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
		var p hoist.Policy
		if err := readSpec(env, file, &p); err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return err
		}
		ctx, cancel := timeout()
		defer cancel()
		got, err := c.CreatePolicyLinted(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created policy %q (%s), %s\n", got.Name, got.ID, activeWord(got.Active))
		printFindings(env.Stderr, got.Warnings)
		return nil
	})
	create.Flags().StringVarP(&file, "file", "f", "", "the policy, YAML or JSON (- for standard input)")

	edit := adminCommand(env, "edit ID|NAME -f FILE", "Replace a policy with the file's (its version must be the one stored)", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		var p hoist.Policy
		if err := readSpec(env, file, &p); err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return err
		}
		ctx, cancel := timeout()
		defer cancel()
		got, err := c.UpdatePolicyLinted(ctx, args[0], p)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "updated policy %q (%s) to version %d, %s\n", got.Name, got.ID, got.Version, activeWord(got.Active))
		printFindings(env.Stderr, got.Warnings)
		return nil
	})
	edit.Flags().StringVarP(&file, "file", "f", "", "the policy, YAML or JSON (- for standard input)")

	// lint needs no server: the linter is the same pure function the server
	// runs on every create and edit (a server of another version may know
	// more or fewer programs).
	var lintJSON bool
	lint := &cobra.Command{Use: "lint -f FILE [--json]", Short: "Lint a policy file without storing it: exit 1 when the server would refuse it",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
			var p hoist.Policy
			if err := readSpec(env, file, &p); err != nil {
				return err
			}
			if err := p.Validate(); err != nil {
				return err
			}
			fs := hoist.LintPolicy(p)
			if lintJSON {
				if fs == nil {
					fs = []hoist.LintFinding{}
				}
				if err := printJSON(env.Stdout, fs); err != nil {
					return err
				}
			} else if len(fs) == 0 {
				fmt.Fprintln(env.Stdout, "no findings")
			} else {
				printFindings(env.Stdout, fs)
			}
			if hoist.LintError(fs) != nil {
				return exitStatus{Code: 1}
			}
			return nil
		}}
	lint.Flags().StringVarP(&file, "file", "f", "", "the policy, YAML or JSON (- for standard input)")
	lint.Flags().BoolVar(&lintJSON, "json", false, "print the findings as a JSON array")

	toggle := func(active bool) *cobra.Command {
		verb := "deactivate"
		if active {
			verb = "activate"
		}
		return adminCommand(env, verb+" ID|NAME...", strings.ToUpper(verb[:1])+verb[1:]+" policies", cobra.MinimumNArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			for _, key := range args {
				p, err := c.SetPolicyActive(ctx, key, active)
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				fmt.Fprintf(env.Stdout, "policy %q is %s\n", p.Name, activeWord(p.Active))
			}
			return nil
		})
	}

	var (
		newName string
		groups  []string
	)
	dup := adminCommand(env, "duplicate ID|NAME [--name NEW] [--group GROUP]...", "Copy a policy, for other computer groups; the copy starts inactive", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		p, err := c.DuplicatePolicy(ctx, args[0], newName, groups)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created policy %q (%s) for %s, inactive\n", p.Name, p.ID, strings.Join(p.Groups, ", "))
		return nil
	})
	dup.Flags().StringVar(&newName, "name", "", "name of the copy (default: NAME (copy))")
	dup.Flags().StringArrayVar(&groups, "group", nil, "computer group the copy targets (repeat for several; default: the original's)")

	var yes bool
	del := adminCommand(env, "delete ID|NAME... [--yes]", "Delete policies (a JIT policy only with --yes: without it JIT mode stops)", cobra.MinimumNArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		for _, key := range args {
			p, err := c.Policy(ctx, key)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			if p.Kind != hoist.KindApplication && !yes {
				return hoist.Errorf(hoist.EInvalid, "%q is one of the three JIT policies: without it JIT mode stops on its groups. "+
					"Deactivate it instead (hoist admin policies deactivate), or add --yes to delete it", p.Name)
			}
		}
		for _, key := range args {
			if err := c.DeletePolicy(ctx, key); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			fmt.Fprintf(env.Stdout, "deleted policy %s\n", key)
		}
		return nil
	})
	del.Flags().BoolVar(&yes, "yes", false, "delete JIT policies too")
	root.AddCommand(ls, show, create, edit, toggle(true), toggle(false), dup, del, lint)
	refuseUnknown(root)
	return root
}

// printFindings prints the policy linter's findings one a line, as
// "warning: FIELD: MESSAGE" (or "refusal: ...").
func printFindings(w io.Writer, fs []hoist.LintFinding) {
	for _, f := range fs {
		fmt.Fprintf(w, "%s: %s: %s\n", f.Severity, f.Field, f.Message)
	}
}

func newGroups(env Env) *cobra.Command {
	root := &cobra.Command{Use: "groups", Short: "Computer groups: ls, show, create, edit, delete"}
	var asJSON bool
	ls := adminCommand(env, "ls [--json]", "List the computer groups", cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		gs, err := c.Groups(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(env.Stdout, gs)
		}
		hoist.SortGroups(gs)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPRIORITY\tRULES\tCONFIG")
		for _, g := range gs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g.ID, g.Name, g.Priority, describeRules(g), strings.Join(g.Config.SetFields(), ", "))
		}
		return tw.Flush()
	})
	ls.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")

	show := adminCommand(env, "show ID|NAME [--json]", "Show one group", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		g, err := c.Group(ctx, args[0])
		if err != nil {
			return err
		}
		return printSpec(env.Stdout, g, asJSON)
	})
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var (
		file        string
		g           hoist.ComputerGroup
		description string
	)
	create := adminCommand(env, "create NAME [--priority N] [--hostname PATTERN] [--os OS] [--min-version V] | create -f FILE", "Create a computer group", cobra.MaximumNArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		in := g
		in.Description = description
		switch {
		case file != "" && len(args) == 0:
			in = hoist.ComputerGroup{}
			if err := readSpec(env, file, &in); err != nil {
				return err
			}
		case file == "" && len(args) == 1:
			in.Name = args[0]
		default:
			return hoist.Errorf(hoist.EInvalid, "give a NAME, or a file with -f FILE")
		}
		if err := in.Validate(); err != nil {
			return err
		}
		ctx, cancel := timeout()
		defer cancel()
		got, err := c.CreateGroup(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created group %q (%s)\n", got.Name, got.ID)
		return nil
	})
	f := create.Flags()
	f.StringVarP(&file, "file", "f", "", "the group, YAML or JSON (- for standard input)")
	f.IntVar(&g.Priority, "priority", 0, "decides between groups whose agent configurations conflict: the highest wins")
	f.StringVar(&g.Rules.Hostname, "hostname", "", "add machines whose hostname matches this pattern (web-*)")
	f.StringVar(&g.Rules.OS, "os", "", "add machines that report this OS")
	f.StringVar(&g.Rules.MinAgentVersion, "min-version", "", "add machines whose agent is at least this version")
	f.StringVar(&description, "description", "", "what the group is for")

	edit := adminCommand(env, "edit ID|NAME -f FILE", "Replace a group's settings with the file's", cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		var in hoist.ComputerGroup
		if err := readSpec(env, file, &in); err != nil {
			return err
		}
		ctx, cancel := timeout()
		defer cancel()
		got, err := c.UpdateGroup(ctx, args[0], in)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "updated group %q to version %d\n", got.Name, got.Version)
		return nil
	})
	edit.Flags().StringVarP(&file, "file", "f", "", "the group, YAML or JSON (- for standard input)")

	del := adminCommand(env, "delete ID|NAME...", "Delete computer groups that no policy targets", cobra.MinimumNArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
		ctx, cancel := timeout()
		defer cancel()
		for _, key := range args {
			if err := c.DeleteGroup(ctx, key); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			fmt.Fprintf(env.Stdout, "deleted group %s\n", key)
		}
		return nil
	})
	root.AddCommand(ls, show, create, edit, del)
	refuseUnknown(root)
	return root
}

func describeRules(g hoist.ComputerGroup) string {
	if g.Name == hoist.DefaultGroup {
		return "every agent"
	}
	var parts []string
	if r := g.Rules; !r.Empty() {
		if r.Hostname != "" {
			parts = append(parts, "hostname "+r.Hostname)
		}
		if r.OS != "" {
			parts = append(parts, "os "+r.OS)
		}
		if r.MinAgentVersion != "" {
			parts = append(parts, "agent >= "+r.MinAgentVersion)
		}
	}
	parts = append(parts, "enrolment token")
	return strings.Join(parts, " or ")
}

func newConfig(env Env) *cobra.Command {
	root := &cobra.Command{Use: "config", Short: "Agent configuration per computer group: show, set"}
	var asJSON bool
	show := adminCommand(env, "show GROUP [--json]", "Show a group's effective agent configuration and where each value comes from (--json: the fields the group sets)",
		cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			g, err := c.Group(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, g.Config)
			}
			def := g
			if g.Name != hoist.DefaultGroup {
				if def, err = c.Group(ctx, hoist.DefaultGroup); err != nil {
					return err
				}
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FIELD\tVALUE\tFROM")
			for _, v := range hoist.EffectiveConfig(g, def) {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Field, v.Value, v.From)
			}
			return tw.Flush()
		})
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	set := adminCommand(env, "set GROUP FIELD=VALUE...", "Set agent configuration fields of a group (FIELD= unsets one): "+
		"create_jit_shortcut=yes|no, reminders=15m,5m,1m (or \"every 30m,15m,5m,1m\"), reminder_every=30m|0, default_duration, max_duration, checkin_interval, grace, elevate_sudo=yes|no, change_report=yes|no, change_report_files=/etc/a,/etc/b, record_terminal=off|output|output_and_input",
		cobra.MinimumNArgs(2), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			g, err := c.Group(ctx, args[0])
			if err != nil {
				return err
			}
			cfg := g.Config
			for _, kv := range args[1:] {
				if err := setConfigField(&cfg, kv); err != nil {
					return err
				}
			}
			got, err := c.SetGroupConfig(ctx, g.ID, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "agent configuration of %q updated (version %d); agents hear of it now\n", got.Name, got.Version)
			return nil
		})
	root.AddCommand(show, set)
	refuseUnknown(root)
	return root
}

// setConfigField applies one FIELD=VALUE to c.
func setConfigField(c *hoist.AgentConfig, kv string) error {
	field, value, ok := strings.Cut(kv, "=")
	if !ok {
		return hoist.Errorf(hoist.EInvalid, "%q: write FIELD=VALUE", kv)
	}
	dur := func() (*hoist.Duration, error) {
		if value == "" {
			return nil, nil
		}
		d, err := hoist.ParseDuration(value)
		if err != nil {
			return nil, hoist.Errorf(hoist.EInvalid, "%s: %s", field, hoist.ErrorMessage(err))
		}
		v := hoist.Duration(d)
		return &v, nil
	}
	var err error
	switch field {
	case "create_jit_shortcut":
		if value == "" {
			c.CreateJITShortcut = nil
			break
		}
		b, perr := parseYesNo(value)
		if perr != nil {
			return hoist.Errorf(hoist.EInvalid, "create_jit_shortcut: %v", perr)
		}
		c.CreateJITShortcut = &b
	case "reminders":
		c.Reminders = nil
		for _, part := range strings.Split(value, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			// "every 30m" among the marks is the period, as people say it.
			if every, ok := strings.CutPrefix(part, "every "); ok {
				d, perr := hoist.ParseDuration(every)
				if perr != nil {
					return hoist.Errorf(hoist.EInvalid, "reminders: %s", hoist.ErrorMessage(perr))
				}
				v := hoist.Duration(d)
				c.ReminderEvery = &v
				continue
			}
			d, perr := hoist.ParseDuration(part)
			if perr != nil {
				return hoist.Errorf(hoist.EInvalid, "reminders: %s", hoist.ErrorMessage(perr))
			}
			c.Reminders = append(c.Reminders, hoist.Duration(d))
		}
	case "default_duration":
		c.DefaultDuration, err = dur()
	case "max_duration":
		c.MaxDuration, err = dur()
	case "checkin_interval":
		c.CheckinInterval, err = dur()
	case "grace":
		c.Grace, err = dur()
	case "reminder_every":
		if value == "0" || value == "0s" || value == "off" {
			v := hoist.Duration(0)
			c.ReminderEvery = &v
			break
		}
		c.ReminderEvery, err = dur()
	case "elevate_sudo":
		if value == "" {
			c.ElevateSudo = nil
			break
		}
		b, perr := parseYesNo(value)
		if perr != nil {
			return hoist.Errorf(hoist.EInvalid, "elevate_sudo: %v", perr)
		}
		c.ElevateSudo = &b
	case "change_report":
		if value == "" {
			c.ChangeReport = nil
			break
		}
		b, perr := parseYesNo(value)
		if perr != nil {
			return hoist.Errorf(hoist.EInvalid, "change_report: %v", perr)
		}
		c.ChangeReport = &b
	case "change_report_files":
		c.ChangeReportFiles = nil
		if value != "" {
			c.ChangeReportFiles = strings.Split(value, ",")
		}
	case "record_terminal":
		if value == "" {
			c.RecordTerminal = nil
			break
		}
		c.RecordTerminal = &value // checked by the server with the rest
	default:
		return hoist.Errorf(hoist.EInvalid, "unknown configuration field %q: want create_jit_shortcut, reminders, reminder_every, default_duration, max_duration, checkin_interval, grace, elevate_sudo, change_report, change_report_files or record_terminal", field)
	}
	return err
}

func parseYesNo(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "y", "on":
		return true, nil
	case "no", "n", "off":
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not yes or no", s)
	}
	return b, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func activeWord(b bool) string {
	if b {
		return "active"
	}
	return "inactive"
}
