package config

import (
	"fmt"
	"sort"
	"strings"
)

// QueueConfig configures the outbound queue: where mail for other
// domains goes, how often and how long delivery is retried.
type QueueConfig struct {
	// Routes maps a destination domain, or "*" for every domain, to a
	// fixed next hop instead of the domain's MX records. Default none.
	Routes Routes `toml:"routes"`

	// RetryInitial is the wait after the first failed attempt; each
	// further wait doubles, up to RetryMax. At least 1s. Default "5m".
	RetryInitial Duration `toml:"retry_initial"`

	// RetryMax caps the wait between attempts. At least RetryInitial.
	// Default "4h".
	RetryMax Duration `toml:"retry_max"`

	// MaxAge is how long a message is retried before it is returned to
	// its sender. At least 1s. Default "120h" (5 days).
	MaxAge Duration `toml:"max_age"`

	// DelayNotice is how long after queueing the sender is told that
	// the message is delayed and still being tried. "0s" sends no
	// notice. Default "4h".
	DelayNotice Duration `toml:"delay_notice"`

	// Concurrency is how many messages are delivered at once overall.
	// At least 1. Default 20.
	Concurrency int `toml:"concurrency"`

	// ConcurrencyPerDomain is how many connections go to one
	// destination domain at once. 1 to Concurrency. Default 4.
	ConcurrencyPerDomain int `toml:"concurrency_per_domain"`

	// ConnectTimeout bounds connecting to a remote server and its
	// greeting. At least 1s. Default "30s".
	ConnectTimeout Duration `toml:"connect_timeout"`

	// MTASTS enforces the MTA-STS policies (RFC 8461) of the domains
	// mail is sent to: their MX hosts must match the policy and offer
	// TLS with a valid certificate. Default true.
	MTASTS bool `toml:"mta_sts"`

	// MTASTSPolicy is the mode of the MTA-STS policy this server
	// publishes for its own domains: "testing" or "enforce", served by
	// the web listeners at https://mta-sts.<domain>/.well-known/mta-sts.txt
	// and printed by `pochta domain dns`. Default "" (none published).
	MTASTSPolicy string `toml:"mta_sts_policy"`

	// LeaseTime is how long a node that took a message for delivery
	// keeps it before another node may take it over (a node that died
	// mid-attempt). Longer than any attempt takes. At least 1s. Default
	// "30m".
	LeaseTime Duration `toml:"lease_time"`
}

// Route is a fixed next hop for a destination domain.
type Route struct {
	// Host is "host:port" (port 25 when left out).
	Host string
	// Username and Password, when set, log in with AUTH PLAIN (only
	// over TLS).
	Username, Password string
	// RequireTLS makes delivery fail (and be retried) unless STARTTLS
	// succeeds with a certificate valid for Host.
	RequireTLS bool
}

// Routes maps a lower-case domain or "*" to its route. In the config
// file each value is a string ("mx.b.example:25") or a table with host,
// username, password and require_tls.
type Routes map[string]Route

// Lookup returns the route for domain, falling back to "*".
func (r Routes) Lookup(domain string) (Route, bool) {
	if rt, ok := r[strings.ToLower(strings.TrimSuffix(domain, "."))]; ok {
		return rt, true
	}
	rt, ok := r["*"]
	return rt, ok
}

// UnmarshalTOML implements toml.Unmarshaler.
func (r *Routes) UnmarshalTOML(v any) error {
	tbl, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("expected a table of routes, got %s", describe(v))
	}
	if len(tbl) == 0 {
		*r = nil
		return nil
	}
	out := Routes{}
	names := make([]string, 0, len(tbl))
	for name := range tbl {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rt, err := parseRoute(tbl[name])
		if err != nil {
			return fmt.Errorf("route %q: %w", name, err)
		}
		out[strings.ToLower(strings.TrimSuffix(name, "."))] = rt
	}
	*r = out
	return nil
}

func parseRoute(v any) (Route, error) {
	switch x := v.(type) {
	case string:
		return Route{Host: x}, nil
	case map[string]any:
		var rt Route
		for k, val := range x {
			switch k {
			case "host", "username", "password":
				s, ok := val.(string)
				if !ok {
					return rt, fmt.Errorf("%s: expected a string, got %s", k, describe(val))
				}
				switch k {
				case "host":
					rt.Host = s
				case "username":
					rt.Username = s
				default:
					rt.Password = s
				}
			case "require_tls":
				b, ok := val.(bool)
				if !ok {
					return rt, fmt.Errorf("require_tls: expected true or false, got %s", describe(val))
				}
				rt.RequireTLS = b
			default:
				return rt, fmt.Errorf("unknown key %q (use host, username, password, require_tls)", k)
			}
		}
		if rt.Host == "" {
			return rt, fmt.Errorf("host is required")
		}
		return rt, nil
	}
	return Route{}, fmt.Errorf("expected a \"host:port\" string or a table, got %s", describe(v))
}

// DNSConfig selects the DNS resolver.
type DNSConfig struct {
	// Resolver is "host:port" of a DNS server to ask instead of the
	// system's resolvers (for tests, or a local validating resolver).
	// Default "" (the system's).
	Resolver string `toml:"resolver"`

	// DNSSECResolver is "host:port" of a DNSSEC-validating resolver
	// (for example a local unbound) whose answers' AD bit is trusted.
	// When set, outgoing mail uses DANE (RFC 7672): an MX host with
	// TLSA records gets mail only over TLS with a certificate that
	// matches them. Default "" (no DANE).
	DNSSECResolver string `toml:"dnssec_resolver"`
}
