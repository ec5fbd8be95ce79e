package msgauth

import (
	"context"
	"net"
	"time"
)

// NewResolver returns a resolver that asks the DNS server at addr
// ("host:port") over UDP, or TCP for truncated answers; "" gives the
// system's resolver.
func NewResolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
	}
}
