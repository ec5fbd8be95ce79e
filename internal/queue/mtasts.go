package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
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
// fetched over HTTPS when it is not cached or its id changed. Policies
// are cached in memory and in the store, which every node shares and
// which survives restarts: on a miss in memory, or a changed id, the
// store is read before fetching.
func (r *Runner) stsPolicy(ctx context.Context, domain string) *msgauth.STSPolicy {
	now := time.Now()
	cached := r.sts.get(domain, now)
	readStore := cached == nil
	if readStore {
		cached = r.storedSTS(ctx, domain, now)
	}
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
	if !readStore {
		// Another node may have fetched the new policy already.
		if s := r.storedSTS(ctx, domain, now); s != nil {
			if s.id == id {
				return s.policy
			}
			if cached == nil {
				cached = s
			}
		}
	}
	p, text, err := r.fetchSTS(ctx, domain)
	if err != nil {
		r.log.Info("MTA-STS policy not fetched", "domain", domain, "err", err)
		if cached != nil {
			return cached.policy
		}
		return nil
	}
	expires := now.Add(p.MaxAge)
	r.sts.put(domain, &stsCached{policy: p, id: id, expires: expires})
	r.log.Info("MTA-STS policy fetched", "domain", domain, "mode", p.Mode, "mx", p.MX, "id", id)
	r.saveSTS(ctx, store.MTASTSPolicy{Domain: domain, ID: id, Policy: string(text), Fetched: now, Expires: expires})
	return p
}

// storedSTS reads the policy of domain from the store into the memory
// cache; nil when the store has none that is still valid.
func (r *Runner) storedSTS(ctx context.Context, domain string, now time.Time) *stsCached {
	if r.opts.Store == nil {
		return nil
	}
	sp, err := r.opts.Store.MTASTSPolicy(ctx, domain)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Warn("MTA-STS policy not read from the store", "domain", domain, "err", err)
		}
		return nil
	}
	if !now.Before(sp.Expires) {
		return nil
	}
	p, err := msgauth.ParseSTSPolicy([]byte(sp.Policy))
	if err != nil {
		r.log.Warn("stored MTA-STS policy unreadable", "domain", domain, "err", err)
		return nil
	}
	e := &stsCached{policy: p, id: sp.ID, expires: sp.Expires}
	r.sts.put(domain, e)
	return e
}

// saveSTS stores a fetched policy for the other nodes and later
// processes, and drops expired ones.
func (r *Runner) saveSTS(ctx context.Context, p store.MTASTSPolicy) {
	if r.opts.Store == nil {
		return
	}
	if err := r.opts.Store.PutMTASTSPolicy(ctx, p); err != nil {
		r.log.Warn("MTA-STS policy not stored", "domain", p.Domain, "err", err)
		return
	}
	if _, err := r.opts.Store.DeleteExpiredMTASTSPolicies(ctx, p.Fetched); err != nil {
		r.log.Warn("expired MTA-STS policies not deleted", "err", err)
	}
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

// fetchSTS fetches and parses https://mta-sts.<domain>/.well-known/mta-sts.txt
// and returns the policy and its text.
func (r *Runner) fetchSTS(ctx context.Context, domain string) (*msgauth.STSPolicy, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, stsFetchTimeout)
	defer cancel()
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	resp, err := r.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, nil, fmt.Errorf("fetch %s: content type %q, not text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicy+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(body) > stsMaxPolicy {
		return nil, nil, fmt.Errorf("fetch %s: larger than %d bytes", url, stsMaxPolicy)
	}
	p, err := msgauth.ParseSTSPolicy(body)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	return p, body, nil
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
