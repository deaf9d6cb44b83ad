package jit

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"time"
)

// Dialog asks the helper's questions in small windows, through zenity
// (GNOME, Xfce, MATE, Cinnamon) or kdialog (KDE Plasma), for a desktop
// where the launcher finds no terminal emulator. It is found, not
// required: FindDialog returns nil when neither program is installed.
type Dialog struct {
	// Tool is "zenity" or "kdialog"; Path is where it was found.
	Tool, Path string
}

// dialogTools are the dialog programs, in the order they are preferred.
var dialogTools = []string{"zenity", "kdialog"}

// FindDialog returns the first dialog program lookPath finds
// (exec.LookPath in use), or nil.
func FindDialog(lookPath func(string) (string, error)) *Dialog {
	for _, tool := range dialogTools {
		if p, err := lookPath(tool); err == nil {
			return &Dialog{Tool: tool, Path: p}
		}
	}
	return nil
}

// dialogTitle is the title of every window the helper opens.
const dialogTitle = "Hoist JIT elevated access"

// EntryArgs is the command line of a window that asks for one line of
// text, prefilled with def.
func (d *Dialog) EntryArgs(text, def string) []string {
	if d.Tool == "kdialog" {
		return []string{d.Path, "--title", dialogTitle, "--inputbox", text, def}
	}
	return []string{d.Path, "--entry", "--title=" + dialogTitle, "--text=" + markupEscape(text), "--entry-text=" + def}
}

// QuestionArgs is the command line of a window that asks yes or no, with
// the buttons labelled yes and no.
func (d *Dialog) QuestionArgs(text, yes, no string) []string {
	if d.Tool == "kdialog" {
		return []string{d.Path, "--title", dialogTitle, "--yes-label", yes, "--no-label", no, "--warningyesno", text}
	}
	return []string{d.Path, "--question", "--title=" + dialogTitle, "--text=" + markupEscape(text), "--ok-label=" + yes, "--cancel-label=" + no}
}

// MessageArgs is the command line of a window that tells text; bad makes
// it an error.
func (d *Dialog) MessageArgs(text string, bad bool) []string {
	if d.Tool == "kdialog" {
		kind := "--msgbox"
		if bad {
			kind = "--error"
		}
		return []string{d.Path, "--title", dialogTitle, kind, text}
	}
	kind := "--info"
	if bad {
		kind = "--error"
	}
	return []string{d.Path, kind, "--title=" + dialogTitle, "--text=" + markupEscape(text)}
}

// dialogWait bounds a window nobody answers: the helper goes on as if it
// was cancelled.
const dialogWait = 30 * time.Minute

// run runs argv and returns what it printed; ok is false when the window
// was cancelled or closed (a non-zero exit).
func (d *Dialog) run(argv []string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), dialogWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "", false
	}
	return strings.TrimSpace(out.String()), err == nil
}

// Ask asks for a line of text; ok is false when the user cancelled.
func (d *Dialog) Ask(text, def string) (string, bool) { return d.run(d.EntryArgs(text, def)) }

// Confirm asks yes or no; only a yes is true.
func (d *Dialog) Confirm(text, yes, no string) bool {
	_, ok := d.run(d.QuestionArgs(text, yes, no))
	return ok
}

// Tell shows text until the user closes the window.
func (d *Dialog) Tell(text string, bad bool) { d.run(d.MessageArgs(text, bad)) }

// markupEscape keeps zenity's Pango markup from reading a reason or a
// message as tags.
func markupEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// terminals are the terminal emulators the launcher tries, in order, with
// the option after which each takes the command to run. x-terminal-emulator
// is Debian's choice of the installed ones.
var terminals = []struct{ name, exec string }{
	{"x-terminal-emulator", "-e"},
	{"gnome-terminal", "--"},
	{"kgx", "--"}, // GNOME Console
	{"konsole", "-e"},
	{"xfce4-terminal", "-x"},
	{"mate-terminal", "-x"},
	{"lxterminal", "-e"},
	{"tilix", "-e"},
	{"alacritty", "-e"},
	{"kitty", ""},
	{"foot", ""},
	{"xterm", "-e"},
}

// Front is how the launcher shows the helper.
type Front struct {
	// Terminal is the command line that opens a terminal running the
	// helper, when a terminal emulator is installed.
	Terminal []string
	// Dialog asks in windows when there is no terminal emulator.
	Dialog *Dialog
}

// ChooseFront decides how the launcher shows the helper, hoist being the
// helper's own command line: in a terminal emulator when one is installed,
// else through dialog windows, else neither (the zero Front).
func ChooseFront(lookPath func(string) (string, error), hoist []string) Front {
	for _, t := range terminals {
		p, err := lookPath(t.name)
		if err != nil {
			continue
		}
		argv := []string{p}
		if t.exec != "" {
			argv = append(argv, t.exec)
		}
		return Front{Terminal: append(argv, hoist...)}
	}
	return Front{Dialog: FindDialog(lookPath)}
}
