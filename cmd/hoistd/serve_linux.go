package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/snapshot"
	"github.com/hoist-jit/hoist/wire"
)

func newServe(stdout, stderr io.Writer) *cobra.Command {
	var (
		stateDir, socket, cgroupRoot, tracking, autostart string
		applications, hoistBinary                         string
		grace                                             time.Duration
		gcPercent                                         int
		logJSON, sudo                                     bool
		sudoInstance, polkitDir                           string
	)
	cmd := &cobra.Command{
		Use:   "run [--state DIR] [--socket PATH]",
		Short: "Serve the local socket until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gcPercent < 10 || gcPercent > 1000 {
				return hoist.Errorf(hoist.EInvalid, "--gc-percent must be a number from 10 to 1000")
			}
			if os.Geteuid() != 0 {
				return hoist.Errorf(hoist.EForbidden, "hoistd must run as root")
			}
			// Before anything is opened or started: this may execute hoistd again.
			if err := cleanSignals(); err != nil {
				return hoist.WrapError(hoist.EUnavailable, "cannot give elevated programs default signals", err)
			}
			tuneCollector(gcPercent)
			// Files and programs hoistd makes get a known mask, not whatever
			// started it.
			unix.Umask(0o022)
			log := slog.New(slog.NewTextHandler(stderr, nil))
			if logJSON {
				log = slog.New(slog.NewJSONHandler(stderr, nil))
			}
			tracker, err := platform.NewTracker(tracking, cgroupRoot)
			if err != nil {
				return hoist.WrapError(hoist.EUnavailable, "cannot track elevated processes", err)
			}
			defer tracker.Close()
			if tracker.Kind() != platform.TrackCgroup {
				log.Warn("no cgroup v2: elevated processes are tracked by fork events (the fallback)", "tracker", tracker.Kind())
			}
			cfg := agent.Config{StateDir: stateDir, Tracker: tracker, Grace: grace, Logger: log,
				DesktopDir: applications, AutostartDir: autostart, HoistPath: agent.InstalledHoist(hoistBinary),
				Changes: machineSnapshot}
			// What ran in each session, from the kernel: BPF where it is
			// allowed, else the lossy connector (docs/session-audit.md).
			if execs, err := platform.NewExecWatcher(); err != nil {
				log.Warn("no record of the programs run in sessions: the kernel allows neither BPF nor the process-events connector", "err", err)
			} else {
				defer execs.Close() // after a.Close, which the defer below runs first
				cfg.Execs = execs
				if execs.Source() != platform.ExecSourceBPF {
					log.Warn("BPF is refused: the programs run in sessions are recorded from the process-events connector, which misses short-lived ones", "source", execs.Source())
				}
			}
			if sudo {
				abs, err := filepath.Abs(socket)
				if err != nil {
					return err
				}
				cfg.Sudo = &agent.SudoConfig{Instance: sudoInstance, Hook: selfExe, Socket: abs, PolkitDir: polkitDir}
			}
			var c *link.Client
			if link.Enrolled(stateDir) {
				if c, err = link.Load(stateDir); err != nil {
					return err
				}
				// Sessions on disk are checked against the grants the server
				// signed, before any is resumed.
				key, agentID := c.GrantKey(), c.ID.AgentID
				cfg.BundleKey = key
				cfg.VerifyGrant = func(signed string, at time.Time) (hoist.Grant, error) {
					return hoist.VerifyGrant(key, signed, agentID, at)
				}
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			defer a.Close()
			// Start-up's garbage (loading the BPF program alone allocates
			// ≈ 4.4 MiB and drops it) goes back to the kernel now, not at
			// the background scavenger's pace, which on a busy machine
			// left it resident for minutes.
			debug.FreeOSMemory()
			l, err := listen(socket)
			if err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			go func() { <-ctx.Done(); l.Close() }()
			if c != nil {
				lk := link.New(c, a, stateDir, link.Facts(hoist.Version), log)
				go lk.Run(ctx)
				log.Info("linked to the server", "link", c.String())
			} else {
				log.Warn("not enrolled: JIT mode can only be granted locally (hoistd grant) until hoistd enroll is run")
			}
			log.Info("hoistd listening", "socket", socket, "state", stateDir, "tracker", tracker.Kind(), "cgroup_root", cgroupOf(tracker))
			fmt.Fprintf(stdout, "hoistd: serving %s\n", socket)
			// Under systemd (Type=notify) the unit is up once the socket is.
			if err := notify("READY=1"); err != nil {
				log.Warn("cannot tell systemd hoistd is ready", "err", err)
			}
			defer notify("STOPPING=1")
			return a.Serve(l)
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state", "/var/lib/hoist", "state directory")
	f.StringVar(&socket, "socket", localapi.DefaultSocket, "socket to serve")
	f.StringVar(&cgroupRoot, "cgroup-root", "", "cgroup directory for sessions (default: <cgroup2 mount>/hoist)")
	f.StringVar(&tracking, "tracker", platform.TrackAuto, "how elevated processes are held: auto, cgroup (cgroup v2) or proc (fork events, for hosts without cgroup v2)")
	f.StringVar(&autostart, "autostart-dir", agent.DefaultAutostartDir, "where the quiet JIT helper's desktop autostart entry goes (empty: none)")
	f.StringVar(&applications, "applications-dir", agent.DefaultDesktopDir, "where the JIT launcher goes when the agent configuration says Create JIT mode shortcut: Yes")
	f.StringVar(&hoistBinary, "hoist-binary", "", "absolute path of the hoist command the desktop entries run (default: "+agent.SystemHoist+" when installed, else hoist from the user's PATH)")
	f.DurationVar(&grace, "grace", agent.DefaultGrace, "time between SIGTERM and the kill at a session's end")
	f.BoolVar(&logJSON, "log-json", false, "log JSON instead of text")
	f.IntVar(&gcPercent, "gc-percent", defaultGCPercent, "Go collector target (GOGC): lower keeps less garbage at rest at some CPU; the environment's GOGC wins")
	f.BoolVar(&sudo, "sudo", true, "let sudo and pkexec elevate users during their JIT session (docs/sudo.md)")
	f.StringVar(&sudoInstance, "sudo-instance", "main", "names this hoistd's sudoers drop-ins, PAM lines and polkit rule")
	f.StringVar(&polkitDir, "polkit-rules", agent.DefaultPolkitDir, "where the polkit rule goes (empty: no polkit rule)")
	addConfigFlag(cmd, DefaultConfig, false)
	return cmd
}

// defaultGCPercent is hoistd's target for the Go collector (GOGC).
//
// Why not Go's 100: hoistd at rest holds well under 1 MiB live, and at 100
// the runtime lets the heap reach its 4 MiB minimum before it collects, and
// keeps those pages; at 25 that minimum is 1 MiB. An idle hoistd allocates
// little (a long poll's renewal now and then), so collecting four times as
// often costs little CPU (BENCHMARKS.md, "Agent footprint at rest").
const defaultGCPercent = 25

// tuneCollector sets the collector's target to percent unless the
// environment's GOGC is set: an operator's GOGC wins over the flag's default.
func tuneCollector(percent int) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(percent)
	}
}

// cgroupOf is where tracker puts session cgroups, for the log.
func cgroupOf(t platform.Tracker) string {
	if c, ok := t.(platform.Cgroups); ok {
		return c.Root
	}
	return ""
}

// notify sends state to systemd over $NOTIFY_SOCKET (the sd_notify
// datagram protocol); without one it does nothing. It lives here rather
// than in a package so that the root daemon's dependency list stays as it
// is (hoist-server uses package sdnotify).
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// newEndSessions is what uninstalling runs, with hoistd stopped: every
// session on this machine ends now, as an end from the server would end it
// (warning, grace, kill, audited to the outbox), and its cgroup is
// removed. Stopping hoistd does not end sessions (a restarted hoistd
// resumes them); removing it must.
func newEndSessions(stdout, stderr io.Writer) *cobra.Command {
	var stateDir, cgroupRoot, tracking, socket, sudoInstance, polkitDir string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "end-sessions [--state DIR]",
		Short: "With hoistd stopped, end every JIT session on this machine now and remove the sudo and pkexec integration (run when Hoist is removed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return hoist.Errorf(hoist.EForbidden, "hoistd must run as root")
			}
			if c, err := net.Dial("unix", socket); err == nil {
				c.Close()
				return hoist.Errorf(hoist.EConflict, "hoistd is running (%s): stop it first, or end sessions with hoist exit or the server", socket)
			}
			log := slog.New(slog.NewTextHandler(stderr, nil))
			tracker, err := platform.NewTracker(tracking, cgroupRoot)
			if err != nil {
				return hoist.WrapError(hoist.EUnavailable, "cannot track elevated processes", err)
			}
			defer tracker.Close()
			a, err := agent.New(agent.Config{StateDir: stateDir, Tracker: tracker, Grace: grace, Logger: log, Changes: machineSnapshot})
			if err != nil {
				return err
			}
			defer a.Close()
			for _, s := range a.SessionReports() {
				if s.State == wire.SessionReportEnded {
					continue
				}
				if _, err := a.EndSession(s.ID, string(hoist.EndRevoked), "hoistd end-sessions"); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "ended session %s of %s\n", s.ID, s.User)
			}
			// With no session left, nothing of the sudo and pkexec
			// integration may stay: its PAM lines, polkit rule, hook copy
			// and drop-ins.
			if err := agent.UninstallSudo(agent.SudoConfig{Instance: sudoInstance, PolkitDir: polkitDir}); err != nil {
				return hoist.WrapError(hoist.EUnavailable, "cannot remove the sudo and pkexec integration", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sudoInstance, "sudo-instance", "main", "the instance whose sudo and pkexec integration is removed, as hoistd run was given it")
	f.StringVar(&polkitDir, "polkit-rules", agent.DefaultPolkitDir, "where hoistd run put its polkit rule")
	f.StringVar(&stateDir, "state", "/var/lib/hoist", "state directory")
	f.StringVar(&socket, "socket", localapi.DefaultSocket, "hoistd's socket (refused while it answers)")
	f.StringVar(&cgroupRoot, "cgroup-root", "", "cgroup directory for sessions, as hoistd run was given it")
	f.StringVar(&tracking, "tracker", platform.TrackAuto, "auto, cgroup or proc, as hoistd run was given it")
	f.DurationVar(&grace, "grace", agent.DefaultGrace, "time between SIGTERM and the kill")
	addConfigFlag(cmd, DefaultConfig, true)
	return cmd
}

// listen makes the socket that any local user may connect to. A stale socket
// is replaced; a live one means another hoistd runs, which is refused.
func listen(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, hoist.Errorf(hoist.EConflict, "another hoistd already serves %s", path)
	}
	if info, err := os.Lstat(path); err == nil {
		if info.Mode()&os.ModeSocket == 0 {
			return nil, hoist.Errorf(hoist.EConflict, "%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func newGrant(stdout io.Writer) *cobra.Command {
	var (
		socket, forDur string
	)
	cmd := &cobra.Command{
		Use:   "grant USER --for DURATION [--socket PATH]",
		Short: "As root, grant USER JIT elevated access on this machine without a server (audited)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := hoist.ParseDuration(forDur); err != nil {
				return err
			}
			c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
			if err != nil {
				return hoist.Errorf(hoist.EUnavailable, "cannot reach hoistd at %s: %v", socket, err)
			}
			defer c.Close()
			if err := localapi.SendRequest(c, localapi.Request{V: localapi.Version, Op: localapi.OpGrant, User: args[0], Duration: forDur}); err != nil {
				return err
			}
			var rep localapi.Reply
			if err := localapi.ReadFrame(c, nil, &rep); err != nil {
				return hoist.Errorf(hoist.EUnavailable, "hoistd closed the connection without an answer")
			}
			if rep.Error != nil {
				return hoist.Errorf(rep.Error.Code, "%s", rep.Error.Message)
			}
			fmt.Fprintf(stdout, "granted %s JIT elevated access until %s (session %s)\n", args[0], *rep.Status.ExpiresAt, rep.Status.SessionID)
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", localapi.DefaultSocket, "hoistd's socket")
	cmd.Flags().StringVar(&forDur, "for", "30m", "how long, like 30m, 2h or 1d")
	return cmd
}

// selfExe is the running hoistd's own binary, which the sudo hook is
// copied from: /proc/self/exe opens the file this process runs, even when
// the path it was started from has since been replaced or deleted
// (os.Executable only names that path).
const selfExe = "/proc/self/exe"

// machineSnapshot is the change report's snapshot of this machine.
func machineSnapshot(ctx context.Context, files []string) (*hoist.Snapshot, error) {
	return snapshot.Take(ctx, snapshot.Options{Root: "/", Files: files})
}
