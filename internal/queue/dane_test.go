package queue

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// daneSetup is remote.example with one MX host serving cert, and TLSA
// records for it given as "usage selector matching" plus the data.
func daneSetup(t *testing.T, cert tls.Certificate, secure bool, tlsa ...string) (*fakeMX, *testEnv) {
	t.Helper()
	mx := startTLSMX(t, cert)
	p := port(t, mx.addr)
	recs := []string{
		"remote.example. 300 IN MX 10 mx.remote.example.",
		"mx.remote.example. 300 IN A 127.0.0.1",
	}
	for _, r := range tlsa {
		recs = append(recs, fmt.Sprintf("_%d._tcp.mx.remote.example. 300 IN TLSA %s", p, r))
	}
	z := startZone(t, recs...)
	z.secure = secure
	e := newTestEnv(t, z.addr, p, func(o *Options) { o.DNSSECResolver = z.addr })
	return mx, e
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func sha512hex(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }

func TestDANEDeliversWhenTLSAMatches(t *testing.T) {
	ca := newTestCA(t)
	selfSigned := (*testCA)(nil).issue(t, "anything.example")
	caIssued := ca.issue(t, "mx.remote.example")
	for name, c := range map[string]struct {
		cert tls.Certificate
		tlsa string
	}{
		// DANE-EE: any certificate, whatever its name, if it is the one.
		"DANE-EE SPKI SHA-256": {selfSigned, "3 1 1 " + sha256hex(selfSigned.Leaf.RawSubjectPublicKeyInfo)},
		"DANE-EE cert SHA-512": {selfSigned, "3 0 2 " + sha512hex(selfSigned.Leaf.Raw)},
		"DANE-EE cert exact":   {selfSigned, "3 0 0 " + hex.EncodeToString(selfSigned.Leaf.Raw)},
		// DANE-TA: the issuer is pinned, the name must match.
		"DANE-TA cert SHA-256": {caIssued, "2 0 1 " + sha256hex(ca.cert.Raw)},
		"DANE-TA SPKI SHA-512": {caIssued, "2 1 2 " + sha512hex(ca.cert.RawSubjectPublicKeyInfo)},
	} {
		t.Run(name, func(t *testing.T) {
			mx, e := daneSetup(t, c.cert, true, c.tlsa)
			e.enqueue(t, "sender@local.example", "a@remote.example")
			eventually(t, "delivery", func() bool { return len(mx.received()) == 1 })
			mx.mu.Lock()
			defer mx.mu.Unlock()
			if mx.gotTLS != 1 {
				t.Errorf("delivered without TLS")
			}
		})
	}
}

func TestDANERefusesMismatch(t *testing.T) {
	ca := newTestCA(t)
	other := (*testCA)(nil).issue(t, "other.example")
	for name, c := range map[string]struct {
		cert tls.Certificate
		tlsa string
	}{
		"DANE-EE other key":  {(*testCA)(nil).issue(t, "mx.remote.example"), "3 1 1 " + sha256hex(other.Leaf.RawSubjectPublicKeyInfo)},
		"DANE-TA wrong name": {ca.issue(t, "wrong.example"), "2 0 1 " + sha256hex(ca.cert.Raw)},
		"DANE-TA other CA":   {ca.issue(t, "mx.remote.example"), "2 0 1 " + sha256hex(other.Leaf.Raw)},
	} {
		t.Run(name, func(t *testing.T) {
			mx, e := daneSetup(t, c.cert, true, c.tlsa)
			e.enqueue(t, "sender@local.example", "a@remote.example")
			got := e.lastError(t)
			if !strings.Contains(got, "DANE TLSA records of mx.remote.example require TLS") {
				t.Errorf("last error = %q", got)
			}
			if n := len(mx.received()); n != 0 {
				t.Errorf("delivered despite the TLSA records")
			}
		})
	}
}

func TestDANEIgnoresUnsignedAndUnusableRecords(t *testing.T) {
	other := (*testCA)(nil).issue(t, "other.example")
	cert := (*testCA)(nil).issue(t, "mx.remote.example")
	for name, c := range map[string]struct {
		secure bool
		tlsa   string
	}{
		// Without the AD bit the records prove nothing: opportunistic TLS.
		"not validated": {false, "3 1 1 " + sha256hex(other.Leaf.RawSubjectPublicKeyInfo)},
		// PKIX usages are not for SMTP (RFC 7672 §3.1.3).
		"PKIX-EE usage": {true, "1 1 1 " + sha256hex(other.Leaf.RawSubjectPublicKeyInfo)},
	} {
		t.Run(name, func(t *testing.T) {
			mx, e := daneSetup(t, cert, c.secure, c.tlsa)
			e.enqueue(t, "sender@local.example", "a@remote.example")
			eventually(t, "delivery", func() bool { return len(mx.received()) == 1 })
		})
	}
}
