package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/pochta-mail/pochta/internal/config"
)

// hop is one server to try for a destination domain.
type hop struct {
	// name is the host name (for TLS and reports), addr "host:port".
	name, addr string
	// route is set for configured routes (credentials, require_tls).
	route *config.Route
	// sts names the domain whose MTA-STS policy (enforce) requires TLS
	// with a certificate valid for name; stsTesting is set when a
	// policy in testing mode applies (failures are only logged).
	sts        string
	stsTesting bool
	// tlsa are the usable DANE TLSA records of the host (RFC 7672),
	// found through the MX records of daneDomain: TLS is required and
	// verified against them. daneErr is set when the TLSA lookup
	// failed: the host is not used.
	tlsa       []*dns.TLSA
	daneDomain string
	daneErr    *failure
}

// hopError is a routing failure: permanent (no such domain, null MX) or
// temporary (DNS server failure).
type hopError struct {
	perm   bool
	reason reason
}

func (e *hopError) Error() string { return e.reason.en }

// hops returns the servers to try for domain, best first: the configured
// route, else the MX hosts (lowest preference first, equal preferences in
// random order, as net.Resolver returns them), else the domain itself
// (implicit MX).
func (r *Runner) hops(ctx context.Context, domain string) ([]hop, error) {
	if rt, ok := r.opts.Routes.Lookup(domain); ok {
		host, port := rt.Host, "25"
		if h, p, err := net.SplitHostPort(rt.Host); err == nil {
			host, port = h, p
		}
		return []hop{{name: host, addr: net.JoinHostPort(host, port), route: &rt}}, nil
	}
	port := strconv.Itoa(r.opts.MXPort)
	mxs, err := r.opts.DNS.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) && len(mxs) == 0 {
		return nil, &hopError{reason: reasonf("DNS lookup of the MX records of %s failed: %v", "не удалось получить MX-записи домена %s из DNS: %v", domain, err)}
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, &hopError{perm: true, reason: reasonf("the domain %s accepts no mail (null MX)", "домен %s не принимает почту (null MX)", domain)}
	}
	var out []hop
	for _, mx := range mxs {
		h := strings.TrimSuffix(mx.Host, ".")
		if h == "" {
			continue
		}
		out = append(out, hop{name: h, addr: net.JoinHostPort(h, port)})
	}
	if len(out) > 0 {
		return r.secure(ctx, domain, out, false)
	}
	// Implicit MX (RFC 5321 §5.1): the domain's own address records.
	ips, err := r.opts.DNS.LookupIPAddr(ctx, domain)
	if err != nil || len(ips) == 0 {
		if errors.As(err, &dnsErr) && !dnsErr.IsNotFound {
			return nil, &hopError{reason: reasonf("DNS lookup of %s failed: %v", "не удалось найти %s в DNS: %v", domain, err)}
		}
		return nil, &hopError{perm: true, reason: reasonf("no MX record and no address: host %s not found", "нет ни MX-записи, ни адреса: домен %s не найден", domain)}
	}
	return r.secure(ctx, domain, []hop{{name: domain, addr: net.JoinHostPort(domain, port)}}, true)
}

// secure applies the destination's TLS policy to its MX hosts: DANE
// when its MX hosts have TLSA records, else its MTA-STS policy.
func (r *Runner) secure(ctx context.Context, domain string, hops []hop, implicit bool) ([]hop, error) {
	if r.opts.DNSSECResolver != "" {
		if out, applied := r.applyDANE(ctx, domain, hops, implicit); applied {
			return out, nil
		}
	}
	if r.opts.MTASTS {
		return r.applySTS(ctx, domain, hops)
	}
	return hops, nil
}

// reason is a failure explained in English and Russian.
type reason struct {
	en, ru string
}

func reasonf(en, ru string, args ...any) reason {
	return reason{en: fmt.Sprintf(en, args...), ru: fmt.Sprintf(ru, args...)}
}
