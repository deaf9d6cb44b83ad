package control

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// The action ids of the buttons on Slack messages (package sink draws
// them); each button's value is the request id.
const (
	SlackApprove = "hoist_approve" // for the duration asked
	SlackOnce    = "hoist_once"    // One Time: the 30-minute default
	SlackDeny    = "hoist_deny"
)

// slackMaxAge is how old a signed Slack request may be: older ones are
// refused as replays.
const slackMaxAge = 5 * time.Minute

// SlackCall is an interactive callback as Slack sends it.
type SlackCall struct {
	Timestamp string // X-Slack-Request-Timestamp
	Signature string // X-Slack-Signature
	Body      []byte // the raw form body, payload=JSON
}

// SlackAction applies a button pressed in a Slack message of the
// integration named key: it checks Slack's signature of the call (v0, the
// integration's signing secret, at most five minutes old), maps the Slack
// user to a Hoist account, and decides as that account, under the same
// roles and no-self-approval rules as the console. It returns the text to
// show the Slack user. Every call, decided or refused, is audited
// (integration.slack_action); a refusal changes nothing else. A bad or
// old signature fails with EUnauthorized.
func (s *Service) SlackAction(ctx context.Context, key string, call SlackCall) (string, error) {
	now := s.now()
	var it hoist.Integration
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { it, err = tx.Integration(ctx, key); return err }); err != nil {
		return "", err
	}
	if it.Kind != hoist.SinkSlack {
		return "", hoist.Errorf(hoist.ENotFound, "no Slack integration %q", key)
	}
	secret, err := s.box.open(it.ID, it.Config.SigningSecret)
	if err != nil {
		return "", err
	}
	if why := checkSlackSignature(secret, call, now); why != "" {
		s.auditSlack(ctx, it, now, "slack", map[string]any{"refused": why})
		return "", hoist.Errorf(hoist.EUnauthorized, "%s", why)
	}
	act, err := parseSlackAction(call.Body)
	if err != nil {
		s.auditSlack(ctx, it, now, "slack", map[string]any{"refused": hoist.ErrorMessage(err)})
		return "", err
	}
	detail := map[string]any{"slack_user": act.user, "action": act.action, "request_id": act.request}
	account, ok := it.Config.SlackUsers[act.user]
	if !ok {
		detail["refused"] = "the Slack user is mapped to no Hoist account"
		s.auditSlack(ctx, it, now, "slack:"+act.user, detail)
		return "You are not mapped to a Hoist account: nothing was decided. Open the request in the console.", nil
	}
	actor, err := s.actorNamed(ctx, account)
	if err != nil {
		detail["refused"] = hoist.ErrorMessage(err)
		s.auditSlack(ctx, it, now, "slack:"+act.user, detail)
		return "Your Hoist account cannot decide: nothing was decided.", nil
	}
	detail["account"] = actor.Name
	res, err := s.decideFromSlack(ctx, actor, act)
	if err == nil && !res.OK {
		err = hoist.Errorf(res.Code, "%s", res.Error)
	}
	if err != nil {
		detail["refused"] = hoist.ErrorMessage(err)
		s.auditSlack(ctx, it, now, actor.Name, detail)
		return "Not decided: " + hoist.ErrorMessage(err), nil
	}
	s.auditSlack(ctx, it, now, actor.Name, detail)
	return map[string]string{SlackApprove: "Approved", SlackOnce: "Approved one time", SlackDeny: "Denied"}[act.action] + " as " + actor.Name + ".", nil
}

func (s *Service) decideFromSlack(ctx context.Context, a Actor, act slackAction) (Result, error) {
	var (
		rs  []Result
		err error
	)
	switch act.action {
	case SlackApprove:
		var r hoist.Request
		if r, err = s.Request(ctx, a, act.request); err != nil {
			return Result{}, err
		}
		rs, err = s.Approve(ctx, a, []string{act.request}, r.RequestedDuration, "from Slack")
	case SlackOnce:
		rs, err = s.Approve(ctx, a, []string{act.request}, 0, "from Slack")
	case SlackDeny:
		rs, err = s.Deny(ctx, a, []string{act.request}, "denied from Slack")
	}
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// checkSlackSignature returns why call is not Slack's, "" when it is: the
// v0 HMAC-SHA256 of "v0:TIMESTAMP:BODY" under secret, compared in constant
// time, made within slackMaxAge of now.
func checkSlackSignature(secret string, call SlackCall, now time.Time) string {
	if secret == "" {
		return "this integration has no signing secret: it takes no actions"
	}
	ts, err := strconv.ParseInt(call.Timestamp, 10, 64)
	if err != nil {
		return "no valid X-Slack-Request-Timestamp"
	}
	if d := now.Sub(time.Unix(ts, 0)); d > slackMaxAge || d < -slackMaxAge {
		return "the request's timestamp is more than five minutes off: a replay is refused"
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + call.Timestamp + ":"))
	mac.Write(call.Body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(call.Signature)) {
		return "the X-Slack-Signature does not match"
	}
	return ""
}

type slackAction struct{ user, action, request string }

// parseSlackAction reads the one button of a block_actions payload.
func parseSlackAction(body []byte) (slackAction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return slackAction{}, hoist.Errorf(hoist.EInvalid, "payload: not a form")
	}
	var p struct {
		Type string `json:"type"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Actions []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil || p.Type != "block_actions" || len(p.Actions) != 1 {
		return slackAction{}, hoist.Errorf(hoist.EInvalid, "payload: not one Slack block action")
	}
	a := slackAction{user: p.User.ID, action: p.Actions[0].ActionID, request: strings.TrimSpace(p.Actions[0].Value)}
	switch a.action {
	case SlackApprove, SlackOnce, SlackDeny:
	default:
		return a, hoist.Errorf(hoist.EInvalid, "payload: unknown action %q", a.action)
	}
	if !hoist.ValidID(hoist.RequestIDPrefix, a.request) {
		return a, hoist.Errorf(hoist.EInvalid, "payload: %q is not a request id", a.request)
	}
	return a, nil
}

// actorNamed is the account name as an actor, refused when it is gone or
// disabled.
func (s *Service) actorNamed(ctx context.Context, name string) (Actor, error) {
	var adm hoist.Admin
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) { adm, err = tx.AdminByName(ctx, name); return err })
	if err != nil {
		return Actor{}, hoist.Errorf(hoist.EForbidden, "the account %s does not exist", name)
	}
	if adm.Disabled {
		return Actor{}, hoist.Errorf(hoist.EForbidden, "the account %s is disabled", name)
	}
	return Actor{ID: adm.ID, Name: adm.Name, Role: adm.Role}, nil
}

// auditSlack records a Slack action; a failure to record is logged (the
// decision, if any, has its own record).
func (s *Service) auditSlack(ctx context.Context, it hoist.Integration, now time.Time, actor string, detail map[string]any) {
	detail["integration"] = it.Name
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		return audit(ctx, tx, now, actor, "integration.slack_action", it.ID, detail)
	})
	if err != nil {
		s.log.Warn("cannot audit a Slack action", "integration", it.Name, "err", err)
	}
}
