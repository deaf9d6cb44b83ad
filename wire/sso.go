package wire

// SSOStartBody is the body of POST /api/v1/sso/start: a CLI's loopback
// address, where the browser is sent back with a one-time code, and the
// PKCE S256 challenge of the verifier the CLI keeps.
type SSOStartBody struct {
	Redirect  string `json:"redirect"`
	Challenge string `json:"challenge"`
}

// SSOStartAnswer is the identity provider's address to open in a browser.
type SSOStartAnswer struct {
	URL string `json:"url"`
}

// SSOTokenBody is the body of POST /api/v1/sso/token: the one-time code
// the CLI's loopback received, and the verifier behind its challenge.
type SSOTokenBody struct {
	Code     string `json:"code"`
	Verifier string `json:"verifier"`
}
