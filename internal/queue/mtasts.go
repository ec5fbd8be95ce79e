package queue

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/msgauth"
)

// stsFetchTimeout bounds fetching a policy (RFC 8461 §3.3 suggests a
// minute; a slow policy server delays delivery by that much).
const stsFetchTimeout = 30 * time.Second

// stsMaxPolicy is the largest policy file read (RFC 8461 §3.3: 64 KiB).
const stsMaxPolicy = 64 << 10

// stsCached is a policy in the cache.
type stsCached struct {
	policy  *msgauth.STSPolicy
	id      string
	expires time.Time
}

// stsCache keeps fetched MTA-STS policies by domain.
type stsCache struct {
	mu sync.Mutex
	m  map[string]*stsCached
}

func (c *stsCache) get(domain string, now time.Time) *stsCached {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[domain]
	if e != nil && !now.Before(e.expires) {
		delete(c.m, domain)
		return nil
	}
	return e
}

func (c *stsCache) put(domain string, e *stsCached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*stsCached{}
	}
	c.m[domain] = e
}

// defaultHTTPClient fetches policies: no redirects (RFC 8461 §3.3), host
// names resolved by dnsr, certificates checked against the system's
// roots.
func defaultHTTPClient(dnsr *net.Resolver) *http.Client {
	d := &net.Dialer{Timeout: stsFetchTimeout, Resolver: dnsr}
	return &http.Client{
		Timeout:       stsFetchTimeout,
		Transport:     &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: stsFetchTimeout, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// stsPolicy returns the MTA-STS policy of domain, or nil when it has
// none (or none could be fetched and none is cached): the TXT record at
// _mta-sts.<domain> says whether there is one and its id; the policy is
// fetched over HTTPS when it is not cached or its id changed.
func (r *Runner) stsPolicy(ctx context.Context, domain string) *msgauth.STSPolicy {
	now := time.Now()
	cached := r.sts.get(domain, now)
	id, err := r.stsRecord(ctx, domain)
	if err != nil {
		// No record (or a DNS failure): a cached policy still holds
		// until it expires (RFC 8461 §5.1).
		if cached != nil {
			return cached.policy
		}
		return nil
	}
	if cached != nil && cached.id == id {
		return cached.policy
	}
	p, err := r.fetchSTS(ctx, domain)
	if err != nil {
		r.log.Info("MTA-STS policy not fetched", "domain", domain, "err", err)
		if cached != nil {
			return cached.policy
		}
		return nil
	}
	r.sts.put(domain, &stsCached{policy: p, id: id, expires: now.Add(p.MaxAge)})
	r.log.Info("MTA-STS policy fetched", "domain", domain, "mode", p.Mode, "mx", p.MX, "id", id)
	return p
}

// stsRecord returns the id of the domain's single MTA-STS TXT record.
func (r *Runner) stsRecord(ctx context.Context, domain string) (string, error) {
	txts, err := r.opts.DNS.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", fmt.Errorf("MTA-STS record of %s: %w", domain, err)
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return "", fmt.Errorf("MTA-STS record of %s: %d records", domain, len(recs))
	}
	return msgauth.ParseSTSRecord(recs[0])
}

// fetchSTS fetches and parses https://mta-sts.<domain>/.well-known/mta-sts.txt.
func (r *Runner) fetchSTS(ctx context.Context, domain string) (*msgauth.STSPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, stsFetchTimeout)
	defer cancel()
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	resp, err := r.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("fetch %s: content type %q, not text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicy+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(body) > stsMaxPolicy {
		return nil, fmt.Errorf("fetch %s: larger than %d bytes", url, stsMaxPolicy)
	}
	p, err := msgauth.ParseSTSPolicy(body)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	return p, nil
}

// applySTS restricts MX hops to those the domain's MTA-STS policy allows
// and marks them as needing verified TLS (enforce) or as being checked
// only for reports (testing).
func (r *Runner) applySTS(ctx context.Context, domain string, hops []hop) ([]hop, error) {
	p := r.stsPolicy(ctx, domain)
	if p == nil || p.Mode == msgauth.STSModeNone {
		return hops, nil
	}
	var out []hop
	for _, h := range hops {
		if !p.Matches(h.name) {
			if p.Mode == msgauth.STSModeTesting {
				r.log.Warn("MTA-STS (testing): MX host not in the policy", "domain", domain, "host", h.name, "mx", p.MX)
				h.stsTesting = true
				out = append(out, h)
			}
			continue
		}
		if p.Mode == msgauth.STSModeEnforce {
			h.sts = domain
		} else {
			h.stsTesting = true
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		names := make([]string, len(hops))
		for i, h := range hops {
			names[i] = h.name
		}
		return nil, &hopError{reason: reasonf("no MX host of %s (%s) matches its MTA-STS policy (mx: %s)",
			"ни один MX-сервер домена %s (%s) не соответствует его политике MTA-STS (mx: %s)",
			domain, strings.Join(names, ", "), strings.Join(p.MX, ", "))}
	}
	return out, nil
}
