package sink

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/hoist-jit/hoist"
)

// webhook POSTs {"id", "event", "at", "data"} with the X-Hoist-Event,
// X-Hoist-Delivery and X-Hoist-Signature headers (see Sign).
func (s *Sinks) webhook(ctx context.Context, it hoist.Integration, d hoist.Delivery) error {
	data := d.Event.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	body, err := json.Marshal(envelope{ID: d.ID, Event: d.Event.Type, At: d.Event.At.UTC().Format(time.RFC3339), Data: data})
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("X-Hoist-Event", d.Event.Type)
	h.Set("X-Hoist-Delivery", d.ID)
	h.Set("X-Hoist-Signature", Sign(it.Config.Secret, s.cfg.Clock(), body))
	return post(ctx, s.cfg.Self, it.Config, it.Config.URL, body, h)
}

// Sign returns the X-Hoist-Signature of body sent at t:
// "t=UNIX_SECONDS,v1=HEX", HEX the HMAC-SHA256 keyed with secret of
// UNIX_SECONDS + "." + body. A receiver recomputes it, compares in constant
// time, and refuses an old t to stop replays.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
