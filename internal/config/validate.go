package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks every value and the relations between them (listener
// addresses parse and do not collide, cert_file and key_file are set
// together, the storage backend is known, timeouts are sane, ...). It
// returns nil, one *Error, or several joined with errors.Join. For a Config
// from Load or Parse the errors carry the file name and line.
func (c *Config) Validate() error {
	v := &validator{src: c.src}

	if err := checkDomain(c.Hostname); err != nil {
		v.add("hostname", "%v", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		v.add("data_dir", "must not be empty")
	}

	v.listen(c)

	// TLS.
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		v.add("tls.key_file", "must be set when tls.cert_file is set (set both, or neither for a self-signed certificate)")
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		v.add("tls.cert_file", "must be set when tls.key_file is set (set both, or neither for a self-signed certificate)")
	}
	if c.TLS.MinVersion != "1.2" && c.TLS.MinVersion != "1.3" {
		v.add("tls.min_version", "must be \"1.2\" or \"1.3\", not %q", c.TLS.MinVersion)
	}

	// Auth.
	v.intRange("auth.password_hash_time", c.Auth.PasswordHashTime, 1, 100)
	v.sizeRange("auth.password_hash_memory", c.Auth.PasswordHashMemory, 64*KiB, 4*GiB)
	v.intRange("auth.password_hash_threads", c.Auth.PasswordHashThreads, 1, 64)
	v.durationRange("auth.failed_login_delay", c.Auth.FailedLoginDelay, 0, time.Minute)
	v.atLeast("auth.max_failed_logins", c.Auth.MaxFailedLogins, 0)
	v.atLeast("auth.max_concurrent_hashes", c.Auth.MaxConcurrentHashes, 0)
	if c.Auth.MaxFailedLogins > 0 {
		v.durationRange("auth.failed_login_window", c.Auth.FailedLoginWindow, time.Second, 0)
	} else {
		v.durationRange("auth.failed_login_window", c.Auth.FailedLoginWindow, 0, 0)
	}

	// Store.
	switch c.Store.Backend {
	case BackendSQLite:
		if c.Store.DSN != "" {
			v.add("store.dsn", "only used with backend = %q; remove it or set store.backend = %q", BackendPostgres, BackendPostgres)
		}
	case BackendPostgres:
		if strings.TrimSpace(c.Store.DSN) == "" {
			v.add("store.dsn", "required when store.backend = %q", BackendPostgres)
		}
	default:
		v.add("store.backend", "unknown backend %q (use %q or %q)", c.Store.Backend, BackendSQLite, BackendPostgres)
	}

	// Limits.
	v.atLeast("limits.max_connections", c.Limits.MaxConnections, 1)
	v.atLeast("limits.max_connections_per_ip", c.Limits.MaxConnectionsPerIP, 1)
	if c.Limits.MaxConnections >= 1 && c.Limits.MaxConnectionsPerIP > c.Limits.MaxConnections {
		v.add("limits.max_connections_per_ip", "%d is more than limits.max_connections (%d)", c.Limits.MaxConnectionsPerIP, c.Limits.MaxConnections)
	}
	v.durationRange("limits.idle_timeout", c.Limits.IdleTimeout, time.Second, 0)

	// SMTP.
	if c.SMTP.MaxMessageSize < 1 {
		v.add("smtp.max_message_size", "must be at least 1 byte, not %d", c.SMTP.MaxMessageSize)
	}
	v.atLeast("smtp.max_recipients", c.SMTP.MaxRecipients, 1)
	v.durationRange("smtp.command_timeout", c.SMTP.CommandTimeout, time.Second, 0)
	v.atLeast("smtp.max_messages_per_hour", c.SMTP.MaxMessagesPerHour, 0)
	v.atLeast("smtp.max_messages_per_day", c.SMTP.MaxMessagesPerDay, 0)
	for _, r := range c.SMTP.PlusSeparator {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("@.\"\\()<>[],;:", r) ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			v.add("smtp.plus_separator", "%q cannot be a separator (use characters such as \"+\" or \"-\")", r)
			break
		}
	}
	for i, e := range c.SMTP.BlockedExtensions {
		if err := checkExtension(e); err != nil {
			v.add(fmt.Sprintf("smtp.blocked_extensions[%d]", i), "%v", err)
		}
	}

	// POP3.
	v.durationRange("pop3.inactivity_timeout", c.POP3.InactivityTimeout, 10*time.Minute, 0)
	v.durationRange("pop3.login_delay", c.POP3.LoginDelay, 0, 24*time.Hour)

	// Retention and quota.
	v.durationRange("retention.trash", c.Retention.Trash, 0, 0)
	v.durationRange("retention.spam", c.Retention.Spam, 0, 0)
	if c.Quota.DefaultBytes < 0 {
		v.add("quota.default_bytes", "must not be negative (0 means unlimited)")
	}
	v.atLeast("quota.default_messages", c.Quota.DefaultMessages, 0)

	// Queue and DNS.
	v.durationRange("queue.retry_initial", c.Queue.RetryInitial, time.Second, 0)
	v.durationRange("queue.retry_max", c.Queue.RetryMax, c.Queue.RetryInitial.Duration(), 0)
	v.durationRange("queue.max_age", c.Queue.MaxAge, time.Second, 0)
	v.durationRange("queue.delay_notice", c.Queue.DelayNotice, 0, 0)
	v.durationRange("queue.connect_timeout", c.Queue.ConnectTimeout, time.Second, 0)
	v.durationRange("queue.lease_time", c.Queue.LeaseTime, time.Second, 0)
	v.atLeast("queue.concurrency", c.Queue.Concurrency, 1)
	v.atLeast("queue.concurrency_per_domain", c.Queue.ConcurrencyPerDomain, 1)
	if c.Queue.Concurrency >= 1 && c.Queue.ConcurrencyPerDomain > c.Queue.Concurrency {
		v.add("queue.concurrency_per_domain", "%d is more than queue.concurrency (%d)", c.Queue.ConcurrencyPerDomain, c.Queue.Concurrency)
	}
	switch c.Queue.MTASTSPolicy {
	case "", "testing", "enforce":
	default:
		v.add("queue.mta_sts_policy", "unknown mode %q: want \"testing\", \"enforce\" or \"\" (none)", c.Queue.MTASTSPolicy)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Queue.Routes)) {
		if err := checkRouteHost(c.Queue.Routes[name].Host); err != nil {
			v.add("queue.routes", "route %q: %v", name, err)
		}
	}
	if c.DNS.DNSSECResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNS.DNSSECResolver); err != nil {
			v.add("dns.dnssec_resolver", "bad address %q: want \"host:port\", e.g. \"127.0.0.1:53\"", c.DNS.DNSSECResolver)
		}
	}
	if c.DNS.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.DNS.Resolver); err != nil {
			v.add("dns.resolver", "bad address %q: want \"host:port\", e.g. \"127.0.0.1:53\"", c.DNS.Resolver)
		}
	}

	// Web pages.
	for i, a := range c.Web.Admins {
		if local, domain, ok := strings.Cut(a, "@"); !ok || local == "" || domain == "" || strings.ContainsAny(a, " \t\r\n") {
			v.add(fmt.Sprintf("web.admins[%d]", i), "%q is not an address (want \"user@domain\")", a)
		}
	}
	if c.Web.MaxSelfServiceAliases < 1 || c.Web.MaxSelfServiceAliases > 1000 {
		v.add("web.max_self_service_aliases", "%d is out of range (1 to 1000)", c.Web.MaxSelfServiceAliases)
	}
	v.durationRange("web.session_idle", c.Web.SessionIdle, time.Minute, 30*24*time.Hour)
	v.durationRange("web.session_max", c.Web.SessionMax, time.Minute, 365*24*time.Hour)

	return joinErrors(v.errs)
}

type validator struct {
	src  *source
	errs []*Error
}

func (v *validator) add(key, format string, args ...any) {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	if v.src != nil {
		e.File, e.Line = v.src.name, v.src.line(key)
	}
	v.errs = append(v.errs, e)
}

func (v *validator) atLeast(key string, n, lo int) {
	if n < lo {
		v.add(key, "must be at least %d, not %d", lo, n)
	}
}

// intRange checks lo <= n <= hi.
func (v *validator) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "must be between %d and %d, not %d", lo, hi, n)
	}
}

// sizeRange checks lo <= s <= hi.
func (v *validator) sizeRange(key string, s, lo, hi Size) {
	if s < lo || s > hi {
		v.add(key, "must be between %s and %s, not %s", lo, hi, s)
	}
}

// durationRange checks lo <= d and, when hi > 0, d <= hi.
func (v *validator) durationRange(key string, d Duration, lo, hi time.Duration) {
	switch {
	case d.Duration() < lo && lo == 0:
		v.add(key, "must not be negative, not %s", d)
	case d.Duration() < lo:
		v.add(key, "must be at least %s, not %s", lo, d)
	case hi > 0 && d.Duration() > hi:
		v.add(key, "must be at most %s, not %s", hi, d)
	}
}

func (v *validator) listen(c *Config) {
	l := c.Listen
	for _, f := range []struct {
		key, addr string
	}{
		{"listen.smtp", l.SMTP}, {"listen.submission", l.Submission},
		{"listen.submissions", l.Submissions}, {"listen.devices", l.Devices},
		{"listen.pop3", l.POP3}, {"listen.pop3s", l.POP3S},
		{"listen.imap", l.IMAP}, {"listen.imaps", l.IMAPS},
		{"listen.http", l.HTTP}, {"listen.https", l.HTTPS}, {"listen.metrics", l.Metrics},
	} {
		if f.addr != "" {
			if err := checkAddr(f.addr); err != nil {
				v.add(f.key, "%v", err)
			}
		}
	}
	for i, a := range l.SubmissionExtra {
		key := fmt.Sprintf("listen.submission_extra[%d]", i)
		if a == "" {
			v.add(key, "empty address (remove the entry instead)")
		} else if err := checkAddr(a); err != nil {
			v.add(key, "%v", err)
		}
	}

	// Collisions between listeners that will actually be started.
	var seen []Listener
	for _, ln := range c.Listeners() {
		if checkAddr(ln.Addr) != nil {
			continue // already reported
		}
		for _, prev := range seen {
			if addrsCollide(prev.Addr, ln.Addr) {
				v.add(ln.ConfigKey, "address %q collides with %s (%q)", ln.Addr, prev.ConfigKey, prev.Addr)
				break
			}
		}
		seen = append(seen, ln)
	}
}

// checkAddr checks a "host:port" listen address. The port must be a number
// from 0 to 65535; the host may be empty, an IP address or a host name.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		msg := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			msg = ae.Err
		}
		return fmt.Errorf("bad address %q: %s (use host:port, e.g. \":25\" or \"127.0.0.1:8080\")", addr, msg)
	}
	if port == "" {
		return fmt.Errorf("bad address %q: missing port", addr)
	}
	n, err := strconv.ParseUint(port, 10, 64)
	if err != nil {
		return fmt.Errorf("bad address %q: port %q is not a number", addr, port)
	}
	if n > 65535 {
		return fmt.Errorf("bad address %q: port out of range", addr)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if checkDomain(host) != nil {
		return fmt.Errorf("bad address %q: invalid host %q", addr, host)
	}
	return nil
}

// addrsCollide reports whether two valid listen addresses would compete for
// the same socket. Port 0 never collides (each gets a free port); an empty,
// "0.0.0.0" or "::" host collides with every host on the same port (an
// IPv4 wildcard does not collide with IPv6 addresses).
func addrsCollide(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na == 0 || na != nb {
		return false
	}
	ka, kb := hostKind(ha), hostKind(hb)
	switch {
	case ka == anyHost || kb == anyHost:
		return true
	case ka == any4Host:
		return kb != ip6Host
	case kb == any4Host:
		return ka != ip6Host
	}
	return normHost(ha) == normHost(hb)
}

type hostKindT int

const (
	nameHost hostKindT = iota
	anyHost            // "" or "::" (Go listens dual-stack)
	any4Host           // 0.0.0.0
	ip4Host
	ip6Host
)

func hostKind(h string) hostKindT {
	if h == "" {
		return anyHost
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return nameHost
	}
	switch {
	case ip.Is4() && ip.IsUnspecified():
		return any4Host
	case ip.IsUnspecified():
		return anyHost
	case ip.Is4() || ip.Is4In6():
		return ip4Host
	}
	return ip6Host
}

func normHost(h string) string {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// checkDomain checks that s is a syntactically valid domain name (letters,
// digits and hyphens in dot-separated labels of 1-63 characters, at most
// 253 characters, no trailing dot) and not an IP address.
func checkDomain(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 253:
		return fmt.Errorf("%q is not a valid domain name (longer than 253 characters)", s)
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return fmt.Errorf("%q is an IP address; a domain name is required", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a valid domain name (empty or too long label)", s)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a valid domain name (label %q starts or ends with '-')", s, label)
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a valid domain name (invalid character %q)", s, r)
			}
		}
	}
	return nil
}

// checkExtension checks a blocked_extensions entry such as "exe" or ".exe".
func checkExtension(e string) error {
	s := strings.TrimPrefix(e, ".")
	if s == "" {
		return fmt.Errorf("empty extension %q", e)
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("invalid extension %q (letters, digits, '_' and '-' only, e.g. \"exe\")", e)
		}
	}
	return nil
}

// checkRouteHost checks a route's "host[:port]".
func checkRouteHost(h string) error {
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("bad port in %q", h)
		}
		host = hh
	}
	if host == "" {
		return fmt.Errorf("empty host in %q", h)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	return checkDomain(host)
}
