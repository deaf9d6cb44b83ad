package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/hoist-jit/hoist"
)

// slack posts a Block Kit message: to the incoming webhook, or with the
// bot token through chat.postMessage to the channel. It is link-only: the
// button opens the request's console page, where deciding needs a sign-in.
// Through chat.postMessage the first message about a request is updated
// in place (chat.update) when the request is decided, cancelled or
// expires, so that every approver reading the channel sees who acted;
// a reminder is a reply in its thread.
func (s *Sinks) slack(ctx context.Context, it hoist.Integration, d hoist.Delivery, ref string) (string, error) {
	payload := slackPayload(s.summarize(d.Event))
	if it.Config.SigningSecret != "" && (d.Event.Type == hoist.EventRequestCreated || d.Event.Type == hoist.EventApprovalReminder) {
		addSlackButtons(payload, d.Event)
	}
	if it.Config.URL != "" {
		body, _ := json.Marshal(payload)
		return "", post(ctx, s.cfg.Self, it.Config, it.Config.URL, body, nil)
	}
	channel, ts, _ := strings.Cut(ref, " ")
	method := "chat.postMessage"
	payload["channel"] = it.Config.Channel
	switch {
	case ref == "":
	case d.Event.Type == hoist.EventApprovalReminder:
		payload["channel"], payload["thread_ts"] = channel, ts
	case slackUpdates(d.Event.Type):
		method = "chat.update"
		payload["channel"], payload["ts"] = channel, ts
	}
	body, _ := json.Marshal(payload)
	h := http.Header{}
	h.Set("Authorization", "Bearer "+it.Config.Secret)
	h.Set("Content-Type", "application/json; charset=utf-8")
	answer, err := postRead(ctx, s.cfg.Self, it.Config, strings.TrimSuffix(s.cfg.SlackAPI, "/")+"/"+method, body, h)
	if err != nil {
		return "", err
	}
	// Slack answers 200 to a call it refused; "ok" says.
	var ans struct {
		OK      bool   `json:"ok"`
		Error   string `json:"error"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	}
	if err := json.Unmarshal(answer, &ans); err != nil || !ans.OK {
		if ans.Error == "" {
			ans.Error = "an answer that is not Slack's"
		}
		return "", fmt.Errorf("slack %s: %s", method, ans.Error)
	}
	if ref == "" && ans.Channel != "" && ans.TS != "" && d.Event.Type == hoist.EventRequestCreated {
		return ans.Channel + " " + ans.TS, nil
	}
	return ref, nil
}

// slackUpdates reports whether an event about a request replaces its
// Slack message rather than adding one.
func slackUpdates(typ string) bool {
	switch typ {
	case hoist.EventRequestApproved, hoist.EventRequestDenied, hoist.EventRequestCancelled, hoist.EventRequestExpired:
		return true
	}
	return false
}

func slackPayload(m message) map[string]any {
	blocks := []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*" + slackEscape(m.Title) + "*"}}}
	if len(m.Facts) > 0 {
		var fields []any
		for _, f := range m.Facts {
			fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + f[0] + "*\n" + slackEscape(f[1])})
		}
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields[:min(len(fields), 10)]})
	}
	if m.Link != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open in Hoist"}, "url": m.Link, "action_id": "open"}}})
	}
	return map[string]any{"text": m.Title, "blocks": blocks}
}

// slackEscape escapes what mrkdwn reads as markup, so that a request's
// reason cannot ping a channel or forge a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// teams posts an Adaptive Card, as Teams' Workflows and incoming webhooks
// take it, with a link to the request.
func (s *Sinks) teams(ctx context.Context, it hoist.Integration, d hoist.Delivery) error {
	m := s.summarize(d.Event)
	body := []any{map[string]any{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true}}
	if len(m.Facts) > 0 {
		var facts []any
		for _, f := range m.Facts {
			facts = append(facts, map[string]any{"title": f[0], "value": f[1]})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	if m.Link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open in Hoist", "url": m.Link}}
	}
	payload := map[string]any{"type": "message", "attachments": []any{map[string]any{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
	raw, _ := json.Marshal(payload)
	return post(ctx, s.cfg.Self, it.Config, it.Config.URL, raw, nil)
}

// The action ids of Slack's buttons, as control.SlackAction reads them.
const (
	slackApprove = "hoist_approve"
	slackOnce    = "hoist_once"
	slackDeny    = "hoist_deny"
)

// addSlackButtons adds Approve For…, One Time and Deny to the message's
// actions, each with the request id as its value. Slack calls the
// integration's actions endpoint, which checks Slack's signature and who
// pressed them.
func addSlackButtons(payload map[string]any, ev hoist.IntegrationEvent) {
	m := eventData(ev)
	id := str(m, "request_id")
	if id == "" {
		return
	}
	button := func(action, text, style string) map[string]any {
		b := map[string]any{"type": "button", "action_id": action, "value": id, "text": map[string]any{"type": "plain_text", "text": text}}
		if style != "" {
			b["style"] = style
		}
		return b
	}
	elements := []any{button(slackApprove, "Approve for "+str(m, "requested_duration"), "primary"), button(slackOnce, "One Time", ""),
		button(slackDeny, "Deny", "danger")}
	blocks := payload["blocks"].([]any)
	last, ok := blocks[len(blocks)-1].(map[string]any)
	if ok && last["type"] == "actions" {
		last["elements"] = append(elements, last["elements"].([]any)...)
		return
	}
	payload["blocks"] = append(blocks, map[string]any{"type": "actions", "elements": elements})
}
