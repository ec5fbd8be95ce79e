package queue

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// daneTimeout bounds one query to the validating resolver.
const daneTimeout = 10 * time.Second

// secureQuery asks the DNSSEC-validating resolver for name's records of
// type qtype. secure reports the resolver's AD bit: the answer (or the
// denial that there is one) was validated. A failure to get an answer
// (SERVFAIL, network) is an error: with DNSSEC it may be an attack.
func (r *Runner) secureQuery(ctx context.Context, name string, qtype uint16) (rrs []dns.RR, secure bool, err error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(4096, true)
	c := &dns.Client{Timeout: daneTimeout}
	in, _, err := c.ExchangeContext(ctx, m, r.opts.DNSSECResolver)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.opts.DNSSECResolver)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s lookup of %s: %w", dns.TypeToString[qtype], name, err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return nil, false, fmt.Errorf("%s lookup of %s: %s", dns.TypeToString[qtype], name, dns.RcodeToString[in.Rcode])
	}
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			rrs = append(rrs, rr)
		}
	}
	return rrs, in.AuthenticatedData, nil
}

// applyDANE looks up the TLSA records of each MX host (RFC 7672 §2.2)
// when the domain's MX records are DNSSEC-signed. applied reports that
// at least one host has usable TLSA records: DANE then governs the
// domain instead of MTA-STS. A host whose TLSA lookup fails is kept with
// that failure (its delivery is deferred, never sent without the check).
func (r *Runner) applyDANE(ctx context.Context, domain string, hops []hop, implicit bool) (out []hop, applied bool) {
	qtype := dns.TypeMX
	if implicit {
		qtype = dns.TypeA
	}
	_, secure, err := r.secureQuery(ctx, domain, qtype)
	if err != nil || !secure {
		return hops, false
	}
	out = make([]hop, len(hops))
	for i, h := range hops {
		_, port, err := net.SplitHostPort(h.addr)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || p == 0 {
			port = "25"
		}
		name := "_" + port + "._tcp." + h.name
		rrs, secure, err := r.secureQuery(ctx, name, dns.TypeTLSA)
		switch {
		case err != nil:
			h.daneErr = &failure{status: "4.7.5", remote: h.name, reason: reasonf("the DANE TLSA lookup for %s failed: %v", "не удалось получить TLSA-записи DANE для %s: %v", h.name, err)}
			applied = true
		case secure:
			for _, rr := range rrs {
				if t := rr.(*dns.TLSA); usableTLSA(t) {
					h.tlsa = append(h.tlsa, t)
				}
			}
			if len(h.tlsa) > 0 {
				applied = true
				h.daneDomain = domain
			}
		}
		out[i] = h
	}
	return out, applied
}

// usableTLSA reports whether an SMTP client uses t (RFC 7672 §3.1):
// DANE-TA(2) or DANE-EE(3), full certificate or SPKI, exact or SHA-2.
func usableTLSA(t *dns.TLSA) bool {
	return (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2
}

// tlsaMatches reports whether the certificate matches the record.
func tlsaMatches(t *dns.TLSA, c *x509.Certificate) bool {
	data := c.Raw
	if t.Selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case 1:
		s := sha256.Sum256(data)
		data = s[:]
	case 2:
		s := sha512.Sum512(data)
		data = s[:]
	}
	return strings.EqualFold(hex.EncodeToString(data), t.Certificate)
}

// verifyDANE checks the server's certificate against the TLSA records:
// DANE-EE matches the server's own certificate, no more (no name, no
// expiry: RFC 7672 §3.1.1); DANE-TA matches a certificate of the chain
// the server sent, which must then issue the server's certificate for
// one of names (§3.1.2).
func verifyDANE(cs tls.ConnectionState, recs []*dns.TLSA, names ...string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	var taErr error
	for _, t := range recs {
		switch t.Usage {
		case 3:
			if tlsaMatches(t, certs[0]) {
				return nil
			}
		case 2:
			for i, ta := range certs {
				if !tlsaMatches(t, ta) {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(ta)
				inter := x509.NewCertPool()
				for _, c := range certs[1:i] {
					inter.AddCert(c)
				}
				for _, n := range names {
					if i == 0 {
						taErr = certs[0].VerifyHostname(n)
					} else {
						_, taErr = certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n})
					}
					if taErr == nil {
						return nil
					}
				}
			}
		}
	}
	if taErr != nil {
		return fmt.Errorf("the certificate does not pass the DANE-TA record: %w", taErr)
	}
	return errors.New("no TLSA record matches the certificate")
}
