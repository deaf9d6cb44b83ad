package hoist

// The policy linter's list of programs that, run as root, hand the user
// root: a shell, an interpreter, or a program whose options, files,
// interactive screen or operands run commands or write files. The facts are
// the well-known ones (the kind GTFOBins collects); the wording is ours.
// lint_test.go runs every Example for real, and docs/lint-programs.md is
// generated from this table (go test -run TestLintProgramsDoc -update-docs).

// Kinds of listed programs.
const (
	ProgramShell       = "shell"                     // runs what the user types or passes
	ProgramInterpreter = "interpreter"               // runs a program given as an argument or on standard input
	ProgramOptions     = "runs-commands-via-options" // an option or argument makes it run a command
	ProgramFiles       = "runs-commands-via-files"   // runs commands that a file names
	ProgramPager       = "pager"                     // shows its output in less, whose ! runs a shell
	ProgramWrites      = "writes-files"              // writes (or changes) any file it is told to
	ProgramRunsCommand = "runs-argument-as-command"  // its operands are a command line it runs
)

// LintProgram is one entry of the linter's list.
type LintProgram struct {
	// Names are the basenames the entry covers ("vim", "vi", ...). A name
	// may be a path.Match pattern ("python3.[0-9]*") for versioned names.
	Names []string
	Kind  string
	// Reason is one sentence: how the program gives root away.
	Reason string
	// Dangerous are the arguments (options, or subcommands) through which
	// it does. An option that takes a value is also dangerous written with
	// it ("--to-command=x", "-Ix").
	Dangerous []string
	// Always refuses it whatever the argument rule: a shell, an interpreter,
	// or a program whose escape is from its own interactive screen.
	Always bool
	// Operands: the plain arguments (not only options) are what escapes, so
	// "any further arguments" is refused even with an option allow-list.
	Operands bool
	// NoPager is the option that keeps it from starting a pager; without it
	// as an exact argument the linter warns.
	NoPager string
	// Pin are options one of which must be given as an exact argument
	// followed by an exact value, or the program reads what to run from the
	// user's working directory (hoistd runs it there).
	Pin []string
	// Example is one escape, argv[0] first: @FILE@ stands for a file the
	// escape creates, @DIR@ for a scratch directory.
	Example []string
	// Stdin is what the example reads on standard input.
	Stdin string
	// Terminal: the example runs on a terminal. Keys, when set, are typed
	// there once Prompt shows (an interactive escape).
	Terminal     bool
	Keys, Prompt string
	// LintOnly says why the example cannot be run by the tests (only the
	// linter's verdict is tested); empty means it is run for real.
	LintOnly string
}

// LintPrograms returns a copy of the linter's list.
func LintPrograms() []LintProgram {
	out := make([]LintProgram, len(lintPrograms))
	copy(out, lintPrograms)
	return out
}

var lintPrograms = []LintProgram{
	{Names: []string{"sh", "bash", "dash", "zsh", "fish", "ksh", "ksh93", "mksh", "tcsh", "csh", "ash", "yash", "rbash", "busybox"},
		Kind: ProgramShell, Always: true, Operands: true,
		Reason:  "A shell runs whatever command line it is given with -c or reads from the terminal.",
		Example: []string{"sh", "-c", "touch @FILE@"}},
	{Names: []string{"tmux", "screen"}, Kind: ProgramShell, Always: true, Operands: true,
		Reason:  "A terminal multiplexer starts a shell in every window it opens, and runs any command it is given for a new window.",
		Example: []string{"tmux", "-S", "@DIR@/tmux.sock", "-f", "/dev/null", "new-session", "-d", "touch @FILE@"}},
	{Names: []string{"python", "python2", "python3", "python2.[0-9]*", "python3.[0-9]*", "pypy", "pypy3", "ipython3"},
		Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "Python runs any program passed with -c, in a script file or on standard input, and os.system runs commands.",
		Example: []string{"python3", "-c", "import os; os.system('touch @FILE@')"}},
	{Names: []string{"perl", "perl5*"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "Perl runs the program given with -e, in a script file or on standard input, and system() runs commands.",
		Example: []string{"perl", "-e", "system('touch @FILE@')"}},
	{Names: []string{"ruby", "ruby[0-9]*", "irb", "erb"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "Ruby (and irb, and erb templates) evaluates Ruby code given with -e, in a file or on standard input.",
		Example: []string{"ruby", "-e", "system('touch @FILE@')"}},
	{Names: []string{"node", "nodejs"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "Node.js runs the JavaScript passed with -e or in a file, and child_process runs commands.",
		Example: []string{"node", "-e", "require('child_process').execSync('touch @FILE@')"}},
	{Names: []string{"php", "php[0-9]*", "php-cgi"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "PHP runs code passed with -r or in a file, and system() runs commands.",
		Example: []string{"php", "-r", "system('touch @FILE@');"}},
	{Names: []string{"lua", "lua5.[0-9]", "luajit"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "Lua runs the chunk given with -e or in a file, and os.execute runs commands.",
		Example: []string{"lua5.4", "-e", "os.execute('touch @FILE@')"}},
	{Names: []string{"tclsh", "tclsh[0-9]*", "wish", "expect"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "Tcl reads a script from a file or standard input, and its exec command runs programs.",
		Example: []string{"tclsh"}, Stdin: "exec touch @FILE@\n"},
	{Names: []string{"awk", "gawk", "mawk", "nawk", "original-awk"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:  "awk's first operand is a program, and its system() function and | pipes run commands.",
		Example: []string{"awk", `BEGIN { system("touch @FILE@") }`}},
	{Names: []string{"gdb"}, Kind: ProgramInterpreter, Always: true, Operands: true,
		Reason:    "gdb runs shell commands with its shell command (given with -ex), embeds Python, and may attach to any process of root's.",
		Dangerous: []string{"-ex", "-x", "-batch", "-p", "--pid", "-iex", "--eval-command", "--command"},
		Example:   []string{"gdb", "-nx", "-batch", "-ex", "shell touch @FILE@"}},
	{Names: []string{"sqlite3"}, Kind: ProgramOptions, Always: true, Operands: true,
		Reason:    "sqlite3's .shell and .system commands run programs, and without SQL arguments it reads commands from the terminal.",
		Dangerous: []string{"-cmd", "-init", ".shell", ".system"},
		Example:   []string{"sqlite3", ":memory:", ".shell touch @FILE@"}},
	{Names: []string{"find"}, Kind: ProgramOptions,
		Reason:    "find's -exec and -ok actions run any command on what it finds, and its -fprint actions write files.",
		Dangerous: []string{"-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls", "-delete"},
		Example:   []string{"find", "/etc/hostname", "-exec", "touch", "@FILE@", ";"}},
	{Names: []string{"vi", "vim", "view", "vimdiff", "ex", "rvim", "rview", "vim.tiny", "vim.basic", "vim.nox", "vim.gtk3", "nvim", "gvim", "evim"},
		Kind: ProgramOptions, Always: true, Operands: true,
		Reason:    "Vim runs shell commands with :! (or -c and + on its command line) and writes any file with :w; restricted rvim still writes files.",
		Dangerous: []string{"-c", "--cmd", "-S", "-u", "+"},
		Example:   []string{"vim", "-es", "-c", "!touch @FILE@", "-c", "qa!"}},
	{Names: []string{"less"}, Kind: ProgramPager, Always: true, Operands: true,
		Reason:  "less runs a shell command when the user types ! in it, and opens an editor with v; no argument rule can prevent typing.",
		Example: []string{"less", "/etc/hostname"}, Terminal: true, Prompt: "(END)", Keys: "!touch @FILE@\n"},
	{Names: []string{"more"}, Kind: ProgramPager, Always: true, Operands: true,
		Reason:  "more runs a shell command when the user types ! at its prompt.",
		Example: []string{"more", "@DIR@/long.txt"}, Terminal: true, Prompt: "--More--", Keys: "!touch @FILE@\n"},
	{Names: []string{"man"}, Kind: ProgramPager, Always: true, Operands: true,
		Reason:    "man shows pages in less (whose ! runs a shell), and -P or -H name any program to show them with.",
		Dangerous: []string{"-P", "--pager", "-H", "--html", "--browser"},
		Example:   []string{"man", "-P", "touch @FILE@", "man"}, Terminal: true},
	{Names: []string{"nano", "pico"}, Kind: ProgramOptions, Always: true, Operands: true,
		Reason:  "nano runs a command when the user types Ctrl-R Ctrl-X and writes any file with Ctrl-O.",
		Example: []string{"nano", "@DIR@/note.txt"}, Terminal: true, Prompt: "Help", Keys: "\x12\x18touch @FILE@\r"},
	{Names: []string{"ed"}, Kind: ProgramOptions, Always: true, Operands: true,
		Reason:  "ed runs a shell command for every ! line it reads from the terminal, and writes any file with w.",
		Example: []string{"ed"}, Stdin: "!touch @FILE@\nq\n"},
	{Names: []string{"tar", "bsdtar"}, Kind: ProgramOptions,
		Reason: "tar runs commands through --checkpoint-action=exec, --to-command, -I (a compression program) and its volume scripts, and extracting writes files anywhere.",
		Dangerous: []string{"--checkpoint-action", "--to-command", "-I", "--use-compress-program", "-F", "--info-script", "--new-volume-script",
			"--rsh-command", "--rmt-command", "-x", "--extract", "-C", "--directory"},
		Example: []string{"tar", "-cf", "/dev/null", "/etc/hostname", "--checkpoint=1", "--checkpoint-action=exec=touch @FILE@"}},
	{Names: []string{"zip"}, Kind: ProgramOptions,
		Reason:    "zip's -T with -TT (--unzip-command) runs a command of the user's choosing to test the archive.",
		Dangerous: []string{"-T", "--test", "-TT", "--unzip-command"},
		Example:   []string{"zip", "@DIR@/z.zip", "/etc/hostname", "-T", "-TT", "touch @FILE@ #"}},
	{Names: []string{"rsync"}, Kind: ProgramOptions,
		Reason:    "rsync starts the program given with -e (--rsh) or --rsync-path to reach the other side, and writes files anywhere.",
		Dangerous: []string{"-e", "--rsh", "--rsync-path", "--config", "--daemon"},
		Example:   []string{"rsync", "-e", "sh -c 'touch @FILE@; exit 1'", "x:/a", "@DIR@/b"}},
	{Names: []string{"git"}, Kind: ProgramOptions, NoPager: "--no-pager",
		Reason:    "git runs shell aliases and helpers named in configuration given with -c, and its output subcommands page through less.",
		Dangerous: []string{"-c", "--config-env", "--exec-path", "-p", "--paginate", "--git-dir", "--work-tree"},
		Example:   []string{"git", "-c", "alias.x=!touch @FILE@", "x"}},
	{Names: []string{"systemctl"}, Kind: ProgramFiles,
		Reason:    "systemctl edit starts an editor as root, and a unit file the user wrote, once linked or enabled by its path, runs its ExecStart as root.",
		Dangerous: []string{"edit", "link", "enable", "set-environment", "import-environment", "--root"},
		Example:   []string{"systemctl", "link", "@DIR@/escape.service"},
		LintOnly:  "needs systemd as PID 1 to load and start the unit, which the test machine does not run"},
	{Names: []string{"apt-get", "apt", "aptitude"}, Kind: ProgramOptions,
		Reason:    "apt-get takes any configuration with -o or -c, including hooks that run commands (APT::Update::Pre-Invoke, DPkg::Pre-Invoke), changelog opens a pager, and installing a .deb file runs its scripts.",
		Dangerous: []string{"-o", "--option", "-c", "--config-file", "changelog", "./escape.deb", "/tmp/escape.deb"},
		Example:   []string{"apt-get", "-o", "APT::Update::Pre-Invoke::=touch @FILE@", "update"}},
	{Names: []string{"dpkg"}, Kind: ProgramFiles, NoPager: "--no-pager",
		Reason:    "dpkg runs the maintainer scripts of any package file it installs, writes files anywhere with --root or -x, and pages its lists through less.",
		Dangerous: []string{"-i", "--install", "--unpack", "--configure", "-x", "--extract", "--root", "--instdir", "--admindir"},
		Example:   []string{"dpkg", "-l"}, Terminal: true, Prompt: "lines", Keys: "!touch @FILE@\n"},
	{Names: []string{"env"}, Kind: ProgramRunsCommand, Operands: true,
		Reason:    "env runs the command line that follows its variable assignments.",
		Dangerous: []string{"-S", "--split-string"},
		Example:   []string{"env", "touch", "@FILE@"}},
	{Names: []string{"nice", "ionice", "chrt", "taskset", "stdbuf", "nohup", "setsid", "setarch", "unshare", "nsenter", "chroot", "time", "runcon",
		"numactl", "capsh", "systemd-run", "start-stop-daemon", "watch", "ld.so", "ld-linux.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"},
		Kind: ProgramRunsCommand, Operands: true,
		Reason:  "These run the command line given as their operands, changing only a scheduling, namespace or similar setting.",
		Example: []string{"nice", "touch", "@FILE@"}},
	{Names: []string{"timeout"}, Kind: ProgramRunsCommand, Operands: true,
		Reason:  "timeout runs the command line that follows the duration.",
		Example: []string{"timeout", "60", "touch", "@FILE@"}},
	{Names: []string{"xargs"}, Kind: ProgramRunsCommand, Operands: true,
		Reason:    "xargs runs the command given as its operands, with arguments read from standard input or the file of -a.",
		Dangerous: []string{"-a", "--arg-file", "-I", "-i"},
		Example:   []string{"xargs", "-a", "/dev/null", "touch", "@FILE@"}},
	{Names: []string{"flock"}, Kind: ProgramRunsCommand, Operands: true,
		Reason:    "flock runs the command that follows the lock file, or the shell command of -c.",
		Dangerous: []string{"-c", "--command"},
		Example:   []string{"flock", "@DIR@/lock", "-c", "touch @FILE@"}},
	{Names: []string{"strace", "ltrace"}, Kind: ProgramRunsCommand, Operands: true,
		Reason:    "strace and ltrace run the command given as operands, attach to any process with -p, and -o writes (or pipes to a command) as root.",
		Dangerous: []string{"-o", "--output", "-p", "--attach"},
		Example:   []string{"strace", "-o", "/dev/null", "touch", "@FILE@"}},
	{Names: []string{"script"}, Kind: ProgramOptions, Always: true, Operands: true,
		Reason:    "script starts a shell (or the command of -c) on a new terminal and writes its typescript to any file.",
		Dangerous: []string{"-c", "--command"},
		Example:   []string{"script", "-qc", "touch @FILE@", "/dev/null"}},
	{Names: []string{"sed", "gsed"}, Kind: ProgramOptions, Operands: true,
		Reason:    "GNU sed's e command runs shell commands and its w command writes files, and the script is an argument.",
		Dangerous: []string{"-e", "--expression", "-f", "--file", "-i", "--in-place"},
		Example:   []string{"sed", "-n", "1e touch @FILE@", "/etc/hostname"}},
	{Names: []string{"ssh"}, Kind: ProgramOptions,
		Reason:    "ssh runs the ProxyCommand or LocalCommand given with -o or in the file of -F, and reads root's own configuration and keys.",
		Dangerous: []string{"-o", "-F"},
		Example:   []string{"ssh", "-o", "ProxyCommand=touch @FILE@", "x"}},
	{Names: []string{"scp", "sftp"}, Kind: ProgramOptions, Operands: true,
		Reason:    "scp starts the program named by -S, honours -o ProxyCommand, and copies any file to or from anywhere.",
		Dangerous: []string{"-S", "-o", "-F"},
		Example:   []string{"scp", "-o", "ProxyCommand=touch @FILE@", "x:/a", "@DIR@/b"}},
	{Names: []string{"docker", "podman", "nerdctl", "ctr"}, Kind: ProgramOptions,
		Reason:    "Whoever drives the container engine as root can start a privileged container with the host's / mounted.",
		Dangerous: []string{"run", "exec", "create", "cp", "compose", "build", "load", "import", "plugin", "-H", "--host", "--config", "context"},
		Example:   []string{"docker", "run", "--rm", "-v", "/:/host", "debian", "chroot", "/host", "touch", "@FILE@"},
		LintOnly:  "needs a container engine and an image; Debian's docker.io is not installed by the tests"},
	{Names: []string{"make", "gmake"}, Kind: ProgramOptions, Pin: []string{"-f", "--file", "--makefile", "-C", "--directory"},
		Reason:    "make runs the recipes of the Makefile in the directory it runs in (the user's), of the file given with -f, or given with --eval.",
		Dangerous: []string{"--eval", "-f", "--file", "--makefile", "-C", "--directory", "-I", "--include-dir", "-E"},
		Example:   []string{"make", "-f", "/dev/null", "--eval=x: ; touch @FILE@", "x"}},
	{Names: []string{"crontab"}, Kind: ProgramFiles, Operands: true,
		Reason:    "crontab installs the jobs of any file (or of the editor with -e) as root's, and cron runs them.",
		Dangerous: []string{"-e", "-u"},
		Example:   []string{"crontab", "@DIR@/jobs"},
		LintOnly:  "cron runs the job up to a minute later and only with its daemon running, and the test would replace a real crontab"},
	{Names: []string{"mount", "umount"}, Kind: ProgramFiles, Operands: true,
		Reason:    "mount can bind a user's file over a system file or mount a user's image holding a setuid shell, and -t starts /sbin/mount.TYPE helpers.",
		Dangerous: []string{"-o", "--options", "-t", "--types", "-B", "--bind", "--rbind", "-T", "--fstab"},
		Example:   []string{"mount", "--bind", "@FILE@", "/etc/shadow"},
		LintOnly:  "needs root and changes the machine's mounts"},
	{Names: []string{"tee"}, Kind: ProgramWrites, Operands: true,
		Reason:    "tee writes standard input to every file given as an operand: as root, /etc/sudoers or /etc/shadow.",
		Dangerous: []string{"-a", "--append"},
		Example:   []string{"tee", "@FILE@"}, Stdin: "ESCAPED\n"},
	{Names: []string{"cp", "mv", "install", "ln"}, Kind: ProgramWrites, Operands: true,
		Reason:  "cp, mv, install and ln put any file the user names in place of any other, such as /etc/passwd.",
		Example: []string{"cp", "/etc/hostname", "@FILE@"}},
	{Names: []string{"dd"}, Kind: ProgramWrites, Operands: true,
		Reason:    "dd reads and writes any file or device named by its if= and of= operands.",
		Dangerous: []string{"of=", "if="},
		Example:   []string{"dd", "if=/etc/hostname", "of=@FILE@"}},
	{Names: []string{"chmod", "chown", "chgrp", "setfacl", "chattr"}, Kind: ProgramWrites, Operands: true,
		Reason:  "These change the mode or owner of any file the user names: a setuid copy of a shell, or /etc/shadow made readable.",
		Example: []string{"chmod", "4755", "@FILE@"}},
	{Names: []string{"curl", "wget"}, Kind: ProgramWrites, Operands: true,
		Reason:    "curl writes what it fetches to any file with -o, reads its options from a file with -K, and sends local files (file:// URLs, -T, -d @FILE) anywhere.",
		Dangerous: []string{"-o", "--output", "-O", "--remote-name", "-K", "--config", "-T", "--upload-file", "-d", "--data", "-F", "--form", "--output-dir"},
		Example:   []string{"curl", "-s", "-o", "@FILE@", "file:///etc/hostname"}},
	{Names: []string{"sudo", "su", "pkexec", "doas", "runuser", "sudoedit", "machinectl"}, Kind: ProgramRunsCommand, Always: true, Operands: true,
		Reason:  "Run by root they need no password: they exist to start a shell or a command as any user, root included.",
		Example: []string{"su", "-c", "touch @FILE@", "root"}},
	{Names: []string{"visudo", "vipw", "vigr", "edquota"}, Kind: ProgramFiles, Always: true, Operands: true,
		Reason:   "They start an editor on a root file, and the editor runs shell commands and writes any file.",
		Example:  []string{"visudo", "-f", "@DIR@/sudoers"},
		LintOnly: "the editor they start is chosen by the machine's alternatives; vim and nano, which they start, are tested above"},
}
