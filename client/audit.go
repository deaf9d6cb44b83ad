package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// AuditQuery selects audit records. Zero fields select everything.
type AuditQuery struct {
	// ActionPrefix keeps the actions that start with it ("session.").
	ActionPrefix string
	Actor        string
	Subject      string
	Since, Until time.Time
	After        int64
	Limit        int
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("action_prefix", q.ActionPrefix)
	set("actor", q.Actor)
	set("subject", q.Subject)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Audit returns one page of the records q selects, oldest first, and the
// sequence number to pass as After for the next page.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]hoist.AuditRecord, int64, error) {
	var ans struct {
		Records   []hoist.AuditRecord `json:"records"`
		NextAfter int64               `json:"next_after"`
	}
	err := c.do(ctx, "GET", "/api/v1/audit", q.values(), nil, &ans)
	return ans.Records, ans.NextAfter, err
}

// AuditReport is the server's check of the audit chain.
type AuditReport struct {
	OK              bool      `json:"ok"`
	Records         int64     `json:"records"`
	HeadSeq         int64     `json:"head_seq"`
	HeadHash        string    `json:"head_hash"`
	Problem         string    `json:"problem,omitempty"`
	BadSeq          int64     `json:"bad_seq,omitempty"`
	Checkpoints     int       `json:"checkpoints"`
	CheckpointedSeq int64     `json:"checkpointed_seq"`
	CheckpointedAt  time.Time `json:"checkpointed_at,omitzero"`
	Uncovered       int64     `json:"uncovered"`
	Notes           []string  `json:"notes,omitempty"`
}

// VerifyAudit asks the server to check the audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (AuditReport, error) {
	var rep AuditReport
	err := c.do(ctx, "GET", "/api/v1/audit/verify", nil, nil, &rep)
	return rep, err
}

// ExportAudit copies the records q selects to w as JSON lines, as the
// server streams them; ctx bounds it (no other timeout: a long log takes
// its time).
func (c *Client) ExportAudit(ctx context.Context, q AuditQuery, w io.Writer) error {
	return c.stream(ctx, "/api/v1/audit/export", q.values(), w)
}

// Recordings lists a session's terminal recordings, oldest first.
func (c *Client) Recordings(ctx context.Context, sessionID string) ([]hoist.Recording, error) {
	var ans struct {
		Recordings []hoist.Recording `json:"recordings"`
	}
	err := c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(sessionID)+"/recordings", nil, nil, &ans)
	return ans.Recordings, err
}

// Recording copies a recording's asciicast v2 file to w.
func (c *Client) Recording(ctx context.Context, id string, w io.Writer) error {
	return c.stream(ctx, "/api/v1/recordings/"+url.PathEscape(id), nil, w)
}

// stream GETs path and copies a successful answer's body to w as it comes.
func (c *Client) stream(ctx context.Context, path string, query url.Values, w io.Writer) error {
	u := *c.base
	u.Path, u.RawQuery = path, query.Encode()
	if p, err := url.PathUnescape(path); err == nil && p != path {
		u.Path, u.RawPath = p, path
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return hoist.WrapError(hoist.EInvalid, "cannot make the request", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.http
	hc.Timeout = 0 // ctx bounds a download
	resp, err := hc.Do(req)
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot reach the server at "+c.base.String()+": "+shortNetError(err), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &hoist.Error{Code: eb.Error.Code, Message: eb.Error.Message, Fields: eb.Error.Fields}
		}
		return hoist.Errorf(hoist.EUnavailable, "the server answered %s", resp.Status)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return hoist.WrapError(hoist.EUnavailable, "the download was cut off", err)
	}
	return nil
}
