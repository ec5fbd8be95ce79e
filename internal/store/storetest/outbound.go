package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// outboundTests are the tests of DKIM keys and MTA-STS policies; Run runs
// them after webTests.
var outboundTests = []test{
	{"DKIMKey/AddList", testDKIMKeyAddList},
	{"DKIMKey/DomainForms", testDKIMKeyDomainForms},
	{"DKIMKey/DuplicateAddsNone", testDKIMKeyDuplicateAddsNone},
	{"DKIMKey/ConcurrentAdd", testDKIMKeyConcurrentAdd},
	{"DKIMKey/Invalid", testDKIMKeyInvalid},
	{"DKIMKey/Retire", testDKIMKeyRetire},
	{"MTASTS/PutGet", testMTASTSPutGet},
	{"MTASTS/Replace", testMTASTSReplace},
	{"MTASTS/DeleteExpired", testMTASTSDeleteExpired},
	{"MTASTS/Invalid", testMTASTSInvalid},
}

func dkimKey(domain, selector, alg string) store.DKIMKey {
	return store.DKIMKey{Domain: domain, Selector: selector, Algorithm: alg,
		PrivateKey: "v1:sealed-" + domain + "-" + selector, Created: t0, Active: true}
}

func testDKIMKeyAddList(t *testing.T, s store.Store) {
	if keys, err := s.DKIMKeys(ctx(t), "example.org"); err != nil || len(keys) != 0 {
		t.Fatalf("DKIMKeys of a domain without keys = %v, %v; want none, no error", keys, err)
	}
	// Keys need not belong to a local domain (the host name's parent
	// signs reports).
	want := []store.DKIMKey{dkimKey("example.org", "r202611", "rsa"), dkimKey("example.org", "e202611", "ed25519")}
	if err := s.AddDKIMKeys(ctx(t), want); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDKIMKeys(ctx(t), []store.DKIMKey{dkimKey("a.example", "s1", "rsa")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.DKIMKeys(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Selector != "e202611" || got[1].Selector != "r202611" {
		t.Fatalf("DKIMKeys(example.org) = %+v, want e202611 then r202611", got)
	}
	g := got[1]
	if g.Domain != "example.org" || g.Algorithm != "rsa" || g.PrivateKey != want[0].PrivateKey || !g.Created.Equal(t0) || !g.Active {
		t.Errorf("key read back = %+v, want %+v", g, want[0])
	}
	all, err := s.DKIMKeys(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Domain != "a.example" || all[1].Domain != "example.org" {
		t.Errorf("DKIMKeys(\"\") = %+v, want 3 sorted by domain", all)
	}
}

func testDKIMKeyDomainForms(t *testing.T, s store.Store) {
	if err := s.AddDKIMKeys(ctx(t), []store.DKIMKey{dkimKey("Пример.РФ", "e1", "ed25519")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"пример.рф", "XN--E1AFMKFD.XN--P1AI", "xn--e1afmkfd.xn--p1ai."} {
		got, err := s.DKIMKeys(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Domain != "xn--e1afmkfd.xn--p1ai" {
			t.Errorf("DKIMKeys(%q) = %+v, want the key under xn--e1afmkfd.xn--p1ai", name, got)
		}
	}
}

func testDKIMKeyDuplicateAddsNone(t *testing.T, s store.Store) {
	if err := s.AddDKIMKeys(ctx(t), []store.DKIMKey{dkimKey("example.org", "e1", "ed25519")}); err != nil {
		t.Fatal(err)
	}
	// A second batch with one taken selector stores nothing.
	err := s.AddDKIMKeys(ctx(t), []store.DKIMKey{dkimKey("example.org", "r1", "rsa"), dkimKey("EXAMPLE.org", "e1", "ed25519")})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("adding an existing selector: %v, want ErrExists", err)
	}
	got, err := s.DKIMKeys(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Selector != "e1" || got[0].PrivateKey != "v1:sealed-example.org-e1" {
		t.Errorf("after a refused batch: %+v, want only the first e1", got)
	}
}

func testDKIMKeyConcurrentAdd(t *testing.T, s store.Store) {
	// Two nodes making a domain's keys at once: one batch wins whole.
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k1, k2 := dkimKey("example.org", "e1", "ed25519"), dkimKey("example.org", "r1", "rsa")
			k1.PrivateKey += string(rune('a' + i))
			k2.PrivateKey += string(rune('a' + i))
			errs[i] = s.AddDKIMKeys(ctx(t), []store.DKIMKey{k1, k2})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("batches %d and %d both stored", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("batch %d: %v, want ErrExists", i, err)
		}
	}
	got, err := s.DKIMKeys(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if won < 0 || len(got) != 2 || got[0].PrivateKey[len(got[0].PrivateKey)-1] != got[1].PrivateKey[len(got[1].PrivateKey)-1] {
		t.Errorf("keys after concurrent adds (winner %d): %+v, want both of one batch", won, got)
	}
}

func testDKIMKeyInvalid(t *testing.T, s store.Store) {
	for name, k := range map[string]store.DKIMKey{
		"bad domain":     dkimKey("exa mple..org", "e1", "ed25519"),
		"empty selector": dkimKey("example.org", "", "ed25519"),
		"selector path":  dkimKey("example.org", "../e1", "ed25519"),
		"algorithm":      dkimKey("example.org", "e1", "dsa"),
		"no private key": {Domain: "example.org", Selector: "e1", Algorithm: "rsa", Created: t0, Active: true},
	} {
		if err := s.AddDKIMKeys(ctx(t), []store.DKIMKey{k}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if all, err := s.DKIMKeys(ctx(t), ""); err != nil || len(all) != 0 {
		t.Errorf("after refused keys: %+v, %v", all, err)
	}
}

func testDKIMKeyRetire(t *testing.T, s store.Store) {
	if err := s.AddDKIMKeys(ctx(t), []store.DKIMKey{dkimKey("example.org", "e1", "ed25519"), dkimKey("example.org", "e2", "ed25519")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDKIMKeyActive(ctx(t), "Example.ORG", "e1", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.DKIMKeys(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Active || !got[1].Active {
		t.Errorf("after retiring e1: %+v", got)
	}
	if err := s.SetDKIMKeyActive(ctx(t), "example.org", "e1", true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DKIMKeys(ctx(t), "example.org"); len(got) != 2 || !got[0].Active {
		t.Errorf("after reactivating e1: %+v", got)
	}
	if err := s.SetDKIMKeyActive(ctx(t), "example.org", "e9", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retiring an unknown key: %v, want ErrNotFound", err)
	}
}

const stsText = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n"

func testMTASTSPutGet(t *testing.T, s store.Store) {
	if _, err := s.MTASTSPolicy(ctx(t), "example.net"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("policy of an unknown domain: %v, want ErrNotFound", err)
	}
	p := store.MTASTSPolicy{Domain: "Example.NET", ID: "20260101", Policy: stsText, Fetched: t0, Expires: t0.Add(24 * time.Hour)}
	if err := s.PutMTASTSPolicy(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	got, err := s.MTASTSPolicy(ctx(t), "example.net.")
	if err != nil {
		t.Fatal(err)
	}
	if got.Domain != "example.net" || got.ID != p.ID || got.Policy != stsText || !got.Fetched.Equal(t0) || !got.Expires.Equal(p.Expires) {
		t.Errorf("policy read back = %+v, want %+v", got, p)
	}
}

func testMTASTSReplace(t *testing.T, s store.Store) {
	p := store.MTASTSPolicy{Domain: "example.net", ID: "1", Policy: stsText, Fetched: t0, Expires: t0.Add(time.Hour)}
	if err := s.PutMTASTSPolicy(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	p2 := store.MTASTSPolicy{Domain: "example.net", ID: "2", Policy: "version: STSv1\nmode: testing\nmx: *.example.net\nmax_age: 600\n",
		Fetched: t0.Add(time.Minute), Expires: t0.Add(11 * time.Minute)}
	if err := s.PutMTASTSPolicy(ctx(t), p2); err != nil {
		t.Fatal(err)
	}
	got, err := s.MTASTSPolicy(ctx(t), "example.net")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "2" || got.Policy != p2.Policy || !got.Fetched.Equal(p2.Fetched) || !got.Expires.Equal(p2.Expires) {
		t.Errorf("after replacing: %+v, want %+v", got, p2)
	}
}

func testMTASTSDeleteExpired(t *testing.T, s store.Store) {
	for i, d := range []string{"a.example", "b.example", "c.example"} {
		p := store.MTASTSPolicy{Domain: d, ID: "1", Policy: stsText, Fetched: t0, Expires: t0.Add(time.Duration(i+1) * time.Hour)}
		if err := s.PutMTASTSPolicy(ctx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteExpiredMTASTSPolicies(ctx(t), t0.Add(150*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	for d, want := range map[string]bool{"a.example": false, "b.example": false, "c.example": true} {
		_, err := s.MTASTSPolicy(ctx(t), d)
		if (err == nil) != want {
			t.Errorf("policy of %s after the clean-up: %v, want kept %v", d, err, want)
		}
	}
}

func testMTASTSInvalid(t *testing.T, s store.Store) {
	for name, p := range map[string]store.MTASTSPolicy{
		"bad domain": {Domain: "a..example", ID: "1", Policy: stsText},
		"no id":      {Domain: "a.example", Policy: stsText},
		"no text":    {Domain: "a.example", ID: "1"},
	} {
		if err := s.PutMTASTSPolicy(ctx(t), p); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
