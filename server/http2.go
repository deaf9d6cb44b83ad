package server

import "net/http"

// agentHTTP2 is the HTTP/2 configuration of the API listener, sized for
// what one server holds most of: tens of thousands of agents, each with one
// connection that carries a long poll and, every few minutes, a check-in.
// Go's defaults fit a few busy connections instead, and every connection
// keeps what it once needed:
//
//   - the header compression tables (HPACK, both ways) keep up to 4 KiB of
//     past headers each, with two maps that index them. The table for what
//     agents send (the decoder's) keeps 512 bytes: an agent's requests
//     repeat a few short headers, and an agent may encode its first
//     requests before it has read this setting, so a table much smaller
//     than those first requests' headers would break their references. The
//     table for the answers (the encoder's) is this side's choice alone: an
//     encoder may always use less than the peer allows, and says so in the
//     header block itself, so every agent decodes it. It keeps nothing (1
//     byte, as 0 means Go's default of 4 KiB): the answers' headers are few
//     and the Date among them changes every second, so a kept table saved
//     tens of bytes per answer and cost ≈ 1.7 KiB of heap per connected agent
//     (sampled heap profile, 3,000 agents);
//   - the frame reader keeps a buffer as large as the largest frame it has
//     read, and Go's server lets a client send frames of up to 1 MiB (a
//     batch of agent audit events); 16 KiB, HTTP/2's own default and
//     smallest, bounds that buffer without limiting what a request carries
//     (larger bodies come in more frames).
func agentHTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxDecoderHeaderTableSize: 512,
		MaxEncoderHeaderTableSize: 1,
		MaxReadFrameSize:          16 << 10,
	}
}
