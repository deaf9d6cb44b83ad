package hoist

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ChangeKind is what a snapshot entry is about: an installed package, an
// account, a sudoers file… The kinds are the questions an auditor asks
// after a session ("did root change this?").
type ChangeKind string

// The kinds of a change report, in the order a report lists them.
const (
	KindUser           ChangeKind = "user"
	KindGroup          ChangeKind = "group"
	KindSudoers        ChangeKind = "sudoers"
	KindAuthorizedKeys ChangeKind = "authorized_keys"
	KindSetuid         ChangeKind = "setuid"
	KindCron           ChangeKind = "cron"
	KindUnit           ChangeKind = "unit"
	KindTimer          ChangeKind = "timer"
	KindFile           ChangeKind = "file"
	KindPackage        ChangeKind = "package"
)

// ChangeKinds lists every kind in report order: the accounts and what
// grants root first, the noisiest (packages) last.
var ChangeKinds = []ChangeKind{KindUser, KindGroup, KindSudoers, KindAuthorizedKeys, KindSetuid, KindCron, KindUnit, KindTimer, KindFile, KindPackage}

// kindRank is a kind's place in ChangeKinds; unknown kinds sort last.
func kindRank(k ChangeKind) int {
	if i := slices.Index(ChangeKinds, k); i >= 0 {
		return i
	}
	return len(ChangeKinds)
}

// What happened to an entry between two snapshots.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// Bounds of a snapshot and of a change report.
const (
	// MaxSnapshotEntries bounds a snapshot; what is offered beyond is
	// counted in Snapshot.Dropped and noted in its limits.
	MaxSnapshotEntries = 200_000
	// MaxSnapshotName bounds an entry's name (a path, a package name).
	MaxSnapshotName = 512
	// MaxSnapshotValue bounds an entry's value: a longer one keeps its
	// first bytes and a hash of the whole, so a change past the cut is
	// still seen.
	MaxSnapshotValue = 200
	// MaxSnapshotLimits bounds the notes on what a snapshot could not read.
	MaxSnapshotLimits = 20
	// MaxReportChanges is the most changes one report lists.
	MaxReportChanges = 100
	// MaxReportBytes bounds the JSON of the listed changes, so that the
	// report fits one audit record.
	MaxReportBytes = 12 << 10
	// MaxReportLimitBytes bounds the report's notes of what the snapshots
	// could not see whole, for the same reason.
	MaxReportLimitBytes = 2 << 10
)

// Snapshot is a machine's state as a set of (kind, name) → fingerprint.
// The fingerprint is a short, printable value that changes when the thing
// does: a package's version, a file's hash, mode and owner, a symlink's
// target. It never holds a secret (a password hash is fingerprinted, not
// kept). The zero value is not usable: make one with NewSnapshot.
type Snapshot struct {
	entries map[snapKey]string
	limits  []string
	// Dropped counts the entries refused by MaxSnapshotEntries.
	Dropped int
}

type snapKey struct {
	Kind ChangeKind
	Name string
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot { return &Snapshot{entries: map[snapKey]string{}} }

// Add records that name of kind has fingerprint value. A name longer than
// MaxSnapshotName is clipped; a value longer than MaxSnapshotValue keeps
// its start and a hash of the whole. Past MaxSnapshotEntries an entry is
// counted in Dropped instead. Adding a key twice keeps the last value.
func (s *Snapshot) Add(kind ChangeKind, name, value string) {
	k := snapKey{kind, clipName(name)}
	if _, ok := s.entries[k]; !ok && len(s.entries) >= MaxSnapshotEntries {
		s.Dropped++
		return
	}
	s.entries[k] = clipValue(value)
}

// Note records a limit the snapshot met (a directory with too many
// entries, a file too large to hash): what it says was not seen whole.
// Past MaxSnapshotLimits notes are dropped; the same note is kept once.
func (s *Snapshot) Note(format string, args ...any) {
	n := clipName(fmt.Sprintf(format, args...))
	if len(s.limits) < MaxSnapshotLimits && !slices.Contains(s.limits, n) {
		s.limits = append(s.limits, n)
	}
}

// Len is the number of entries.
func (s *Snapshot) Len() int { return len(s.entries) }

// Get returns the fingerprint of (kind, name) and whether it is there.
func (s *Snapshot) Get(kind ChangeKind, name string) (string, bool) {
	v, ok := s.entries[snapKey{kind, name}]
	return v, ok
}

// Limits returns the notes of what the snapshot could not see whole.
func (s *Snapshot) Limits() []string { return slices.Clone(s.limits) }

// snapshotEntry is an entry as stored on disk.
type snapshotEntry struct {
	Kind  ChangeKind `json:"kind"`
	Name  string     `json:"name"`
	Value string     `json:"value"`
}

type snapshotJSON struct {
	Entries []snapshotEntry `json:"entries"`
	Limits  []string        `json:"limits,omitempty"`
	Dropped int             `json:"dropped,omitempty"`
}

// MarshalJSON writes the snapshot with its entries in report order.
func (s *Snapshot) MarshalJSON() ([]byte, error) {
	out := snapshotJSON{Entries: make([]snapshotEntry, 0, len(s.entries)), Limits: s.limits, Dropped: s.Dropped}
	for k, v := range s.entries {
		out.Entries = append(out.Entries, snapshotEntry{k.Kind, k.Name, v})
	}
	slices.SortFunc(out.Entries, func(a, b snapshotEntry) int { return compareKey(a.Kind, a.Name, b.Kind, b.Name) })
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote, holding it to the same
// bounds as Add and Note.
func (s *Snapshot) UnmarshalJSON(data []byte) error {
	var in snapshotJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*s = *NewSnapshot()
	for _, e := range in.Entries {
		s.Add(e.Kind, e.Name, e.Value)
	}
	for _, l := range in.Limits {
		s.Note("%s", l)
	}
	s.Dropped += max(in.Dropped, 0)
	return nil
}

// Change is one line of a change report: what changed between the
// snapshot at a session's start and the one at its end. Detail is the
// fingerprint (a package's version, "sha256:…"), "OLD → NEW" for a change.
type Change struct {
	Kind   ChangeKind `json:"kind"`
	Name   string     `json:"name"`
	Change string     `json:"change"`
	Detail string     `json:"detail,omitempty"`
}

// ChangeReport is the difference of two snapshots, as the session.changes
// audit record carries it: Changes (never nil) in report order (kind,
// then name), Omitted the changes left out by the bounds, Limits what
// either snapshot could not see whole.
type ChangeReport struct {
	Changes []Change `json:"changes"`
	Omitted int      `json:"omitted"`
	Limits  []string `json:"limits,omitempty"`
}

// AuditDetail is the report as the detail of a session.changes record:
// {"changes":[…],"omitted":N}, and "limits" when there are any.
func (r ChangeReport) AuditDetail() map[string]any {
	d := map[string]any{"changes": r.Changes, "omitted": r.Omitted}
	if len(r.Limits) > 0 {
		d["limits"] = r.Limits
	}
	return d
}

// DiffSnapshots returns what changed from before to after: each entry
// added, removed, or whose fingerprint changed. At most maxChanges
// (MaxReportChanges when maxChanges <= 0) are listed, within
// MaxReportBytes; the rest are counted in Omitted. When the bound bites,
// the kinds share it in turns, so that a thousand packages installed
// cannot push a new sudoers file out of the report. It does no I/O and
// its result depends only on its arguments.
func DiffSnapshots(before, after *Snapshot, maxChanges int) ChangeReport {
	if maxChanges <= 0 || maxChanges > MaxReportChanges {
		maxChanges = MaxReportChanges
	}
	all := allChanges(before, after)
	picked := pickFairly(all, maxChanges)
	r := ChangeReport{Changes: picked, Omitted: len(all) - len(picked)}
	var notes []string
	if before.Dropped+after.Dropped > 0 {
		notes = append(notes, fmt.Sprintf("more than %d entries: %d not compared", MaxSnapshotEntries, max(before.Dropped, after.Dropped)))
	}
	notes = append(append(notes, before.limits...), after.limits...)
	size := 0
	for _, l := range notes {
		if slices.Contains(r.Limits, l) || len(r.Limits) == MaxSnapshotLimits || size+jsonLen(l) > MaxReportLimitBytes {
			continue
		}
		size += jsonLen(l)
		r.Limits = append(r.Limits, l)
	}
	return r
}

// allChanges lists every difference, in report order.
func allChanges(before, after *Snapshot) []Change {
	var out []Change
	for k, old := range before.entries {
		cur, ok := after.entries[k]
		switch {
		case !ok:
			out = append(out, Change{k.Kind, k.Name, ChangeRemoved, old})
		case cur != old:
			out = append(out, Change{k.Kind, k.Name, ChangeChanged, old + " → " + cur})
		}
	}
	for k, cur := range after.entries {
		if _, ok := before.entries[k]; !ok {
			out = append(out, Change{k.Kind, k.Name, ChangeAdded, cur})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return compareKey(a.Kind, a.Name, b.Kind, b.Name) })
	return out
}

// pickFairly takes at most n of all (in report order) within
// MaxReportBytes: one of each kind in turn, so that every kind that
// changed is in the report before any kind has a second line. The result
// keeps report order and is never nil.
func pickFairly(all []Change, n int) []Change {
	byKind := map[ChangeKind][]Change{}
	var kinds []ChangeKind
	for _, c := range all {
		if _, ok := byKind[c.Kind]; !ok {
			kinds = append(kinds, c.Kind)
		}
		byKind[c.Kind] = append(byKind[c.Kind], c)
	}
	picked := make([]Change, 0, min(n, len(all)))
	bytes := 0
	for round := 0; len(picked) < n; round++ {
		took := false
		for _, k := range kinds {
			if round >= len(byKind[k]) || len(picked) == n {
				continue
			}
			c := byKind[k][round]
			size := jsonLen(string(c.Kind)) + jsonLen(c.Name) + len(c.Change) + jsonLen(c.Detail) + 48 // the JSON around them
			if bytes+size > MaxReportBytes {
				continue
			}
			bytes += size
			picked = append(picked, c)
			took = true
		}
		if !took {
			break
		}
	}
	slices.SortFunc(picked, func(a, b Change) int { return compareKey(a.Kind, a.Name, b.Kind, b.Name) })
	return picked
}

// jsonLen is the length of s as encoding/json writes it in a string
// (its HTML-safe escapes included), so that a name of '<' cannot swell a
// report past its bound sixfold.
func jsonLen(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r < 0x20:
			n += 6
		case r == '"' || r == '\\':
			n += 2
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

func compareKey(ka ChangeKind, na string, kb ChangeKind, nb string) int {
	return cmp.Or(cmp.Compare(kindRank(ka), kindRank(kb)), strings.Compare(string(ka), string(kb)), strings.Compare(na, nb))
}

// clipName cuts s to MaxSnapshotName bytes on a rune boundary and makes
// it printable: names come from file systems root does not control.
func clipName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !printable(s) {
		s = strings.Trim(fmt.Sprintf("%q", s), `"`)
	}
	return clipRunes(s, MaxSnapshotName)
}

// clipValue keeps a value within MaxSnapshotValue: a longer (or
// unprintable) one becomes its start and a short hash of the whole.
func clipValue(s string) string {
	if len(s) <= MaxSnapshotValue && printable(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := " …sha256:" + hex.EncodeToString(sum[:8])
	head := strings.Trim(fmt.Sprintf("%q", strings.ToValidUTF8(s, "\uFFFD")), `"`)
	return clipRunes(head, MaxSnapshotValue-len(tail)) + tail
}

// clipRunes cuts s to at most n bytes without splitting a rune.
func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// ChangeReportOn says whether c has hoistd make change reports (yes
// unless a group says no).
func (c AgentConfig) ChangeReportOn() bool { return c.ChangeReport == nil || *c.ChangeReport }

// ChangeReportPaths are the files under /etc whose checksums c has the
// change report compare: ChangeReportFiles, or DefaultChangeReportFiles
// when no group sets them, less any path CheckChangeReportFile refuses (a
// bundle is checked by the server, and again here, by the agent).
func (c AgentConfig) ChangeReportPaths() []string {
	src := c.ChangeReportFiles
	if src == nil {
		src = DefaultChangeReportFiles
	}
	out := make([]string, 0, min(len(src), MaxChangeReportFiles))
	for _, p := range src {
		if len(out) < MaxChangeReportFiles && CheckChangeReportFile(p) == nil && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
