package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// wantAlias checks an alias's address and targets (in any order) and that
// TargetAddresses follow Targets.
func wantAlias(t *testing.T, got store.Alias, address string, targets map[int64]string, what string) {
	t.Helper()
	if got.Address != address {
		t.Errorf("%s: Address = %q, want %q", what, got.Address, address)
	}
	if len(got.Targets) != len(targets) || len(got.TargetAddresses) != len(got.Targets) {
		t.Errorf("%s: Targets = %v, TargetAddresses = %q; want %v", what, got.Targets, got.TargetAddresses, targets)
		return
	}
	for i, id := range got.Targets {
		addr, ok := targets[id]
		if !ok {
			t.Errorf("%s: unexpected target %d", what, id)
			continue
		}
		if got.TargetAddresses[i] != addr {
			t.Errorf("%s: TargetAddresses[%d] = %q, want %q (target %d)", what, i, got.TargetAddresses[i], addr, id)
		}
	}
}

// wantIDs compares id lists as sets.
func wantIDs(t *testing.T, got, want []int64, what string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func testAliasOneTarget(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	al, err := s.CreateAlias(ctx(t), "Sales@Example.ORG", []int64{a.ID})
	if err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	wantAlias(t, al, "sales@example.org", map[int64]string{a.ID: "ivan@example.org"}, "CreateAlias")
	ids, err := s.ResolveAddress(ctx(t), "sales@example.org")
	if err != nil {
		t.Fatalf("ResolveAddress: %v", err)
	}
	wantIDs(t, ids, []int64{a.ID}, "ResolveAddress(sales)")
}

func testAliasSeveralTargets(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	c := mustAccount(t, s, "oleg@example.net")
	want := map[int64]string{a.ID: "ivan@example.org", b.ID: "maria@example.org", c.ID: "oleg@example.net"}
	al, err := s.CreateAlias(ctx(t), "team@example.org", []int64{c.ID, a.ID, b.ID})
	if err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	wantAlias(t, al, "team@example.org", want, "CreateAlias")
	ids, err := s.ResolveAddress(ctx(t), "team@example.org")
	if err != nil {
		t.Fatalf("ResolveAddress: %v", err)
	}
	wantIDs(t, ids, slices.Collect(maps.Keys(want)), "ResolveAddress(team)")
	as, err := s.Aliases(ctx(t), "example.org")
	if err != nil || len(as) != 1 {
		t.Fatalf("Aliases = %+v, %v; want one", as, err)
	}
	wantAlias(t, as[0], "team@example.org", want, "Aliases")
}

func testAliasOtherLocalDomain(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	mustDomain(t, s, "example.net")
	al, err := s.CreateAlias(ctx(t), "ivan@example.net", []int64{a.ID})
	if err != nil {
		t.Fatalf("CreateAlias in another local domain: %v", err)
	}
	wantAlias(t, al, "ivan@example.net", map[int64]string{a.ID: "ivan@example.org"}, "CreateAlias")
	ids, err := s.ResolveAddress(ctx(t), "ivan@example.net")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, ids, []int64{a.ID}, "ResolveAddress(ivan@example.net)")
	as, err := s.Aliases(ctx(t), "example.net")
	if err != nil || len(as) != 1 || as[0].Address != "ivan@example.net" {
		t.Errorf("Aliases(example.net) = %+v, %v", as, err)
	}
	as, err = s.Aliases(ctx(t), "example.org")
	if err != nil || len(as) != 0 {
		t.Errorf("Aliases(example.org) = %+v, %v; want none", as, err)
	}
}

func testAliasNonLocalDomain(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	_, err := s.CreateAlias(ctx(t), "ivan@elsewhere.example", []int64{a.ID})
	wantSomeErr(t, err, "CreateAlias in a non-local domain", store.ErrInvalid, store.ErrNotFound)
	_, err = s.ResolveAddress(ctx(t), "ivan@elsewhere.example")
	wantErr(t, err, store.ErrNotFound, "ResolveAddress of the refused alias")
	if _, err := s.Domain(ctx(t), "elsewhere.example"); err == nil {
		t.Error("CreateAlias made the domain")
	}
}

func testAliasUnknownTarget(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	_, err := s.CreateAlias(ctx(t), "ghost@example.org", []int64{a.ID + 1000})
	wantSomeErr(t, err, "CreateAlias to an unknown account", store.ErrNotFound, store.ErrInvalid)
	_, err = s.CreateAlias(ctx(t), "nobody@example.org", nil)
	wantErr(t, err, store.ErrInvalid, "CreateAlias without targets")
	_, err = s.CreateAlias(ctx(t), "not an address", []int64{a.ID})
	wantErr(t, err, store.ErrInvalid, "CreateAlias with a bad address")
	if as, err := s.Aliases(ctx(t), ""); err != nil || len(as) != 0 {
		t.Errorf("Aliases after refused creates = %+v, %v", as, err)
	}
}

func testAliasEqualsAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	for _, addr := range []string{"maria@example.org", "MARIA@example.org"} {
		_, err := s.CreateAlias(ctx(t), addr, []int64{a.ID})
		wantErr(t, err, store.ErrExists, "CreateAlias("+addr+") equal to an account")
	}
	ids, err := s.ResolveAddress(ctx(t), "maria@example.org")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, ids, []int64{b.ID}, "ResolveAddress(maria) after refused alias")

	// And the other way round: an account cannot take an alias's address.
	if _, err := s.CreateAlias(ctx(t), "sales@example.org", []int64{a.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateAccount(ctx(t), store.NewAccount{Address: "sales@example.org", PasswordHash: "x", Settings: store.DefaultSettings()})
	wantErr(t, err, store.ErrExists, "CreateAccount with an alias's address")
}

func testAliasDuplicate(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	if _, err := s.CreateAlias(ctx(t), "sales@example.org", []int64{a.ID}); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateAlias(ctx(t), "Sales@example.org", []int64{b.ID})
	wantErr(t, err, store.ErrExists, "CreateAlias of an existing alias")
	ids, err := s.ResolveAddress(ctx(t), "sales@example.org")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, ids, []int64{a.ID}, "ResolveAddress(sales) after refused duplicate")
}

func testAliasResolve(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	if _, err := s.CreateAlias(ctx(t), "info@example.org", []int64{a.ID, b.ID}); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string][]int64{
		"ivan@example.org":  {a.ID},
		"maria@example.org": {b.ID},
		"info@example.org":  {a.ID, b.ID},
	} {
		ids, err := s.ResolveAddress(ctx(t), addr)
		if err != nil {
			t.Errorf("ResolveAddress(%q): %v", addr, err)
			continue
		}
		wantIDs(t, ids, want, "ResolveAddress("+addr+")")
	}
	for _, addr := range []string{"nobody@example.org", "ivan@elsewhere.example", "ivan+tag@example.org"} {
		_, err := s.ResolveAddress(ctx(t), addr)
		wantErr(t, err, store.ErrNotFound, "ResolveAddress("+addr+")")
	}
}

func testAliasAliasesOf(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	c := mustAccount(t, s, "oleg@example.org")
	mustDomain(t, s, "example.net")
	for addr, targets := range map[string][]int64{
		"ivan.petrov@example.org": {a.ID},
		"ivan@example.net":        {a.ID},
		"team@example.org":        {a.ID, b.ID},
	} {
		if _, err := s.CreateAlias(ctx(t), addr, targets); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[int64][]string{
		a.ID: {"ivan.petrov@example.org", "ivan@example.net", "team@example.org"},
		b.ID: {"team@example.org"},
		c.ID: nil,
	} {
		got, err := s.AliasesOf(ctx(t), id)
		if err != nil {
			t.Errorf("AliasesOf(%d): %v", id, err)
			continue
		}
		g := slices.Clone(got)
		slices.Sort(g)
		if len(g) != len(want) || (len(want) > 0 && !slices.Equal(g, want)) {
			t.Errorf("AliasesOf(%d) = %q, want %q", id, got, want)
		}
	}
}

func testAliasList(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	mustDomain(t, s, "example.net")
	for _, addr := range []string{"b@example.org", "a@example.org", "c@example.net"} {
		if _, err := s.CreateAlias(ctx(t), addr, []int64{a.ID}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(domain string) []string {
		as, err := s.Aliases(ctx(t), domain)
		if err != nil {
			t.Fatalf("Aliases(%q): %v", domain, err)
		}
		var addrs []string
		for _, al := range as {
			addrs = append(addrs, al.Address)
			wantAlias(t, al, al.Address, map[int64]string{a.ID: "ivan@example.org"}, "Aliases("+domain+")")
		}
		slices.Sort(addrs)
		return addrs
	}
	if got := list("example.org"); !slices.Equal(got, []string{"a@example.org", "b@example.org"}) {
		t.Errorf("Aliases(example.org) = %q", got)
	}
	if got := list(""); !slices.Equal(got, []string{"a@example.org", "b@example.org", "c@example.net"}) {
		t.Errorf("Aliases(\"\") = %q", got)
	}
}

func testAliasDelete(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	for _, addr := range []string{"sales@example.org", "info@example.org"} {
		if _, err := s.CreateAlias(ctx(t), addr, []int64{a.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteAlias(ctx(t), "Sales@Example.org"); err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	_, err := s.ResolveAddress(ctx(t), "sales@example.org")
	wantErr(t, err, store.ErrNotFound, "ResolveAddress after DeleteAlias")
	err = s.DeleteAlias(ctx(t), "sales@example.org")
	wantErr(t, err, store.ErrNotFound, "DeleteAlias twice")
	err = s.DeleteAlias(ctx(t), "ivan@example.org")
	wantErr(t, err, store.ErrNotFound, "DeleteAlias of an account address")
	if _, err := s.Account(ctx(t), a.ID); err != nil {
		t.Errorf("DeleteAlias removed the account: %v", err)
	}
	if got, err := s.AliasesOf(ctx(t), a.ID); err != nil || !slices.Equal(got, []string{"info@example.org"}) {
		t.Errorf("AliasesOf = %q, %v; want [info@example.org]", got, err)
	}
}

// ---------------------------------------------------------------------------
// App passwords.

func testAppPasswordCreateList(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	p1, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "Thunderbird", Hash: "h1", Protocols: []string{"imap", "smtp"}})
	if err != nil {
		t.Fatalf("CreateAppPassword: %v", err)
	}
	p2, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "Телефон", Hash: "h2"})
	if err != nil {
		t.Fatalf("CreateAppPassword: %v", err)
	}
	if p1.ID <= 0 || p2.ID <= 0 || p1.ID == p2.ID {
		t.Errorf("ids %d, %d: want positive and distinct", p1.ID, p2.ID)
	}
	if p1.CreatedAt.IsZero() {
		t.Error("CreatedAt is zero")
	}
	if !p1.LastUsed.IsZero() {
		t.Errorf("new password LastUsed = %v, want zero", p1.LastUsed)
	}
	ps, err := s.AppPasswords(ctx(t), a.ID)
	if err != nil {
		t.Fatalf("AppPasswords: %v", err)
	}
	if len(ps) != 2 {
		t.Fatalf("AppPasswords = %+v, want 2", ps)
	}
	byID := map[int64]store.AppPassword{}
	for _, p := range ps {
		byID[p.ID] = p
	}
	g1, g2 := byID[p1.ID], byID[p2.ID]
	if g1.Name != "Thunderbird" || g1.Hash != "h1" || g1.AccountID != a.ID || !slices.Equal(g1.Protocols, []string{"imap", "smtp"}) {
		t.Errorf("listed p1 = %+v", g1)
	}
	if g2.Name != "Телефон" || g2.Hash != "h2" || g2.AccountID != a.ID || len(g2.Protocols) != 0 {
		t.Errorf("listed p2 = %+v", g2)
	}
	if !g1.LastUsed.IsZero() {
		t.Errorf("listed LastUsed = %v, want zero", g1.LastUsed)
	}
	if ps, err := s.AppPasswords(ctx(t), b.ID); err != nil || len(ps) != 0 {
		t.Errorf("other account's AppPasswords = %+v, %v; want none", ps, err)
	}
}

func testAppPasswordDelete(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	p1, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "one", Hash: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "two", Hash: "h2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAppPassword(ctx(t), a.ID, p1.ID); err != nil {
		t.Fatalf("DeleteAppPassword: %v", err)
	}
	ps, err := s.AppPasswords(ctx(t), a.ID)
	if err != nil || len(ps) != 1 || ps[0].ID != p2.ID {
		t.Errorf("AppPasswords after delete = %+v, %v; want only %d", ps, err, p2.ID)
	}
	err = s.DeleteAppPassword(ctx(t), a.ID, p1.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteAppPassword twice")
}

func testAppPasswordDeleteOtherAccount(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	p, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "one", Hash: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.DeleteAppPassword(ctx(t), b.ID, p.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteAppPassword of another account's password")
	ps, err := s.AppPasswords(ctx(t), a.ID)
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
		t.Errorf("AppPasswords after refused delete = %+v, %v", ps, err)
	}
}

func testAppPasswordTouch(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	p, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "one", Hash: "h1", Protocols: []string{"pop3"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateAppPassword(ctx(t), store.AppPassword{AccountID: a.ID, Name: "two", Hash: "h2"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 12, 34, 56, 0, time.UTC)
	if err := s.TouchAppPassword(ctx(t), p.ID, at); err != nil {
		t.Fatalf("TouchAppPassword: %v", err)
	}
	ps, err := s.AppPasswords(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ps {
		switch q.ID {
		case p.ID:
			if !sameSecond(q.LastUsed, at) {
				t.Errorf("LastUsed = %v, want %v", q.LastUsed, at)
			}
			if !slices.Equal(q.Protocols, []string{"pop3"}) || q.Hash != "h1" {
				t.Errorf("Touch changed other fields: %+v", q)
			}
		case other.ID:
			if !q.LastUsed.IsZero() {
				t.Errorf("untouched password LastUsed = %v", q.LastUsed)
			}
		}
	}
	later := at.Add(time.Hour)
	if err := s.TouchAppPassword(ctx(t), p.ID, later); err != nil {
		t.Fatal(err)
	}
	ps, _ = s.AppPasswords(ctx(t), a.ID)
	for _, q := range ps {
		if q.ID == p.ID && !sameSecond(q.LastUsed, later) {
			t.Errorf("LastUsed after second touch = %v, want %v", q.LastUsed, later)
		}
	}
	err = s.TouchAppPassword(ctx(t), other.ID+1000, at)
	wantErr(t, err, store.ErrNotFound, "TouchAppPassword(unknown id)")
}
