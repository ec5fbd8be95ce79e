package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// signingSelectors signs a message with the keys of domain as a server
// (with a cold cache) would, and returns the s= of each signature.
func signingSelectors(t *testing.T, dir, domain string) []string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := auth.LoadSecretKey(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := msgauth.NewStoreKeys(st, key, 0, nil).Sign(t.Context(), domain,
		strings.NewReader("From: a@"+domain+"\r\nTo: b@b.example\r\nSubject: x\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var sels []string
	for _, m := range regexp.MustCompile(`;\s*s=([^;\s]+)`).FindAllStringSubmatch(string(sigs), -1) {
		sels = append(sels, m[1])
	}
	slices.Sort(sels)
	return sels
}

// dkimListed runs `dkim list --json` and returns selector → signing.
func dkimListed(t *testing.T, dir, domain string) map[string]bool {
	t.Helper()
	code, out, errOut := pochta(t, dir, "", "dkim", "list", domain, "--json")
	if code != 0 {
		t.Fatalf("dkim list: %d %s", code, errOut)
	}
	var keys []struct {
		Domain, Selector, Algorithm string
		Signing                     bool
	}
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatalf("dkim list --json: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k.Selector] = k.Signing
	}
	return got
}

// A key rotation as an operator does it: new keys that do not sign until
// their records are published, then the switch, the old keys kept listed
// (their records stay published for a while) but no longer signing.
func TestDKIMRotation(t *testing.T) {
	dir := newConfigDir(t)
	if code, _, errOut := pochta(t, dir, "", "domain", "add", "a.example"); code != 0 {
		t.Fatalf("domain add: %d %s", code, errOut)
	}
	old := signingSelectors(t, dir, "a.example")
	if len(old) != 2 {
		t.Fatalf("a new domain signs with %v, want an ed25519 and an RSA key", old)
	}

	code, out, errOut := pochta(t, dir, "", "dkim", "rotate", "a.example")
	if code != 0 {
		t.Fatalf("dkim rotate: %d %s", code, errOut)
	}
	var fresh []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, ";") {
			continue
		}
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("dkim rotate printed a line that is not a record: %q: %v", l, err)
		}
		name := rr.Header().Name
		if !strings.HasSuffix(name, "._domainkey.a.example.") || rr.Header().Rrtype != dns.TypeTXT {
			t.Fatalf("record %q is not a DKIM key of a.example", l)
		}
		fresh = append(fresh, strings.TrimSuffix(name, "._domainkey.a.example."))
	}
	slices.Sort(fresh)
	if len(fresh) != 2 || slices.ContainsFunc(fresh, func(s string) bool { return slices.Contains(old, s) }) {
		t.Fatalf("rotate printed keys %v; want two new selectors beside %v", fresh, old)
	}
	if !strings.Contains(out, "pochta dkim activate a.example "+fresh[0]) {
		t.Errorf("rotate does not say how to activate the new keys:\n%s", out)
	}
	// Not signing until activated.
	if got := signingSelectors(t, dir, "a.example"); !slices.Equal(got, old) {
		t.Errorf("after rotate, signing with %v, want still %v", got, old)
	}
	listed := dkimListed(t, dir, "a.example")
	if len(listed) != 4 || listed[fresh[0]] || listed[fresh[1]] || !listed[old[0]] || !listed[old[1]] {
		t.Errorf("dkim list after rotate: %v", listed)
	}

	if code, _, errOut := pochta(t, dir, "", append([]string{"dkim", "activate", "a.example"}, fresh...)...); code != 0 {
		t.Fatalf("dkim activate: %d %s", code, errOut)
	}
	if code, _, errOut := pochta(t, dir, "", append([]string{"dkim", "retire", "a.example"}, old...)...); code != 0 || errOut != "" {
		t.Fatalf("dkim retire: %d %q", code, errOut)
	}
	if got := signingSelectors(t, dir, "a.example"); !slices.Equal(got, fresh) {
		t.Errorf("after the switch, signing with %v, want %v", got, fresh)
	}
	// The old records stay in the list to publish.
	code, out, _ = pochta(t, dir, "", "domain", "dns", "a.example")
	for _, s := range append(old, fresh...) {
		if code != 0 || !strings.Contains(out, s+"._domainkey.a.example.") {
			t.Errorf("domain dns lacks the record of %s", s)
		}
	}

	// A second rotation in the same month gets selectors of its own.
	if code, _, errOut := pochta(t, dir, "", "dkim", "rotate", "a.example"); code != 0 {
		t.Fatalf("second dkim rotate: %d %s", code, errOut)
	}
	if listed := dkimListed(t, dir, "a.example"); len(listed) != 6 {
		t.Errorf("after a second rotation: %v, want 6 keys", listed)
	}

	// Retiring every signing key is allowed, with a warning; unknown
	// selectors and domains are errors.
	if code, _, errOut := pochta(t, dir, "", append([]string{"dkim", "retire", "a.example"}, fresh...)...); code != 0 || !strings.Contains(errOut, "no signing DKIM key") {
		t.Errorf("retiring the last signing keys: %d %q, want success with a warning", code, errOut)
	}
	if code, _, errOut := pochta(t, dir, "", "dkim", "activate", "a.example", "nosuch"); code == 0 || !strings.Contains(errOut, "nosuch") {
		t.Errorf("activate an unknown selector: %d %q", code, errOut)
	}
	if code, _, _ := pochta(t, dir, "", "dkim", "rotate", "other.example"); code == 0 {
		t.Error("rotate for a domain that is not local succeeded")
	}
}
