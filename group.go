package hoist

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// GroupIDPrefix marks computer group ids.
const GroupIDPrefix = "grp_"

// DefaultGroup holds every agent. It cannot be deleted or renamed.
const DefaultGroup = "Linux Computers"

// ComputerGroup is a set of machines that policies and agent configuration
// target. An agent is in the default group, in the group its enrolment token
// named, and in every group whose rules it matches.
type ComputerGroup struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Priority decides between groups whose agent configurations set the
	// same field: the highest wins; on a tie, the name first in order.
	Priority int `json:"priority"`
	// Rules add agents by what they report; empty rules add none.
	Rules  GroupRules  `json:"rules"`
	Config AgentConfig `json:"config"`

	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// GroupRules select agents by their facts. Every rule set must match; a
// group with no rule set selects agents only by enrolment token.
type GroupRules struct {
	// Hostname is a path.Match pattern ("web-*") matched against the
	// agent's name: the name an admin pinned, when one is, else the
	// hostname the agent reports (which any enrolled agent may claim).
	Hostname string `json:"hostname,omitempty"`
	// OS is matched against the OS the agent reports ("linux").
	OS string `json:"os,omitempty"`
	// MinAgentVersion selects agents at this version or newer.
	MinAgentVersion string `json:"min_agent_version,omitempty"`
}

// Empty reports whether no rule is set.
func (r GroupRules) Empty() bool { return r == GroupRules{} }

// Matches reports whether the agent a satisfies every rule that is set.
func (r GroupRules) Matches(a AgentRecord) bool {
	if r.Empty() {
		return false
	}
	if r.Hostname != "" {
		if a.NameUnverified() {
			return false // it claims another agent's pinned name
		}
		if ok, _ := path.Match(r.Hostname, a.Name()); !ok { // the pinned name, when set: see AgentRecord.PinnedName
			return false
		}
	}
	if r.OS != "" && !strings.EqualFold(r.OS, a.OS) {
		return false
	}
	if r.MinAgentVersion != "" && VersionLess(a.Version, r.MinAgentVersion) {
		return false
	}
	return true
}

// AgentConfig is the configuration a group gives its agents. A nil field is
// not set by this group: another group, or the default, decides it.
type AgentConfig struct {
	// CreateJITShortcut installs (true) or removes (false) the "Start Hoist
	// JIT Elevated Access" desktop launcher.
	CreateJITShortcut *bool `json:"create_jit_shortcut,omitempty"`
	// Reminders are how long before the end of a session the user is
	// reminded.
	Reminders []Duration `json:"reminders,omitempty"`
	// ReminderEvery is the period of the reminders before the final marks
	// of Reminders: every ReminderEvery of time left ("ends in 3h", "ends
	// in 2h30m"…). 0 turns them off; nil leaves it to another group or the
	// default, DefaultReminderEvery. An agent older than
	// ReminderEveryVersion never receives it (it would ignore it, and remind
	// at the final marks only).
	ReminderEvery *Duration `json:"reminder_every,omitempty"`
	// DefaultDuration is the window asked for when the user names none.
	DefaultDuration *Duration `json:"default_duration,omitempty"`
	// MaxDuration caps what a user of these machines may ask for.
	MaxDuration *Duration `json:"max_duration,omitempty"`
	// CheckinInterval is how often the agent reports that it is alive.
	CheckinInterval *Duration `json:"checkin_interval,omitempty"`
	// Grace is the time between SIGTERM and the kill at a session's end.
	Grace *Duration `json:"grace,omitempty"`
	// ElevateSudo lets sudo and pkexec elevate a user during their JIT
	// session, inside the session (nil: yes).
	ElevateSudo *bool `json:"elevate_sudo,omitempty"`
	// ChangeReport makes hoistd snapshot the machine at the start and the
	// end of each session and record what changed (nil: yes). See
	// docs/change-report.md.
	ChangeReport *bool `json:"change_report,omitempty"`
	// ChangeReportFiles are the files under /etc whose checksums the
	// change report compares, besides what it always compares; a
	// directory stands for the files in it (nil: DefaultChangeReportFiles).
	ChangeReportFiles []string `json:"change_report_files,omitempty"`
	// RecordTerminal says what hoistd records of an elevated program that
	// runs on a terminal: "off", "output" (what it shows; the default) or
	// "output_and_input" (what the user types too, passwords typed
	// without echo included). See docs/session-audit-recording.md.
	RecordTerminal *string `json:"record_terminal,omitempty"`
}

// Values of AgentConfig.RecordTerminal.
const (
	RecordOff            = "off"
	RecordOutput         = "output"
	RecordOutputAndInput = "output_and_input"
)

// RecordTerminalVersion is the lowest agent version that records
// terminals; an older agent never receives record_terminal.
const RecordTerminalVersion = "0.4.0"

// RecordMode is the recording c asks for: RecordOutput where unset.
func (c AgentConfig) RecordMode() string {
	if c.RecordTerminal == nil {
		return RecordOutput
	}
	return *c.RecordTerminal
}

// ConfigFields maps each configuration field to the lowest agent version
// that understands it. The server leaves out what an agent is too old for.
var ConfigFields = map[string]string{
	"create_jit_shortcut": "0.2.0",
	"reminders":           "0.2.0",
	"default_duration":    "0.2.0",
	"max_duration":        "0.2.0",
	"checkin_interval":    "0.2.0",
	"grace":               "0.2.0",
	"elevate_sudo":        "0.3.0",
	"reminder_every":      ReminderEveryVersion,
	"change_report":       ChangeReportVersion,
	"change_report_files": ChangeReportVersion,
	"record_terminal":     RecordTerminalVersion,
}

// ChangeReportVersion is the lowest agent version that makes change
// reports (AgentConfig.ChangeReport, ChangeReportFiles). An older agent
// ignores the fields, and reports nothing.
const ChangeReportVersion = "0.4.0"

// DefaultChangeReportFiles are the files under /etc whose checksums a
// change report compares where no group names its own: where logins,
// name resolution, the loader, the shells and the package sources are
// configured.
var DefaultChangeReportFiles = []string{
	"/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d",
	"/etc/pam.d", "/etc/security/access.conf", "/etc/security/limits.conf", "/etc/login.defs",
	"/etc/nsswitch.conf", "/etc/hosts", "/etc/fstab",
	"/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/environment", "/etc/profile", "/etc/profile.d", "/etc/bash.bashrc",
	"/etc/apt/sources.list", "/etc/apt/sources.list.d", "/etc/apt/trusted.gpg.d",
	"/etc/polkit-1/rules.d",
}

// Bounds of ChangeReportFiles.
const (
	MaxChangeReportFiles = 100
	maxChangeReportPath  = 256
)

// CheckChangeReportFile reports why p cannot be in ChangeReportFiles: it
// must be a clean absolute path under /etc of at most 256 bytes.
func CheckChangeReportFile(p string) error {
	switch {
	case len(p) > maxChangeReportPath || !printable(p):
		return Errorf(EInvalid, "%q is not a path of at most %d printable bytes", p, maxChangeReportPath)
	case !strings.HasPrefix(p, "/etc/") || path.Clean(p) != p:
		return Errorf(EInvalid, "%q is not a clean path under /etc (such as /etc/ssh/sshd_config)", p)
	}
	return nil
}

// ReminderEveryVersion is the lowest agent version that reminds
// periodically (AgentConfig.ReminderEvery, JITChildren.ReminderEvery).
const ReminderEveryVersion = "0.3.0"

// Defaults of the agent configuration.
const (
	DefaultCheckinInterval = 5 * time.Minute
	DefaultGrace           = 10 * time.Second
)

// DefaultReminders are the reminders of a session, before its end.
var DefaultReminders = []Duration{Duration(15 * time.Minute), Duration(5 * time.Minute), Duration(time.Minute)}

// DefaultReminderEvery is the period of the reminders before the final
// marks, where neither the child-processes policy nor the agent
// configuration sets one: a 4-hour session says how long is left every
// half hour, not only in its last quarter hour.
const DefaultReminderEvery = 30 * time.Minute

// Bounds of a reminder period (0 is off).
const (
	MinReminderEvery = time.Minute
	MaxReminderEvery = 24 * time.Hour
)

// checkReminderEvery checks a reminder period into f under field.
func checkReminderEvery(f FieldErrors, field string, d *Duration) {
	if d != nil && d.D() != 0 && (d.D() < MinReminderEvery || d.D() > MaxReminderEvery) {
		f[field] = DurationRange(MinReminderEvery, MaxReminderEvery) + ", or 0 for no periodic reminders"
	}
}

// Validate checks a group for storing.
func (g ComputerGroup) Validate() error {
	f := FieldErrors{}
	if !validObjectName(g.Name) {
		f["name"] = "1 to 100 letters, digits, spaces or ()._/- starting with a letter or digit"
	}
	if len(g.Description) > 1000 {
		f["description"] = "at most 1000 characters"
	}
	if g.Priority < -1000 || g.Priority > 1000 {
		f["priority"] = "between -1000 and 1000"
	}
	if g.Rules.Hostname != "" {
		if _, err := path.Match(g.Rules.Hostname, ""); err != nil || len(g.Rules.Hostname) > 253 {
			f["rules.hostname"] = "a hostname pattern such as web-* or db-?.example.com"
		}
	}
	if len(g.Rules.OS) > 64 {
		f["rules.os"] = "at most 64 characters"
	}
	if v := g.Rules.MinAgentVersion; v != "" {
		if _, ok := parseVersion(v); !ok {
			f["rules.min_agent_version"] = fmt.Sprintf("%q is not a version such as 0.2.0", v)
		}
	}
	g.Config.validate(f)
	return f.err("the group")
}

func (c AgentConfig) validate(f FieldErrors) {
	if len(c.Reminders) > 10 {
		f["config.reminders"] = "at most 10 reminders"
	}
	for _, r := range c.Reminders {
		if r.D() < time.Second || r.D() > 24*time.Hour {
			f["config.reminders"] = fmt.Sprintf("%s is not %s before the end", FormatDuration(r.D()), DurationRange(time.Second, 24*time.Hour))
		}
	}
	checkReminderEvery(f, "config.reminder_every", c.ReminderEvery)
	if len(c.ChangeReportFiles) > MaxChangeReportFiles {
		f["config.change_report_files"] = fmt.Sprintf("at most %d files", MaxChangeReportFiles)
	}
	for _, p := range c.ChangeReportFiles {
		if err := CheckChangeReportFile(p); err != nil {
			f["config.change_report_files"] = ErrorMessage(err)
		}
	}
	inRange := func(field string, d *Duration, lo, hi time.Duration) {
		if d != nil && (d.D() < lo || d.D() > hi) {
			f["config."+field] = DurationRange(lo, hi)
		}
	}
	inRange("default_duration", c.DefaultDuration, MinDuration, 7*24*time.Hour)
	inRange("max_duration", c.MaxDuration, MinDuration, 7*24*time.Hour)
	inRange("checkin_interval", c.CheckinInterval, 10*time.Second, 24*time.Hour)
	inRange("grace", c.Grace, 0, 10*time.Minute)
	if r := c.RecordTerminal; r != nil && *r != RecordOff && *r != RecordOutput && *r != RecordOutputAndInput {
		f["config.record_terminal"] = "off, output or output_and_input"
	}
	if c.DefaultDuration != nil && c.MaxDuration != nil && *c.DefaultDuration > *c.MaxDuration {
		f["config.default_duration"] = fmt.Sprintf("%s is longer than the max duration, %s", FormatDuration(c.DefaultDuration.D()), DescribeDuration(c.MaxDuration.D()))
	}
}

// SetFields lists the configuration fields c sets.
func (c AgentConfig) SetFields() []string {
	var out []string
	if c.CreateJITShortcut != nil {
		out = append(out, "create_jit_shortcut")
	}
	if c.Reminders != nil {
		out = append(out, "reminders")
	}
	if c.DefaultDuration != nil {
		out = append(out, "default_duration")
	}
	if c.MaxDuration != nil {
		out = append(out, "max_duration")
	}
	if c.CheckinInterval != nil {
		out = append(out, "checkin_interval")
	}
	if c.Grace != nil {
		out = append(out, "grace")
	}
	if c.ElevateSudo != nil {
		out = append(out, "elevate_sudo")
	}
	if c.ReminderEvery != nil {
		out = append(out, "reminder_every")
	}
	if c.ChangeReport != nil {
		out = append(out, "change_report")
	}
	if c.ChangeReportFiles != nil {
		out = append(out, "change_report_files")
	}
	if c.RecordTerminal != nil {
		out = append(out, "record_terminal")
	}
	return out
}

// without returns c with field unset.
func (c AgentConfig) without(field string) AgentConfig {
	switch field {
	case "create_jit_shortcut":
		c.CreateJITShortcut = nil
	case "reminders":
		c.Reminders = nil
	case "default_duration":
		c.DefaultDuration = nil
	case "max_duration":
		c.MaxDuration = nil
	case "checkin_interval":
		c.CheckinInterval = nil
	case "grace":
		c.Grace = nil
	case "elevate_sudo":
		c.ElevateSudo = nil
	case "reminder_every":
		c.ReminderEvery = nil
	case "change_report":
		c.ChangeReport = nil
	case "change_report_files":
		c.ChangeReportFiles = nil
	case "record_terminal":
		c.RecordTerminal = nil
	}
	return c
}

// overlay sets in c each field that c leaves unset and o sets.
func (c AgentConfig) overlay(o AgentConfig) AgentConfig {
	if c.CreateJITShortcut == nil {
		c.CreateJITShortcut = o.CreateJITShortcut
	}
	if c.Reminders == nil {
		c.Reminders = o.Reminders
	}
	if c.DefaultDuration == nil {
		c.DefaultDuration = o.DefaultDuration
	}
	if c.MaxDuration == nil {
		c.MaxDuration = o.MaxDuration
	}
	if c.CheckinInterval == nil {
		c.CheckinInterval = o.CheckinInterval
	}
	if c.Grace == nil {
		c.Grace = o.Grace
	}
	if c.ElevateSudo == nil {
		c.ElevateSudo = o.ElevateSudo
	}
	if c.ReminderEvery == nil {
		c.ReminderEvery = o.ReminderEvery
	}
	if c.ChangeReport == nil {
		c.ChangeReport = o.ChangeReport
	}
	if c.ChangeReportFiles == nil {
		c.ChangeReportFiles = o.ChangeReportFiles
	}
	if c.RecordTerminal == nil {
		c.RecordTerminal = o.RecordTerminal
	}
	return c
}

// GroupsOf returns the groups agent a is in, highest priority first: the
// default group, the group its enrolment token named, and those whose rules
// it matches.
func GroupsOf(a AgentRecord, groups []ComputerGroup) []ComputerGroup {
	var in []ComputerGroup
	for _, g := range groups {
		if g.Name == DefaultGroup || g.Name == a.Group || g.Rules.Matches(a) {
			in = append(in, g)
		}
	}
	SortGroups(in)
	return in
}

// SortGroups orders groups by priority, highest first, then by name.
func SortGroups(gs []ComputerGroup) {
	slices.SortStableFunc(gs, func(a, b ComputerGroup) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// MergeConfig is the configuration of an agent in groups (highest priority
// first): each field comes from the first group that sets it.
func MergeConfig(groups []ComputerGroup) AgentConfig {
	var c AgentConfig
	for _, g := range groups {
		c = c.overlay(g.Config)
	}
	return c
}

// CheckAgainst checks c, the configuration of group, against the JIT
// startup policies its agents meet (startup, each targeting group or the
// default group, which every agent is in): the default duration must be a
// window each of them allows, so that a user who names no duration is never
// told it is too long. With no such policy, the default maximum applies.
// (An agent that meets a tighter policy through another group has the
// default cut to that policy's maximum: see Bundle.StartupRules.)
// The error is EInvalid and names the field.
func (c AgentConfig) CheckAgainst(group string, startup []Policy) error {
	if c.DefaultDuration == nil {
		return nil
	}
	def := c.DefaultDuration.D()
	limit := func(max time.Duration) time.Duration {
		if max == 0 {
			max = DefaultMaxDuration
		}
		if c.MaxDuration != nil && c.MaxDuration.D() < max {
			max = c.MaxDuration.D()
		}
		return max
	}
	f := FieldErrors{}
	met := false
	for _, p := range startup {
		if p.Kind != KindJITStartup || p.Startup == nil || !(slices.Contains(p.Groups, group) || slices.Contains(p.Groups, DefaultGroup)) {
			continue
		}
		met = true
		if max := limit(p.Startup.MaxDuration.D()); def > max {
			f["config.default_duration"] = fmt.Sprintf("%s is longer than the %s that policy %q allows", FormatDuration(def), DescribeDuration(max), p.Name)
			break
		}
	}
	if max := limit(0); !met && def > max {
		f["config.default_duration"] = fmt.Sprintf("%s is longer than the %s a request may last", FormatDuration(def), DescribeDuration(max))
	}
	return f.err("the group")
}

// ConfigValue is one field of a group's effective agent configuration and
// where its value comes from.
type ConfigValue struct {
	Field string `json:"field"`
	Value string `json:"value"`
	// From is "set here", "inherited from group NAME" or "default".
	From string `json:"from"`
}

// EffectiveConfig says, field by field, what an agent in group g alone
// (and the default group, which every agent is in) is configured with:
// g's own value, else the default group's, else the built-in default.
// Agents in other groups too may see higher-priority values.
func EffectiveConfig(g ComputerGroup, def ComputerGroup) []ConfigValue {
	defaults := AgentConfig{
		Reminders:       DefaultReminders,
		DefaultDuration: durationPtr(DefaultOneTimeDuration),
		MaxDuration:     durationPtr(DefaultMaxDuration),
		CheckinInterval: durationPtr(DefaultCheckinInterval),
		Grace:           durationPtr(DefaultGrace),
		ReminderEvery:   durationPtr(DefaultReminderEvery),
	}
	layers := []struct {
		c    AgentConfig
		from string
	}{{g.Config, "set here"}, {def.Config, "inherited from group " + def.Name}, {defaults, "default"}}
	if g.Name == def.Name {
		layers = append(layers[:1], layers[2:]...)
	}
	fields := []string{"create_jit_shortcut", "reminders", "default_duration", "max_duration", "checkin_interval", "grace", "reminder_every"}
	out := make([]ConfigValue, 0, len(fields))
	for _, field := range fields {
		v := ConfigValue{Field: field, Value: "not managed: the machine's launcher stays as it is", From: "default"}
		for _, l := range layers {
			if s, ok := l.c.value(field); ok {
				v.Value, v.From = s, l.from
				break
			}
		}
		out = append(out, v)
	}
	return out
}

// value prints field of c, and whether c sets it.
func (c AgentConfig) value(field string) (string, bool) {
	dur := func(d *Duration) (string, bool) {
		if d == nil {
			return "", false
		}
		return FormatDuration(d.D()), true
	}
	switch field {
	case "create_jit_shortcut":
		if c.CreateJITShortcut == nil {
			return "", false
		}
		return map[bool]string{true: "yes", false: "no"}[*c.CreateJITShortcut], true
	case "reminders":
		if c.Reminders == nil {
			return "", false
		}
		parts := make([]string, len(c.Reminders))
		for i, r := range c.Reminders {
			parts[i] = FormatDuration(r.D())
		}
		if len(parts) == 0 {
			return "none", true
		}
		return strings.Join(parts, ", ") + " before the end", true
	case "default_duration":
		return dur(c.DefaultDuration)
	case "max_duration":
		return dur(c.MaxDuration)
	case "checkin_interval":
		return dur(c.CheckinInterval)
	case "grace":
		return dur(c.Grace)
	case "reminder_every":
		if c.ReminderEvery == nil {
			return "", false
		}
		if c.ReminderEvery.D() == 0 {
			return "off", true
		}
		return "every " + FormatDuration(c.ReminderEvery.D()) + " of time left", true
	}
	return "", false
}

func durationPtr(d time.Duration) *Duration { v := Duration(d); return &v }
