package hoist

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Bundle is what an agent receives: the active policies that target its
// groups and its merged configuration, less what it is too old to process.
// Revision changes exactly when the content does, so an agent that holds a
// revision is sent nothing new at check-in.
type Bundle struct {
	Revision string `json:"revision"`
	// Groups are the agent's groups, highest priority first.
	Groups   []string    `json:"groups"`
	Policies []Policy    `json:"policies"`
	Config   AgentConfig `json:"config"`
	// Emergency are the outstanding emergency codes for this agent (its
	// own and its groups'), by hash; agents older than them ignore them.
	Emergency []EmergencyEntry `json:"emergency,omitempty"`
}

// HeldBack is a policy or configuration field the server keeps from an
// agent that is too old for it.
type HeldBack struct {
	What  string `json:"what"`  // "policy NAME" or "config FIELD"
	Needs string `json:"needs"` // the lowest agent version that may have it
}

func (h HeldBack) String() string { return fmt.Sprintf("%s (needs agent %s)", h.What, h.Needs) }

// BuildBundle makes agent a's bundle from every group and policy, and says
// what version gating held back.
func BuildBundle(a AgentRecord, groups []ComputerGroup, policies []Policy) (Bundle, []HeldBack) {
	mine := GroupsOf(a, groups)
	b := Bundle{Groups: []string{}, Policies: []Policy{}}
	for _, g := range mine {
		b.Groups = append(b.Groups, g.Name)
	}
	var held []HeldBack
	for _, p := range policies {
		if !p.Active || !slices.ContainsFunc(p.Groups, func(g string) bool { return slices.Contains(b.Groups, g) }) {
			continue
		}
		if p.Application != nil && p.Application.Args != "" {
			var ok bool
			if p, ok = legacyForAgents(p); !ok {
				continue
			}
		}
		if need := p.NeedsVersion(); VersionLess(a.Version, need) {
			held = append(held, HeldBack{What: "policy " + p.Name, Needs: need})
			continue
		}
		b.Policies = append(b.Policies, p)
	}
	slices.SortFunc(b.Policies, func(x, y Policy) int { return strings.Compare(x.ID, y.ID) })
	b.Config = MergeConfig(mine)
	for _, field := range b.Config.SetFields() {
		if need := ConfigFields[field]; VersionLess(a.Version, need) {
			held = append(held, HeldBack{What: "config " + field, Needs: need})
			b.Config = b.Config.without(field)
		}
	}
	b.Revision = b.digest()
	return b, held
}

// legacyForAgents is what agents get of p, a policy with the old
// joined-string args, and whether they get it at all. An elevate, justify
// or allow is sent to none (the server deactivates those at start): an old
// agent would elevate with extra arguments, a new one refuses the field. A
// deny or an audit is sent with args cleared and no argv, so that it
// denies (audits) the program whatever its arguments: broader than it was,
// never narrower, and it still stops what it used to. The stored policy
// keeps its args until the administrator rewrites it.
func legacyForAgents(p Policy) (Policy, bool) {
	if p.Application.Action != ActionDeny && p.Application.Action != ActionAudit {
		return p, false
	}
	rule := *p.Application
	rule.Args, rule.Argv = "", nil
	p.Application = &rule
	return p, true
}

// digest is the revision: a hash of the content.
func (b Bundle) digest() string {
	b.Revision = ""
	data, _ := json.Marshal(b) // plain data: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:12])
}

// SkippedPolicy is a policy an agent could not process, and why.
type SkippedPolicy struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// ParseBundle reads a bundle the way an agent must: a policy it cannot
// process (a kind it does not know, a body it cannot read) is skipped and
// reported, and every other policy is kept. Only a bundle that is not a
// bundle at all is an error.
func ParseBundle(data []byte) (Bundle, []SkippedPolicy, error) {
	var raw struct {
		Revision string            `json:"revision"`
		Groups   []string          `json:"groups"`
		Policies []json.RawMessage `json:"policies"`
		Config   json.RawMessage   `json:"config"`
		// Emergency is read on its own: a damaged list costs the codes,
		// not the policies.
		Emergency json.RawMessage `json:"emergency"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Bundle{}, nil, fmt.Errorf("not a policy bundle: %w", err)
	}
	b := Bundle{Revision: raw.Revision, Groups: raw.Groups, Policies: []Policy{}}
	var skipped []SkippedPolicy
	if len(raw.Config) > 0 {
		if err := json.Unmarshal(raw.Config, &b.Config); err != nil {
			// A field this agent reads differently is dropped, not the lot:
			// read field by field.
			b.Config, skipped = parseConfigLeniently(raw.Config)
		}
	}
	if len(raw.Emergency) > 0 {
		var sk *SkippedPolicy
		b.Emergency, sk = parseEmergency(raw.Emergency)
		if sk != nil {
			skipped = append(skipped, *sk)
		}
	}
	for _, r := range raw.Policies {
		var head struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(r, &head); err != nil {
			skipped = append(skipped, SkippedPolicy{Reason: "not a policy object"})
			continue
		}
		if _, known := PolicyKinds[head.Kind]; !known {
			skipped = append(skipped, SkippedPolicy{ID: head.ID, Name: head.Name, Reason: fmt.Sprintf("unknown policy kind %q", head.Kind)})
			continue
		}
		var p Policy
		if err := json.Unmarshal(r, &p); err != nil {
			skipped = append(skipped, SkippedPolicy{ID: head.ID, Name: head.Name, Reason: "cannot read it: " + err.Error()})
			continue
		}
		if err := p.Validate(); err != nil {
			skipped = append(skipped, SkippedPolicy{ID: p.ID, Name: p.Name, Reason: ErrorMessage(err)})
			continue
		}
		b.Policies = append(b.Policies, p)
	}
	return b, skipped, nil
}

// parseConfigLeniently reads each configuration field on its own, keeping
// those it can.
func parseConfigLeniently(data json.RawMessage) (AgentConfig, []SkippedPolicy) {
	var fields map[string]json.RawMessage
	var c AgentConfig
	if json.Unmarshal(data, &fields) != nil {
		return c, []SkippedPolicy{{Name: "config", Reason: "the agent configuration is not an object"}}
	}
	var skipped []SkippedPolicy
	for name, v := range fields {
		one, _ := json.Marshal(map[string]json.RawMessage{name: v})
		var part AgentConfig
		if err := json.Unmarshal(one, &part); err != nil {
			skipped = append(skipped, SkippedPolicy{Name: "config " + name, Reason: err.Error()})
			continue
		}
		c = part.overlay(c)
	}
	return c, skipped
}
