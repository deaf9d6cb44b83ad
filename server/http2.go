package server

import "net/http"

// agentHTTP2 is the HTTP/2 configuration of the API listener, sized for
// what one server holds most of: tens of thousands of agents, each with one
// connection that carries a long poll and, every few minutes, a check-in.
// Go's defaults fit a few busy connections instead, and every connection
// keeps what it once needed:
//
//   - the header compression tables (HPACK, both ways) keep up to 4 KiB of
//     past headers each; an agent's requests and the answers repeat a few
//     short headers, so 512 bytes keep the ones worth keeping;
//   - the frame reader keeps a buffer as large as the largest frame it has
//     read, and Go's server lets a client send frames of up to 1 MiB (a
//     batch of agent audit events); 16 KiB, HTTP/2's own default and
//     smallest, bounds that buffer without limiting what a request carries
//     (larger bodies come in more frames).
func agentHTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxDecoderHeaderTableSize: 512,
		MaxEncoderHeaderTableSize: 512,
		MaxReadFrameSize:          16 << 10,
	}
}
