package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/config"
)

func TestForwardingForm(t *testing.T) {
	s := newSite(t, testListeners())
	b := s.browser()
	b.login("alice")
	_, _, body := b.get("/account")
	wantContains(t, body, `id="forward-form"`, `name="forward" value=""`)
	// Without the token nothing changes.
	if code, _, _ := b.post("/account/forward", url.Values{"csrf": {"forged"}, "forward": {"x@elsewhere.example"}}); code != http.StatusForbidden {
		t.Errorf("forged token: %d", code)
	}
	code, loc, _ := b.post("/account/forward", url.Values{"forward": {"Bob@Example.org, far@elsewhere.example"}, "keep": {"on"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/account?m=fwd") {
		t.Fatalf("save: %d %q", code, loc)
	}
	st := s.account("alice").Settings
	if !slices.Equal(st.Forward, []string{"bob@example.org", "far@elsewhere.example"}) || !st.ForwardKeep {
		t.Fatalf("saved: %+v", st)
	}
	_, _, body = b.get(loc)
	wantContains(t, body, "Forwarding saved.", `value="bob@example.org, far@elsewhere.example"`, `name="keep" checked`)
	// A bad address is refused with the reason, the form keeps the text.
	code, _, body = b.post("/account/forward", url.Values{"forward": {"alice@example.org"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "the account itself") || !strings.Contains(body, `value="alice@example.org"`) {
		t.Errorf("forward to itself: %d\n%s", code, body)
	}
	// Empty stops forwarding.
	b.post("/account/forward", url.Values{"forward": {""}})
	if st := s.account("alice").Settings; st.Forward != nil || st.ForwardKeep {
		t.Errorf("after clearing: %+v", st)
	}
	if bs := s.account("bob").Settings; bs.Forward != nil {
		t.Errorf("bob's forwarding changed: %+v", bs)
	}
}

func TestSelfServiceAliases(t *testing.T) {
	s := newSite(t, testListeners())
	ctx := context.Background()
	if _, err := s.st.CreateAlias(ctx, "team@example.org", []int64{s.ids["alice"], s.ids["bob"]}); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.login("alice")
	// Off (the default): a read-only list, and the form targets refuse.
	_, _, body := b.get("/account")
	wantContains(t, body, "team@example.org", "Only the administrator can change them.")
	if strings.Contains(body, `id="alias-form"`) {
		t.Error("alias form shown while self-service is off")
	}
	if code, _, _ := b.post("/account/aliases", url.Values{"local": {"me"}}); code != http.StatusForbidden {
		t.Errorf("add while off: %d", code)
	}
	s = newSiteWith(t, testListeners(), func(c *config.Config) { c.Web.SelfServiceAliases, c.Web.MaxSelfServiceAliases = true, 3 })
	if _, err := s.st.CreateAlias(ctx, "team@example.org", []int64{s.ids["alice"], s.ids["bob"]}); err != nil {
		t.Fatal(err)
	}
	b = s.browser()
	b.login("alice")
	_, _, body = b.get("/account")
	wantContains(t, body, `id="alias-form"`, "up to 3 other addresses")
	if code, _, _ := b.post("/account/aliases", url.Values{"local": {"al"}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("forged token: %d", code)
	}
	code, loc, _ := b.post("/account/aliases", url.Values{"local": {"Al"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/account?m=aliasadded") {
		t.Fatalf("add: %d %q", code, loc)
	}
	if ids, err := s.st.ResolveAddress(ctx, "al@example.org"); err != nil || len(ids) != 1 || ids[0] != s.ids["alice"] {
		t.Fatalf("al@example.org resolves to %v, %v", ids, err)
	}
	for _, bad := range []string{"bob", "postmaster", "al", "x@other.example", ""} {
		if code, _, _ := b.post("/account/aliases", url.Values{"local": {bad}}); code != http.StatusBadRequest {
			t.Errorf("alias %q: %d, want 400", bad, code)
		}
	}
	// The limit counts every address (team, al, one more = 3).
	if code, _, _ := b.post("/account/aliases", url.Values{"local": {"al2"}}); code != http.StatusSeeOther {
		t.Fatalf("third alias: %d", code)
	}
	code, _, body = b.post("/account/aliases", url.Values{"local": {"al3"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "as many other addresses as allowed") {
		t.Errorf("over the limit: %d", code)
	}
	// Only an alias of alice alone can be deleted by her.
	if code, _, _ := b.post("/account/aliases/delete", url.Values{"alias": {"team@example.org"}}); code != http.StatusNotFound {
		t.Errorf("delete a shared alias: %d", code)
	}
	if code, _, _ := b.post("/account/aliases/delete", url.Values{"alias": {"al@example.org"}}); code != http.StatusSeeOther {
		t.Errorf("delete own alias: %d", code)
	}
	if _, err := s.st.ResolveAddress(ctx, "al@example.org"); err == nil {
		t.Error("al@example.org still resolves")
	}
	// Bob cannot delete alice's alias.
	bob := s.browser()
	bob.login("bob")
	if code, _, _ := bob.post("/account/aliases/delete", url.Values{"alias": {"al2@example.org"}}); code != http.StatusNotFound {
		t.Errorf("bob deletes alice's alias: %d", code)
	}
}
