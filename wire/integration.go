package wire

import (
	"time"

	"github.com/hoist-jit/hoist"
)

// IntegrationInput is what an admin gives to add an integration: the CLI's
// flags, with secret files already read.
type IntegrationInput struct {
	Name   string           `json:"name"`
	Kind   hoist.SinkKind   `json:"kind"`
	Config hoist.SinkConfig `json:"config"`
	Events []string         `json:"events,omitempty"`
	Group  string           `json:"group,omitempty"`
}

// IntegrationView is an integration as the API shows it: never a secret,
// and a chat webhook URL (a credential of its own) cut to its host.
type IntegrationView struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Kind    hoist.SinkKind `json:"kind"`
	Events  []string       `json:"events,omitempty"`
	Group   string         `json:"group,omitempty"`
	URL     string         `json:"url,omitempty"`
	Channel string         `json:"channel,omitempty"`
	// SlackUsers maps Slack user ids to the Hoist accounts they decide as.
	SlackUsers map[string]string `json:"slack_users,omitempty"`
	// Interactive says whether Slack messages carry decision buttons.
	Interactive bool      `json:"interactive,omitempty"`
	Server      string    `json:"server,omitempty"`
	Security    string    `json:"security,omitempty"`
	Username    string    `json:"username,omitempty"`
	From        string    `json:"from,omitempty"`
	To          []string  `json:"to,omitempty"`
	Address     string    `json:"address,omitempty"`
	Format      string    `json:"format,omitempty"`
	CA          bool      `json:"ca"`
	AllowHTTP   bool      `json:"allow_http,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`

	// Pending counts events not yet delivered (for a SIEM sink, audit
	// records after its cursor); Failing the consecutive failed attempts;
	// Dead the dead letters.
	Pending     int       `json:"pending"`
	Failing     int       `json:"failing"`
	Dead        int       `json:"dead"`
	Delivered   int       `json:"delivered"`
	BreakerOpen bool      `json:"breaker_open"`
	LastError   string    `json:"last_error,omitempty"`
	LastOK      time.Time `json:"last_ok,omitzero"`
}
