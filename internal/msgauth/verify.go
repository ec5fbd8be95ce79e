package msgauth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Action is what the receiving server should do with a message after
// DMARC evaluation.
type Action int

// Actions, from DMARC policies.
const (
	// Accept delivers normally.
	Accept Action = iota
	// Quarantine delivers to the Spam folder (p=quarantine).
	Quarantine
	// Reject refuses the message at DATA (p=reject).
	Reject
)

// maxDKIMVerifications bounds the signatures checked per message.
const maxDKIMVerifications = 5

// checkTimeout bounds all DNS work for one message.
const checkTimeout = 20 * time.Second

// Checker evaluates SPF, DKIM and DMARC for incoming mail.
type Checker struct {
	// DNS answers every lookup.
	DNS *net.Resolver
	// Hostname is the authserv-id of the Authentication-Results field;
	// fields claiming it that arrive with a message are forged.
	Hostname string
	// Log gets one line per message; nil means slog.Default().
	Log *slog.Logger
}

// Input describes one received message.
type Input struct {
	// IP is the connecting client's address.
	IP netip.Addr
	// Helo is the name the client gave in EHLO/HELO.
	Helo string
	// MailFrom is the envelope sender ("" for the null sender).
	MailFrom string
	// Message reads the whole message (header and body).
	Message io.Reader
}

// Result is the outcome of Check.
type Result struct {
	// Header is the Authentication-Results field, CRLF-terminated.
	Header []byte
	// Action is what the DMARC policy asks for.
	Action Action
	// Reason explains a Reject or Quarantine, for the SMTP reply and logs.
	Reason string
	// SPF, DKIM and DMARC are the individual results, for logs and tests.
	SPF, DKIM, DMARC authres.ResultValue
}

// Check evaluates a message. DNS failures give temperror results, never
// an error: mail is not refused because a lookup failed.
func (c *Checker) Check(ctx context.Context, in Input) Result {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	var results []authres.Result
	var res Result

	// The header, for From; the message is read once for DKIM as well.
	var head bytes.Buffer
	msg := io.TeeReader(in.Message, &limitedBuffer{buf: &head, max: 256 << 10})

	// DKIM.
	lookupTXT := func(name string) ([]string, error) { return c.DNS.LookupTXT(ctx, name) }
	verifs, derr := dkim.VerifyWithOptions(msg, &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: maxDKIMVerifications})
	io.Copy(io.Discard, msg) // the header when Verify stopped early
	var dkimPass []string
	switch {
	case derr != nil && !errors.Is(derr, dkim.ErrTooManySignatures):
		results = append(results, &authres.DKIMResult{Value: authres.ResultPermError, Reason: "malformed message"})
		res.DKIM = authres.ResultPermError
	case len(verifs) == 0:
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
		res.DKIM = authres.ResultNone
	default:
		res.DKIM = authres.ResultFail
		for _, v := range verifs {
			r := &authres.DKIMResult{Value: authres.ResultPass, Domain: v.Domain, Identifier: v.Identifier}
			switch {
			case v.Err == nil:
				dkimPass = append(dkimPass, strings.ToLower(v.Domain))
				res.DKIM = authres.ResultPass
			case dkim.IsTempFail(v.Err):
				r.Value, r.Reason = authres.ResultTempError, v.Err.Error()
			case dkim.IsPermFail(v.Err):
				r.Value, r.Reason = authres.ResultPermError, v.Err.Error()
			default:
				r.Value, r.Reason = authres.ResultFail, v.Err.Error()
			}
			results = append(results, r)
		}
	}

	// SPF.
	sender := in.MailFrom
	if sender == "" {
		sender = "postmaster@" + in.Helo
	}
	spfDomain := asciiDomain(domainOf(sender))
	sres, serr := spf.CheckHostWithSender(net.IP(in.IP.AsSlice()), in.Helo, sender,
		spf.WithResolver(c.DNS), spf.WithContext(ctx))
	spfValue := spfResultValue(sres)
	sr := &authres.SPFResult{Value: spfValue, From: sender, Helo: in.Helo}
	if serr != nil && spfValue != authres.ResultPass {
		sr.Reason = serr.Error()
	}
	results = append(results, sr)
	res.SPF = spfValue

	// DMARC.
	fromDomain, ferr := headerFromDomain(head.Bytes())
	switch {
	case ferr != nil:
		results = append(results, &authres.DMARCResult{Value: authres.ResultNone, Reason: ferr.Error()})
		res.DMARC = authres.ResultNone
	default:
		dr, action, reason := c.dmarc(ctx, fromDomain, spfDomain, spfValue == authres.ResultPass, dkimPass)
		results = append(results, dr)
		res.DMARC = dr.Value
		res.Action, res.Reason = action, reason
	}

	res.Header = []byte(foldAR("Authentication-Results: " + authres.Format(c.Hostname, results)))
	log.Debug("message authentication", "ip", in.IP, "spf", res.SPF, "dkim", res.DKIM, "dmarc", res.DMARC, "action", res.Action)
	return res
}

// dmarc looks the policy up and evaluates alignment (RFC 7489 §3.1,
// §6.6), with organizational domains from the Public Suffix List.
func (c *Checker) dmarc(ctx context.Context, from, spfDomain string, spfPass bool, dkimPass []string) (*authres.DMARCResult, Action, string) {
	lookup := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return c.DNS.LookupTXT(ctx, name) }}
	rec, err := dmarc.LookupWithOptions(from, lookup)
	org := orgDomain(from)
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, err = dmarc.LookupWithOptions(org, lookup)
		sub = true
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return &authres.DMARCResult{Value: authres.ResultNone, From: from}, Accept, ""
	case err != nil && dmarc.IsTempFail(err):
		return &authres.DMARCResult{Value: authres.ResultTempError, From: from, Reason: err.Error()}, Accept, ""
	case err != nil:
		return &authres.DMARCResult{Value: authres.ResultPermError, From: from, Reason: err.Error()}, Accept, ""
	}
	aligned := func(d string, mode dmarc.AlignmentMode) bool {
		if mode == dmarc.AlignmentStrict {
			return d == from
		}
		return orgDomain(d) == org
	}
	if spfPass && aligned(spfDomain, rec.SPFAlignment) {
		return &authres.DMARCResult{Value: authres.ResultPass, From: from}, Accept, ""
	}
	for _, d := range dkimPass {
		if aligned(d, rec.DKIMAlignment) {
			return &authres.DMARCResult{Value: authres.ResultPass, From: from}, Accept, ""
		}
	}
	policy := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	reason := fmt.Sprintf("DMARC policy of %s: no aligned SPF or DKIM pass", from)
	switch policy {
	case dmarc.PolicyReject:
		return &authres.DMARCResult{Value: authres.ResultFail, From: from, Reason: "p=reject"}, Reject, reason
	case dmarc.PolicyQuarantine:
		return &authres.DMARCResult{Value: authres.ResultFail, From: from, Reason: "p=quarantine"}, Quarantine, reason
	}
	return &authres.DMARCResult{Value: authres.ResultFail, From: from, Reason: "p=none"}, Accept, ""
}

func spfResultValue(r spf.Result) authres.ResultValue {
	switch r {
	case spf.Pass:
		return authres.ResultPass
	case spf.Fail:
		return authres.ResultFail
	case spf.SoftFail:
		return authres.ResultSoftFail
	case spf.Neutral:
		return authres.ResultNeutral
	case spf.TempError:
		return authres.ResultTempError
	case spf.PermError:
		return authres.ResultPermError
	}
	return authres.ResultNone
}

// domainOf returns the part after the last @, or s itself.
func domainOf(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// orgDomain returns the organizational domain (RFC 7489 §3.2): the
// public suffix of d (from the Public Suffix List) and one more label;
// d itself when it is a public suffix or shorter.
func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// FromDomain returns the domain of the single address in the From field
// of a message header, lowercase, in A-labels.
func FromDomain(head []byte) (string, error) { return headerFromDomain(head) }

// headerFromDomain returns the domain of the single From address.
func headerFromDomain(head []byte) (string, error) {
	froms, err := headerValues(head, "From")
	if err != nil {
		return "", err
	}
	if len(froms) != 1 {
		return "", fmt.Errorf("%d From fields", len(froms))
	}
	addrs, err := mail.ParseAddressList(froms[0])
	if err != nil || len(addrs) != 1 {
		return "", errors.New("unparsable From field")
	}
	d := asciiDomain(domainOf(addrs[0].Address))
	if d == "" {
		return "", errors.New("From has no domain")
	}
	return d, nil
}

// asciiDomain returns a domain lowercase in its IDNA A-label form (what
// DNS, DKIM's d= and the key folders use), or just lowercased when it is
// not a valid internationalised name.
func asciiDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		return strings.ToLower(a)
	}
	return d
}

// headerValues returns the unfolded values of the fields called name.
func headerValues(head []byte, name string) ([]string, error) {
	var out []string
	for _, f := range splitHeader(head) {
		n, v, ok := strings.Cut(string(f), ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out, nil
}

// splitHeader splits the header of a message into raw fields (with their
// folding and line endings), stopping at the empty line.
func splitHeader(msg []byte) [][]byte {
	var fields [][]byte
	r := bufio.NewReader(bytes.NewReader(msg))
	var cur []byte
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && cur != nil {
			cur = append(cur, line...)
			continue
		}
		if cur != nil {
			fields = append(fields, cur)
		}
		cur = append([]byte(nil), line...)
		if err != nil {
			break
		}
	}
	if cur != nil {
		fields = append(fields, cur)
	}
	return fields
}

// HeaderEnd returns the offset of the first byte after the header's
// empty line (or len(msg) when there is none within msg).
func HeaderEnd(msg []byte) int {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		if j := bytes.Index(msg, []byte("\n\n")); j >= 0 && j < i {
			return j + 2
		}
		return i + 4
	}
	if j := bytes.Index(msg, []byte("\n\n")); j >= 0 {
		return j + 2
	}
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 2
	}
	return len(msg)
}

// StripForged returns the header without Authentication-Results fields
// whose authserv-id is hostname (RFC 8601 §5): only this server may say
// what it checked.
func StripForged(head []byte, hostname string) []byte {
	var out bytes.Buffer
	rest := head
	for _, f := range splitHeader(head) {
		rest = rest[len(f):]
		n, v, ok := strings.Cut(string(f), ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), "Authentication-Results") {
			id := strings.TrimSpace(v)
			if i := strings.IndexAny(id, "; \t\r\n"); i >= 0 {
				id = id[:i]
			}
			if strings.EqualFold(id, hostname) {
				continue
			}
		}
		out.Write(f)
	}
	out.Write(rest)
	return out.Bytes()
}

// foldAR folds a long Authentication-Results value at "; " boundaries
// and ends it with CRLF.
func foldAR(s string) string {
	return strings.ReplaceAll(s, "; ", ";\r\n\t") + "\r\n"
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
