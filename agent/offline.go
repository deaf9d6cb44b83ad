package agent

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hoist-jit/hoist"
)

// Offline approval on the machine (docs/offline.md): hoistd makes a
// challenge for a user, keeps it, and checks the response an approver's
// server made for it with the agent's offline key — without the server.
// A response that checks out starts an ordinary JIT session.

// Limits of offline approval.
const (
	// MaxOfflineTries is how many wrong responses one challenge takes
	// before it is spent.
	MaxOfflineTries = 5
	// MaxUserOfflineFailures is how many wrong responses and codes of one
	// user hoistd takes within OfflineFailureWindow; past it, that user's
	// responses are refused until the oldest failure ages out.
	MaxUserOfflineFailures = 10
	// MaxOfflineFailures is how many wrong responses and codes, from all
	// users together, hoistd takes within OfflineFailureWindow; past it,
	// every response is refused until the oldest failure ages out. Only
	// users the JIT rules let ask are counted, so it takes several of
	// them to reach it.
	MaxOfflineFailures = 50
	// OfflineFailureWindow is the span of the back-off.
	OfflineFailureWindow = time.Hour
	// maxChallenges bounds the open challenges (not used, expired or
	// spent) of all users together.
	maxChallenges = 256
	// maxUserChallenges bounds one user's open challenges, so that one
	// user cannot take every slot.
	maxUserChallenges = 8
	// maxKeptChallenges bounds the challenges kept, open or not; past it
	// the oldest closed one is dropped.
	maxKeptChallenges = 4 * maxChallenges
	// maxOfflineFile bounds the offline state read at start: well above
	// the largest state the limits allow (maxKeptChallenges challenges with
	// a reason of at most maxStoredReason bytes, each escaped to at most 6
	// in JSON, and the failures), and saveOffline refuses to write more.
	maxOfflineFile = 4 << 20
	// maxStoredReason bounds the reason kept with a challenge; the audit
	// has it whole.
	maxStoredReason = 200
	// maxUsedFile bounds the used emergency codes' file (maxUsedCodes
	// records of well under 1 KiB each).
	maxUsedFile = 1 << 20
)

// OfflineBy marks sessions an offline approval started.
const OfflineBy = "offline approval"

// OfflineKeyFile is where the agent's offline key is kept, root-only.
func OfflineKeyFile(stateDir string) string { return filepath.Join(stateDir, "offline-key.json") }

// offlineKey is the offline key file's content.
type offlineKey struct {
	AgentID string `json:"agent_id"`
	Key     []byte `json:"key"`
}

// WriteOfflineKey stores the offline key of the agent agentID in
// stateDir, 0600, replacing any earlier one; enrolment calls it.
func WriteOfflineKey(stateDir, agentID string, key []byte) error {
	if len(key) != hoist.OfflineKeySize || agentID == "" {
		return hoist.Errorf(hoist.EInvalid, "an offline key is %d bytes and names its agent", hoist.OfflineKeySize)
	}
	data, _ := json.Marshal(offlineKey{AgentID: agentID, Key: key})
	return writeFileAtomic(OfflineKeyFile(stateDir), data) // CreateTemp makes it 0600
}

// readOfflineKey reads the offline key file; ok is false when there is
// none or it is damaged.
func readOfflineKey(stateDir string) (offlineKey, bool) {
	data, err := readFileLimit(OfflineKeyFile(stateDir), 4096)
	if err != nil {
		return offlineKey{}, false
	}
	var k offlineKey
	if json.Unmarshal(data, &k) != nil || len(k.Key) != hoist.OfflineKeySize || !hoist.ValidID(hoist.AgentIDPrefix, k.AgentID) {
		return offlineKey{}, false
	}
	return k, true
}

// offline is the agent's offline-approval state; its own lock, taken
// before Agent.mu where both are held.
type offline struct {
	mu    sync.Mutex
	key   offlineKey
	state offlineState
	// used are the emergency codes used here, kept in their own file so
	// that nothing users put in the offline state can crowd them out.
	used []usedCode
	// usedLost is set when that record is damaged or lost: every
	// emergency code is refused until the next bundle from the server,
	// which no longer carries the codes used.
	usedLost bool
}

// offlineState is what hoistd keeps on disk, so that a restart neither
// forgets a used challenge nor resets the count of wrong responses.
type offlineState struct {
	Challenges []challengeRecord `json:"challenges"`
	// Failures are the times of wrong responses, for the global back-off.
	Failures []time.Time `json:"failures,omitempty"`
	// UserFailures are the same per user, for the user's back-off; at
	// most MaxOfflineFailures in all, as each is in Failures too.
	UserFailures map[string][]time.Time `json:"user_failures,omitempty"`
	// Emergency are the emergency codes used here as older versions kept
	// them; read at start into offline.used, never written.
	Emergency []usedCode `json:"emergency,omitempty"`
}

// usedCode is an emergency code used on this machine.
type usedCode struct {
	ID      string    `json:"id"`
	Hash    string    `json:"hash"`
	At      time.Time `json:"at"`
	Session string    `json:"session"`
}

// maxUsedCodes bounds the emergency codes remembered as used.
const maxUsedCodes = 1000

// EmergencyBy marks sessions an emergency code started.
const EmergencyBy = "emergency code"

// challengeRecord is one challenge hoistd made.
type challengeRecord struct {
	Code    string    `json:"code"`
	User    string    `json:"user"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
	// Tries counts wrong responses to it.
	Tries int `json:"tries,omitempty"`
	// Used is the session its response started.
	Used string `json:"used,omitempty"`
}

func (a *Agent) offlinePath() string { return filepath.Join(a.cfg.StateDir, "offline.json") }

func (a *Agent) usedCodesPath() string { return filepath.Join(a.cfg.StateDir, "emergency-used.json") }

// loadOffline reads the offline key and state at start. A damaged state
// file is replaced by an empty one, with the back-off full: nothing it
// held can be trusted, and refusing for an hour is the safe side. The
// used emergency codes are read from their own file (and from an older
// version's state); when that record is damaged, or the state that held
// it is, every emergency code is refused until the next bundle.
func (a *Agent) loadOffline() {
	if k, ok := readOfflineKey(a.cfg.StateDir); ok {
		a.off.key = k
	}
	usedOK := a.loadUsedCodes()
	data, err := readFileLimit(a.offlinePath(), maxOfflineFile)
	if errors.Is(err, os.ErrNotExist) {
		a.off.usedLost = !usedOK
		return
	}
	if err == nil {
		err = json.Unmarshal(data, &a.off.state)
	}
	if err != nil {
		a.cfg.Logger.Error("the offline approval state is damaged; refusing offline responses for an hour", "err", err)
		now := a.cfg.Clock.Now()
		a.off.state = offlineState{}
		for range MaxOfflineFailures {
			a.off.state.Failures = append(a.off.state.Failures, now)
		}
		if _, serr := os.Stat(a.usedCodesPath()); serr != nil {
			usedOK = false // an older version kept the used codes in the damaged file
		}
	}
	if len(a.off.state.Emergency) > 0 {
		// An older version's record: moved to its own file now, as the
		// state is written without it from here on.
		a.off.used = append(a.off.used, a.off.state.Emergency...)
		a.off.state.Emergency = nil
		if err := a.saveUsedCodes(); err != nil {
			usedOK = false
		}
	}
	a.off.usedLost = !usedOK
	if a.off.usedLost {
		a.cfg.Logger.Error("the record of the emergency codes used here is damaged; refusing every emergency code until the next policy bundle from the server")
	}
}

// loadUsedCodes reads the used emergency codes' file into off.used; it
// reports false when the file is there but damaged.
func (a *Agent) loadUsedCodes() bool {
	data, err := readFileLimit(a.usedCodesPath(), maxUsedFile)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err == nil {
		err = json.Unmarshal(data, &a.off.used)
	}
	if err != nil {
		a.off.used = nil
		a.cfg.Logger.Error("the used emergency codes' record is damaged", "err", err)
		return false
	}
	return true
}

// saveUsedCodes writes the used emergency codes; the caller holds off.mu.
func (a *Agent) saveUsedCodes() error {
	data, err := json.Marshal(a.off.used)
	if err != nil {
		return err
	}
	if len(data) > maxUsedFile {
		return fmt.Errorf("the used emergency codes would take %d bytes, more than the %d read back", len(data), maxUsedFile)
	}
	return writeFileAtomic(a.usedCodesPath(), data)
}

// bundleArrived lifts the refusal of every emergency code a damaged
// record of their use made: a bundle fresh from the server carries only
// codes not used yet.
func (a *Agent) bundleArrived() {
	a.off.mu.Lock()
	defer a.off.mu.Unlock()
	if a.off.usedLost {
		a.off.usedLost = false
		if err := a.saveUsedCodes(); err != nil {
			a.off.usedLost = true
			a.cfg.Logger.Error("cannot write the used emergency codes' record", "err", err)
		}
	}
}

// storedReason is reason cut to maxStoredReason bytes on a character
// boundary: the offline state keeps it only as a hint.
func storedReason(reason string) string {
	if len(reason) <= maxStoredReason {
		return reason
	}
	cut := maxStoredReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// SetOfflineKey installs the offline key the server delivered for this
// agent: written to the state directory first, then used.
func (a *Agent) SetOfflineKey(agentID string, key []byte) error {
	if err := WriteOfflineKey(a.cfg.StateDir, agentID, key); err != nil {
		return err
	}
	a.off.mu.Lock()
	a.off.key = offlineKey{AgentID: agentID, Key: append([]byte(nil), key...)}
	a.off.mu.Unlock()
	a.audit("offline.key_installed", "hoistd", agentID, map[string]any{"key_id": hoist.OfflineKeyID(key)})
	return nil
}

// OfflineKeyID names the offline key the agent holds; "" when none.
func (a *Agent) OfflineKeyID() string {
	a.off.mu.Lock()
	defer a.off.mu.Unlock()
	if a.off.key.Key == nil {
		return ""
	}
	return hoist.OfflineKeyID(a.off.key.Key)
}

// ChallengeInfo is an offline challenge made for a user.
type ChallengeInfo struct {
	Code      string
	Duration  time.Duration
	ExpiresAt time.Time
}

// OfflineChallenge makes a challenge for user asking d (the policy's
// default when zero) with reason, under the same JIT policy rules as a
// request to the server. It fails with EUnavailable when the agent has no
// offline key yet.
func (a *Agent) OfflineChallenge(user, reason string, d time.Duration) (ChallengeInfo, error) {
	if a.activeFor(user) != nil {
		return ChallengeInfo{}, hoist.Errorf(hoist.EConflict, "JIT elevated access is already active for %s", user)
	}
	j, ok, _ := a.jit()
	if !ok {
		return ChallengeInfo{}, hoist.Errorf(hoist.EForbidden, "JIT mode is not enabled for this machine: ask your administrator to activate the JIT policies for its computer group")
	}
	d, err := a.Bundle().StartupRules(j).MayRequest(user, unixGroups(user), d, reason)
	if err != nil {
		return ChallengeInfo{}, err
	}
	window, d, err := hoist.OfflineWindow(d)
	if err != nil {
		return ChallengeInfo{}, err
	}
	a.off.mu.Lock()
	defer a.off.mu.Unlock()
	if a.off.key.Key == nil {
		return ChallengeInfo{}, hoist.Errorf(hoist.EUnavailable, "this machine has no offline approval key yet: it gets one at its next check-in with the server")
	}
	now := a.cfg.Clock.Now()
	a.pruneOffline(now)
	mine, all := a.openChallenges(user, now)
	if mine >= maxUserChallenges {
		return ChallengeInfo{}, hoist.Errorf(hoist.ERateLimited, "too many offline challenges of yours on this machine in the last hour; try again later")
	}
	if all >= maxChallenges || !a.roomForChallenge(now) {
		return ChallengeInfo{}, hoist.Errorf(hoist.ERateLimited, "too many offline challenges on this machine in the last hour; try again later")
	}
	code := a.freshChallenge(user, window)
	a.off.state.Challenges = append(a.off.state.Challenges, challengeRecord{Code: code, User: user, Reason: storedReason(reason), Created: now})
	if err := a.saveOffline(); err != nil {
		return ChallengeInfo{}, hoist.WrapError(hoist.EUnavailable, "cannot record the challenge", err)
	}
	a.audit("offline.challenge", user, code, map[string]any{"user": user, "duration": hoist.FormatDuration(d), "reason": reason})
	return ChallengeInfo{Code: code, Duration: d, ExpiresAt: now.Add(hoist.ChallengeMaxAge)}, nil
}

// open reports whether c may still be answered at now.
func (c challengeRecord) open(now time.Time) bool {
	return c.Used == "" && c.Tries < MaxOfflineTries && now.Sub(c.Created) < hoist.ChallengeMaxAge
}

// openChallenges counts the open challenges of user and of all users;
// the caller holds off.mu.
func (a *Agent) openChallenges(user string, now time.Time) (mine, all int) {
	for _, c := range a.off.state.Challenges {
		if c.open(now) {
			all++
			if c.User == user {
				mine++
			}
		}
	}
	return mine, all
}

// roomForChallenge makes room for one more kept challenge, dropping the
// oldest closed one when maxKeptChallenges are kept; false when all are
// open. The caller holds off.mu.
func (a *Agent) roomForChallenge(now time.Time) bool {
	cs := a.off.state.Challenges
	if len(cs) < maxKeptChallenges {
		return true
	}
	for i, c := range cs { // kept in the order made: the first closed is the oldest
		if !c.open(now) {
			a.off.state.Challenges = append(cs[:i], cs[i+1:]...)
			return true
		}
	}
	return false
}

// freshChallenge is a new challenge code for user, unlike every one kept;
// the caller holds off.mu.
func (a *Agent) freshChallenge(user string, window int) string {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
		code := hoist.NewChallenge(a.off.key.AgentID, user, window, binary.BigEndian.Uint32(b[:])).String()
		if a.challenge(code) == nil {
			return code
		}
	}
}

// challenge returns the kept challenge with code, or nil; the caller
// holds off.mu.
func (a *Agent) challenge(code string) *challengeRecord {
	for i := range a.off.state.Challenges {
		if a.off.state.Challenges[i].Code == code {
			return &a.off.state.Challenges[i]
		}
	}
	return nil
}

// pruneOffline drops what can no longer matter at now: challenges past
// their age (a response to one is refused as unknown or expired either
// way) and failures out of the back-off window. The caller holds off.mu.
func (a *Agent) pruneOffline(now time.Time) {
	keep := a.off.state.Challenges[:0]
	for _, c := range a.off.state.Challenges {
		if now.Sub(c.Created) < 2*hoist.ChallengeMaxAge {
			keep = append(keep, c)
		}
	}
	a.off.state.Challenges = keep
	fails := a.off.state.Failures[:0]
	for _, f := range a.off.state.Failures {
		if now.Sub(f) < OfflineFailureWindow {
			fails = append(fails, f)
		}
	}
	a.off.state.Failures = fails
	for u, fs := range a.off.state.UserFailures {
		keep := fs[:0]
		for _, f := range fs {
			if now.Sub(f) < OfflineFailureWindow {
				keep = append(keep, f)
			}
		}
		if len(keep) == 0 {
			delete(a.off.state.UserFailures, u)
		} else {
			a.off.state.UserFailures[u] = keep
		}
	}
}

// failed counts a wrong response or code of user at now, toward both
// back-offs; the caller holds off.mu and saves the state.
func (a *Agent) failed(user string, now time.Time) {
	a.off.state.Failures = append(a.off.state.Failures, now)
	if a.off.state.UserFailures == nil {
		a.off.state.UserFailures = map[string][]time.Time{}
	}
	a.off.state.UserFailures[user] = append(a.off.state.UserFailures[user], now)
}

// backedOff reports whether user's responses are refused for now: too
// many failures of theirs, or of all users, within the window. The
// caller holds off.mu.
func (a *Agent) backedOff(user string) bool {
	return len(a.off.state.Failures) >= MaxOfflineFailures || len(a.off.state.UserFailures[user]) >= MaxUserOfflineFailures
}

// mayRespond reports whether the JIT rules would let user request here;
// a user they would not is refused before anything is counted, so that
// no other account can run the back-off up.
func (a *Agent) mayRespond(user string) bool {
	j, ok, _ := a.jit()
	if !ok {
		return true // Activate decides; failures still count per user
	}
	s := a.Bundle().StartupRules(j)
	if s == nil || (len(s.Users) == 0 && len(s.UnixGroups) == 0) {
		return true
	}
	if slices.Contains(s.Users, user) {
		return true
	}
	groups := unixGroups(user)
	for _, g := range s.UnixGroups {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

// saveOffline writes the offline state; the caller holds off.mu.
func (a *Agent) saveOffline() error {
	data, err := json.Marshal(a.off.state)
	if err != nil {
		return err
	}
	if len(data) > maxOfflineFile {
		// Written, it would be taken as damaged at the next start.
		return fmt.Errorf("the offline state would take %d bytes, more than the %d read back", len(data), maxOfflineFile)
	}
	return writeFileAtomic(a.offlinePath(), data)
}

// latestChallenge returns user's newest challenge, or nil; the caller
// holds off.mu. A response is checked against it only: a user answers
// the challenge they asked for last.
func (a *Agent) latestChallenge(user string) *challengeRecord {
	var out *challengeRecord
	for i := range a.off.state.Challenges {
		c := &a.off.state.Challenges[i]
		if c.User == user && (out == nil || !c.Created.Before(out.Created)) {
			out = c
		}
	}
	return out
}

// Respond checks code, typed by user, as the response to user's latest
// offline challenge and, when it is right, starts user's session for the
// window it approves. Each refusal is audited and says why: no
// challenge, an expired or used one, a spent one, a wrong response (one
// for another machine, user or window is wrong here), or the back-off.
func (a *Agent) Respond(user, code string) error {
	resp, err := hoist.ParseResponse(code)
	if err != nil {
		return err // a typo, caught by the check character: not a guess
	}
	g, err := a.checkResponse(user, resp)
	if err != nil {
		return err
	}
	if err := a.Activate(g); err != nil {
		return err
	}
	d := map[string]any{"user": user, "duration": hoist.FormatDuration(g.NotAfter.Sub(g.NotBefore)), "not_after": g.NotAfter}
	if g.Offline.Emergency != "" {
		d["code_id"] = g.Offline.Emergency
		a.auditCritical("emergency.used", user, g.SessionID, d)
		a.cfg.Logger.Warn("an emergency code started a session", "user", user, "code", g.Offline.Emergency, "session", g.SessionID)
		return nil
	}
	d["challenge"], d["response"] = g.Offline.Challenge, g.Offline.Response
	a.auditCritical("offline.accepted", user, g.SessionID, d)
	return nil
}

// emergencyGrant returns the grant of the emergency code whose value is v
// when the bundle holds one not used here, marking it used on disk
// first; ok is false when v is no emergency code of this machine, and err
// says it was used already or, active, that the user's session is active
// (the code is kept). The caller holds off.mu.
func (a *Agent) emergencyGrant(user string, v uint64, now time.Time, active bool) (g Grant, ok bool, err error) {
	hash := hoist.EmergencyCodeHash(v)
	if a.off.usedLost {
		for _, e := range a.Bundle().Emergency {
			if e.Hash == hash {
				return Grant{}, true, hoist.Errorf(hoist.EUnavailable, "this machine's record of the emergency codes used here is damaged: every emergency code is refused until it next checks in with the server")
			}
		}
	}
	for _, u := range a.off.used {
		if u.Hash == hash {
			return Grant{}, true, hoist.Errorf(hoist.EForbidden, "this emergency code was already used on this machine (session %s): each code is used once", u.Session)
		}
	}
	for _, e := range a.Bundle().Emergency {
		if e.Hash != hash {
			continue
		}
		if !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt) {
			return Grant{}, true, hoist.Errorf(hoist.EForbidden, "this emergency code expired on %s: ask an administrator for a new one", e.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if active {
			return Grant{}, true, hoist.Errorf(hoist.EConflict, "JIT elevated access is already active for %s: the emergency code is kept", user)
		}
		sid := hoist.NewID(hoist.SessionIDPrefix)
		a.off.used = append(a.off.used, usedCode{ID: e.ID, Hash: hash, At: now, Session: sid})
		if n := len(a.off.used); n > maxUsedCodes {
			a.off.used = a.off.used[n-maxUsedCodes:]
		}
		if err := a.saveUsedCodes(); err != nil {
			a.off.used = a.off.used[:len(a.off.used)-1]
			return Grant{}, true, hoist.WrapError(hoist.EUnavailable, "cannot record the emergency code's use", err)
		}
		return Grant{SessionID: sid, User: user, NotBefore: now, NotAfter: now.Add(e.Window.D()), By: EmergencyBy,
			Offline: &OfflineProof{Emergency: e.ID}}, true, nil
	}
	return Grant{}, false, nil
}

// checkResponse decides on resp for user's latest challenge and, when it
// is right, marks the challenge used (on disk, before any session starts)
// and returns the session's grant.
func (a *Agent) checkResponse(user string, resp hoist.Response) (Grant, error) {
	a.off.mu.Lock()
	defer a.off.mu.Unlock()
	now := a.cfg.Clock.Now()
	a.pruneOffline(now)
	refuse := func(why, challenge, msg string) (Grant, error) {
		a.audit("offline.refused", user, challenge, map[string]any{"user": user, "why": why})
		return Grant{}, hoist.Errorf(hoist.EForbidden, "%s", msg)
	}
	if !a.mayRespond(user) {
		return refuse("not allowed", "", fmt.Sprintf("%s may not request JIT elevated access on this machine", user))
	}
	if a.backedOff(user) {
		return refuse("back-off", "", fmt.Sprintf("too many wrong offline responses on this machine in the last %s: responses are refused for now, try again later", OfflineFailureWindow))
	}
	// Nothing is spent while the user's session is active: the checks
	// that say why a code is no good come first, then this.
	active := a.activeFor(user) != nil
	busy := hoist.Errorf(hoist.EConflict, "JIT elevated access is already active for %s", user)
	if g, ok, err := a.emergencyGrant(user, resp.Value(), now, active); ok {
		if err != nil {
			why := "reused"
			if strings.Contains(hoist.ErrorMessage(err), "expired") {
				why = "expired"
			}
			a.audit("emergency.refused", user, "", map[string]any{"user": user, "why": why})
		}
		return g, err
	}
	c := a.latestChallenge(user)
	if c == nil || a.off.key.Key == nil {
		// Counted: it may be a guess at an emergency code.
		a.failed(user, now)
		if err := a.saveOffline(); err != nil {
			return Grant{}, hoist.WrapError(hoist.EUnavailable, "cannot record the attempt", err)
		}
		return refuse("no challenge", "", "this is no emergency code of this machine, and you have no offline challenge here: run hoist request --offline first")
	}
	ch, err := hoist.ParseChallenge(c.Code)
	if err != nil {
		return Grant{}, err
	}
	// From here on every refusal counts toward the back-off: what the
	// caller typed was no emergency code of this machine, and may have
	// been a guess at one.
	refuse = func(why, challenge, msg string) (Grant, error) {
		a.failed(user, now)
		if err := a.saveOffline(); err != nil {
			return Grant{}, hoist.WrapError(hoist.EUnavailable, "cannot record the attempt", err)
		}
		a.audit("offline.refused", user, challenge, map[string]any{"user": user, "why": why})
		return Grant{}, hoist.Errorf(hoist.EForbidden, "%s", msg)
	}
	switch {
	case c.Used != "":
		return refuse("reused", c.Code, fmt.Sprintf("challenge %s was already answered (session %s): each challenge is used once; run hoist request --offline for a new one", c.Code, c.Used))
	case now.Sub(c.Created) >= hoist.ChallengeMaxAge:
		return refuse("expired", c.Code, fmt.Sprintf("challenge %s is older than %s: run hoist request --offline for a new one", c.Code, hoist.FormatDuration(hoist.ChallengeMaxAge)))
	case c.Tries >= MaxOfflineTries:
		return refuse("spent", c.Code, fmt.Sprintf("challenge %s had %d wrong responses and is spent: run hoist request --offline for a new one", c.Code, MaxOfflineTries))
	}
	if active {
		return Grant{}, busy
	}
	if !hoist.VerifyResponse(a.off.key.Key, ch, resp) {
		c.Tries++
		a.failed(user, now)
		why, msg := "wrong", fmt.Sprintf("this is not the response to your challenge %s on this machine (a response for another machine, user or window does not fit it); %d tries left", c.Code, MaxOfflineTries-c.Tries)
		if a.answersOther(user, resp) {
			why, msg = "another user", fmt.Sprintf("this response answers another user's challenge, not yours (%s); %d tries left", c.Code, MaxOfflineTries-c.Tries)
		}
		if err := a.saveOffline(); err != nil {
			return Grant{}, hoist.WrapError(hoist.EUnavailable, "cannot record the attempt", err)
		}
		a.audit("offline.refused", user, c.Code, map[string]any{"user": user, "why": why, "tries": c.Tries})
		return Grant{}, hoist.Errorf(hoist.EForbidden, "%s", msg)
	}
	if resp.Window > ch.Window {
		// The server refuses to make one; a response is still checked
		// against what was asked.
		return refuse("longer than asked", c.Code, fmt.Sprintf("the response approves %s, more than the %s asked", hoist.FormatDuration(resp.Duration()), hoist.FormatDuration(ch.Duration())))
	}
	sid := hoist.NewID(hoist.SessionIDPrefix)
	c.Used = sid
	if err := a.saveOffline(); err != nil {
		return Grant{}, hoist.WrapError(hoist.EUnavailable, "cannot record the challenge's use", err)
	}
	return Grant{SessionID: sid, User: user, NotBefore: now, NotAfter: now.Add(resp.Duration()), By: OfflineBy,
		Offline: &OfflineProof{Challenge: c.Code, Response: resp.String()}}, nil
}

// answersOther reports whether resp answers another user's challenge that
// is still open; the caller holds off.mu.
func (a *Agent) answersOther(user string, resp hoist.Response) bool {
	for _, o := range a.off.state.Challenges {
		if o.User == user || o.Used != "" {
			continue
		}
		if ch, err := hoist.ParseChallenge(o.Code); err == nil && hoist.VerifyResponse(a.off.key.Key, ch, resp) {
			return true
		}
	}
	return false
}

// OfflineProof is what started a session offline: the challenge and the
// response to it. Kept with the session, it is checked again when hoistd
// reads the session back, as a server's signed grant is.
type OfflineProof struct {
	Challenge string `json:"challenge,omitempty"`
	Response  string `json:"response,omitempty"`
	// Emergency is the id of the emergency code that started the session,
	// in place of a challenge and response.
	Emergency string `json:"emergency,omitempty"`
}

// checkOfflineProof compares a session an offline approval started with
// its proof: the response must be the key's answer to a challenge of this
// agent and user, approving at least the session's window.
func (a *Agent) checkOfflineProof(rec record) error {
	a.off.mu.Lock()
	k := a.off.key
	a.off.mu.Unlock()
	p := rec.Offline
	if p.Emergency != "" {
		return a.checkEmergencyProof(rec)
	}
	ch, err := hoist.ParseChallenge(p.Challenge)
	if err != nil {
		return errTampered{"its offline challenge is not a challenge"}
	}
	resp, err := hoist.ParseResponse(p.Response)
	switch {
	case err != nil:
		return errTampered{"its offline response is not a response"}
	case k.Key == nil || !hoist.VerifyResponse(k.Key, ch, resp):
		return errTampered{"its offline response does not answer its challenge with this machine's key"}
	case ch.Agent != hoist.AgentTag(k.AgentID) || ch.User != hoist.UserTag(rec.User):
		return errTampered{"its offline challenge is another machine's or another user's"}
	case rec.NotAfter.Sub(rec.NotBefore) > resp.Duration():
		return errTampered{"its window is longer than the offline response approved"}
	}
	return nil
}

// checkEmergencyProof compares a session an emergency code started with
// this machine's record of the code's use.
func (a *Agent) checkEmergencyProof(rec record) error {
	a.off.mu.Lock()
	defer a.off.mu.Unlock()
	for _, u := range a.off.used {
		if u.ID == rec.Offline.Emergency && u.Session == rec.ID {
			if rec.NotAfter.Sub(rec.NotBefore) > hoist.MaxEmergencyWindow {
				return errTampered{"its window is longer than an emergency code grants"}
			}
			return nil
		}
	}
	return errTampered{"no emergency code was used here for it"}
}
