package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/hoist-jit/hoist"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are read, from
// the right: a chain of proxies longer than this is not a real deployment.
const maxForwardedHops = 16

// ParseTrustedProxies parses --trusted-proxy values: CIDR prefixes
// (192.0.2.0/24, 2001:db8::/32) or single addresses. It fails with EInvalid
// naming the bad value.
func ParseTrustedProxies(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return nil, hoist.Errorf(hoist.EInvalid, "--trusted-proxy %q is not a CIDR prefix (such as 10.0.0.0/8) or an address", v)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// clientAddr sets each request's RemoteAddr to the client's address, so
// that everything after it (the sign-in throttle, the audit's "from", the
// logs) sees the client and not a proxy. When the connection comes from a
// trusted proxy, the client is the right-most X-Forwarded-For entry that is
// not itself a trusted proxy; otherwise X-Forwarded-For is ignored, since
// anyone can send one. An entry that is not an address stops the walk at
// the proxy that passed it on: no guess is made past a hop that cannot be
// read.
//
// With no trusted proxy, the first request that carries X-Forwarded-For
// logs a warning (once): the server is probably behind a proxy it was not
// told about, and then it sees every client at the proxy's address, so the
// sign-in throttle counts them all as one source.
func clientAddr(trusted []netip.Prefix, log *slog.Logger, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		var once sync.Once
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Forwarded-For") != "" {
				once.Do(func() {
					log.Warn("requests carry X-Forwarded-For but no --trusted-proxy is set: it is ignored, and every client behind the proxy counts as the proxy's address (one source for the sign-in throttle)",
						"peer", r.RemoteAddr)
				})
			}
			next.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip, ok := forwardedClient(trusted, r); ok {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = net.JoinHostPort(ip.String(), "0")
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient returns the client's address as the trusted proxies in
// front of this server report it, and false when the peer is not one of
// them (or sent nothing usable).
func forwardedClient(trusted []netip.Prefix, r *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(trusted, peer.Addr().Unmap()) {
		return netip.Addr{}, false
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	client := peer.Addr().Unmap()
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-maxForwardedHops; i-- {
		a, ok := hopAddr(hops[i])
		if !ok {
			break // the proxy at client passed on something unreadable
		}
		client = a.Unmap()
		if !isTrusted(trusted, client) {
			break
		}
	}
	return client, client != peer.Addr().Unmap()
}

// forwardedHops splits X-Forwarded-For header lines into their entries,
// left to right, in the order the lines came.
func forwardedHops(lines []string) []string {
	var hops []string
	for _, l := range lines {
		for h := range strings.SplitSeq(l, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	return hops
}

// hopAddr reads one X-Forwarded-For entry: an address, or an address and
// port as some proxies write it (192.0.2.1:4711, [2001:db8::1]:4711).
func hopAddr(h string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(h)
	if err != nil {
		ap, perr := netip.ParseAddrPort(h)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a, a.Zone() == ""
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
