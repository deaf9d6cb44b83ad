package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/cli/local"
)

// userCommands are the user's commands (package local) as cobra commands,
// for the whole command line that hoist-admin runs: the same words, flags
// and code as hoist's own parser, which leaves to this one every command
// line it does not read itself.
func userCommands(env Env) []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range local.Commands() {
		cmds = append(cmds, userCommand(env, c))
	}
	return cmds
}

func userCommand(env Env, c local.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   c.Use,
		Short:                 c.Short,
		Long:                  c.Long,
		DisableFlagsInUseLine: c.DisableFlagsInUseLine,
		Args:                  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			inv := local.Invocation{Args: args}
			cmd.Flags().Visit(func(f *pflag.Flag) { inv.Set(f.Name, f.Value.String()) })
			return c.Run(env, inv)
		},
	}
	if c.Program {
		cmd.Args = needCommand(c.Name)
		cmd.Flags().SetInterspersed(false)
	}
	for _, f := range append(c.Flags, local.SocketFlag) {
		if f.Bool {
			cmd.Flags().Bool(f.Name, false, f.Usage)
		} else {
			cmd.Flags().String(f.Name, "", f.Usage)
		}
	}
	return cmd
}

// needCommand refuses a command line without the program to act on, and
// says what to type.
func needCommand(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return hoist.Errorf(hoist.EInvalid, "name the program to %s, like: hoist %s -- apt update", verb, verb)
		}
		return nil
	}
}
