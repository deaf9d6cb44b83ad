package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/localapi"
)

// hookTimeout bounds a hook's whole exchange with hoistd: sudo, pkexec and
// polkitd wait for the hook, and must never wait long.
const hookTimeout = 5 * time.Second

// hookExit is how a hook ends: 0 lets sudo (or polkit) go on.
type hookExit int

func (e hookExit) Error() string { return "hook refused (" + strconv.Itoa(int(e)) + ")" }

// newSudoHook is the PAM session step of sudo, sudo -i and pkexec
// (pam_exec, as root): it asks hoistd to put its parent — sudo or pkexec
// — in the caller's JIT session. A caller hoistd gave no sudoers drop-in
// to is not asked about: the hook exits 0 without reaching hoistd. For a
// caller with one it fails when hoistd refuses or cannot be reached: their
// command would otherwise run outside the session.
func newSudoHook(stderr io.Writer) *cobra.Command {
	var instance, socket, sudoers string
	cmd := &cobra.Command{
		Use:    "sudo-hook --instance=NAME --socket=PATH --sudoers=DIR",
		Short:  "PAM session step of sudo and pkexec (run by pam_exec)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var hook string
			switch os.Getenv("PAM_TYPE") {
			case "open_session":
				hook = localapi.HookOpen
			case "close_session":
				hook = localapi.HookClose
			default:
				return nil
			}
			// Decided before anything can wait: a caller without a drop-in
			// of this hoistd is not Hoist's, and pkexec goes on at once. In
			// sudo's services the guard line before the step already let
			// through only the users the step names, and hoistd decides for
			// each of them — also for one whose drop-in an end just removed.
			if !strings.HasPrefix(os.Getenv("PAM_SERVICE"), "sudo") && !hasDropIn(sudoers, instance) {
				return nil
			}
			// pam_exec of sudo's or pkexec's session runs the hook: its
			// parent is one of them, set-uid root. Anything else is not the
			// step this hook is, and gets no answer.
			if !parentElevates() {
				fmt.Fprintln(stderr, "hoist: the session hook runs only under sudo or pkexec")
				return hookExit(1)
			}
			rep, err := askHook(socket, localapi.Request{V: localapi.Version, Op: localapi.OpHook, Hook: hook})
			switch {
			case err == nil && rep.Error == nil, hook == localapi.HookClose:
				return nil
			case err == nil:
				fmt.Fprintln(stderr, "hoist:", rep.Error.Message)
				return hookExit(1)
			}
			fmt.Fprintln(stderr, "hoist: hoistd cannot be reached, so sudo cannot run inside your JIT session:", err)
			return hookExit(1)
		},
	}
	f := cmd.Flags()
	f.StringVar(&instance, "instance", "", "the hoistd instance whose drop-ins to look for")
	f.StringVar(&socket, "socket", localapi.DefaultSocket, "hoistd's socket")
	f.StringVar(&sudoers, "sudoers", "/etc/sudoers.d", "sudo's drop-in directory")
	return cmd
}

// newPolkitHook is what the polkit rule spawns: exit 0 when hoistd says the
// user has an active session that sudo elevates.
func newPolkitHook() *cobra.Command {
	var socket, user, action string
	cmd := &cobra.Command{
		Use:    "polkit-hook --socket=PATH --user=NAME --action=ID",
		Short:  "Ask hoistd whether polkit may authorise a user (run by polkitd's rule)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := askHook(socket, localapi.Request{V: localapi.Version, Op: localapi.OpHook, Hook: localapi.HookPolkit, User: user, Action: action})
			if err != nil || rep.Error != nil {
				return hookExit(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", localapi.DefaultSocket, "hoistd's socket")
	cmd.Flags().StringVar(&user, "user", "", "the subject's user name")
	cmd.Flags().StringVar(&action, "action", "", "the polkit action asked for (for the audit)")
	return cmd
}

// askHook makes one exchange with hoistd within hookTimeout.
func askHook(socket string, req localapi.Request) (localapi.Reply, error) {
	var rep localapi.Reply
	c, err := net.DialTimeout("unix", socket, hookTimeout)
	if err != nil {
		return rep, err
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return rep, fmt.Errorf("not a unix socket")
	}
	_ = uc.SetDeadline(time.Now().Add(hookTimeout))
	if err := localapi.SendRequest(uc, req); err != nil {
		return rep, err
	}
	if err := localapi.ReadFrame(uc, nil, &rep); err != nil {
		return rep, fmt.Errorf("hoistd gave no answer: %w", err)
	}
	return rep, nil
}

// hasDropIn says whether this hoistd gave the user running the hook's
// parent (sudo's real uid) a drop-in.
func hasDropIn(dir, instance string) bool {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", os.Getppid()))
	if err != nil {
		return true // cannot tell: fail closed
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				_, err := os.Stat(filepath.Join(dir, "hoist-"+instance+"-"+f[0]))
				return err == nil
			}
		}
	}
	return true
}

// parentElevates says whether the hook's parent is sudo or pkexec (its
// executable, as the kernel names it) running with effective uid 0.
func parentElevates() bool {
	ppid := os.Getppid()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ppid))
	if err != nil {
		return false
	}
	euid := ""
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 1 {
				euid = f[1]
			}
		}
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	if err != nil || euid != "0" {
		return false
	}
	return slices.Contains(agent.Elevators(), strings.TrimSuffix(exe, " (deleted)"))
}
