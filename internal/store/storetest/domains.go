package storetest

import (
	"slices"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func domainNames(t *testing.T, s store.Store) []string {
	t.Helper()
	ds, err := s.Domains(ctx(t))
	if err != nil {
		t.Fatalf("Domains: %v", err)
	}
	names := []string{}
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return names
}

func testDomainCreateLowercase(t *testing.T, s store.Store) {
	d, err := s.CreateDomain(ctx(t), "Example.ORG")
	if err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	if d.Name != "example.org" {
		t.Errorf("CreateDomain(Example.ORG).Name = %q, want example.org", d.Name)
	}
	if d.CreatedAt.IsZero() {
		t.Error("CreatedAt is zero")
	}
	for _, name := range []string{"example.org", "EXAMPLE.ORG", "eXaMpLe.OrG"} {
		got, err := s.Domain(ctx(t), name)
		if err != nil {
			t.Errorf("Domain(%q): %v", name, err)
			continue
		}
		if got.Name != "example.org" {
			t.Errorf("Domain(%q).Name = %q, want example.org", name, got.Name)
		}
	}
}

// The doc comment of CreateDomain says "IDNA ASCII form", store's
// CanonicalDomain keeps UTF-8: either form is accepted here, as long as the
// domain is found again in any case.
func testDomainCreateInternational(t *testing.T, s store.Store) {
	d, err := s.CreateDomain(ctx(t), "Пример.РФ")
	if err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	if d.Name != "пример.рф" && d.Name != "xn--e1afmkfd.xn--p1ai" {
		t.Errorf("Name = %q, want пример.рф or xn--e1afmkfd.xn--p1ai", d.Name)
	}
	got, err := s.Domain(ctx(t), "ПРИМЕР.РФ")
	if err != nil {
		t.Fatalf("Domain(ПРИМЕР.РФ): %v", err)
	}
	if got.Name != d.Name {
		t.Errorf("Domain(ПРИМЕР.РФ).Name = %q, want %q", got.Name, d.Name)
	}
	_, err = s.CreateDomain(ctx(t), "пример.рф")
	wantErr(t, err, store.ErrExists, "CreateDomain(пример.рф) again")
}

func testDomainCreateInvalid(t *testing.T, s store.Store) {
	for _, name := range []string{"", "bad domain", "-x.example", "a..example", "semi;colon.example"} {
		_, err := s.CreateDomain(ctx(t), name)
		wantErr(t, err, store.ErrInvalid, "CreateDomain("+name+")")
	}
	if names := domainNames(t, s); len(names) != 0 {
		t.Errorf("Domains after refused creates = %q, want none", names)
	}
}

func testDomainDuplicate(t *testing.T, s store.Store) {
	mustDomain(t, s, "example.org")
	for _, name := range []string{"example.org", "EXAMPLE.ORG", "example.org."} {
		_, err := s.CreateDomain(ctx(t), name)
		wantErr(t, err, store.ErrExists, "CreateDomain("+name+") again")
	}
	if names := domainNames(t, s); !slices.Equal(names, []string{"example.org"}) {
		t.Errorf("Domains = %q, want [example.org]", names)
	}
}

func testDomainListSorted(t *testing.T, s store.Store) {
	if names := domainNames(t, s); len(names) != 0 {
		t.Fatalf("new store has domains %q", names)
	}
	for _, name := range []string{"zeta.net", "Alpha.org", "mid.com", "alpha.com"} {
		mustDomain(t, s, name)
	}
	want := []string{"alpha.com", "alpha.org", "mid.com", "zeta.net"}
	if names := domainNames(t, s); !slices.Equal(names, want) {
		t.Errorf("Domains = %q, want %q", names, want)
	}
}

func testDomainNotFound(t *testing.T, s store.Store) {
	mustDomain(t, s, "example.org")
	_, err := s.Domain(ctx(t), "nowhere.example")
	wantErr(t, err, store.ErrNotFound, "Domain(nowhere.example)")
	err = s.DeleteDomain(ctx(t), "nowhere.example")
	wantErr(t, err, store.ErrNotFound, "DeleteDomain(nowhere.example)")
	err = s.UpdateDomain(ctx(t), store.Domain{Name: "nowhere.example"})
	wantErr(t, err, store.ErrNotFound, "UpdateDomain(nowhere.example)")
}

func testDomainDelete(t *testing.T, s store.Store) {
	mustDomain(t, s, "example.org")
	mustDomain(t, s, "example.net")
	if err := s.DeleteDomain(ctx(t), "EXAMPLE.org"); err != nil {
		t.Fatalf("DeleteDomain(EXAMPLE.org): %v", err)
	}
	_, err := s.Domain(ctx(t), "example.org")
	wantErr(t, err, store.ErrNotFound, "Domain after delete")
	if names := domainNames(t, s); !slices.Equal(names, []string{"example.net"}) {
		t.Errorf("Domains = %q, want [example.net]", names)
	}
	err = s.DeleteDomain(ctx(t), "example.org")
	wantErr(t, err, store.ErrNotFound, "DeleteDomain twice")
	// The name is free again.
	if _, err := s.CreateDomain(ctx(t), "example.org"); err != nil {
		t.Errorf("CreateDomain after delete: %v", err)
	}
}

func testDomainDeleteWithAccounts(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	err := s.DeleteDomain(ctx(t), "example.org")
	wantErr(t, err, store.ErrInvalid, "DeleteDomain with an account")
	if _, err := s.Domain(ctx(t), "example.org"); err != nil {
		t.Fatalf("domain gone after refused delete: %v", err)
	}
	if _, err := s.Account(ctx(t), a.ID); err != nil {
		t.Fatalf("account gone after refused domain delete: %v", err)
	}
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if err := s.DeleteDomain(ctx(t), "example.org"); err != nil {
		t.Errorf("DeleteDomain without accounts: %v", err)
	}
}

func testDomainDeleteWithAliases(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	mustDomain(t, s, "example.net")
	if _, err := s.CreateAlias(ctx(t), "ivan@example.net", []int64{a.ID}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	err := s.DeleteDomain(ctx(t), "example.net")
	wantErr(t, err, store.ErrInvalid, "DeleteDomain with an alias")
	if ids, err := s.ResolveAddress(ctx(t), "ivan@example.net"); err != nil || !slices.Equal(ids, []int64{a.ID}) {
		t.Errorf("alias after refused domain delete: %v, %v", ids, err)
	}
	if err := s.DeleteAlias(ctx(t), "ivan@example.net"); err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	if err := s.DeleteDomain(ctx(t), "example.net"); err != nil {
		t.Errorf("DeleteDomain without aliases: %v", err)
	}
}

func testDomainCatchAll(t *testing.T, s store.Store) {
	mustAccount(t, s, "postmaster@example.org")
	d, err := s.Domain(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if d.CatchAll != "" {
		t.Errorf("new domain CatchAll = %q, want empty", d.CatchAll)
	}
	d.CatchAll = "postmaster@example.org"
	if err := s.UpdateDomain(ctx(t), d); err != nil {
		t.Fatalf("UpdateDomain: %v", err)
	}
	got, err := s.Domain(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got.CatchAll != "postmaster@example.org" {
		t.Errorf("CatchAll = %q, want postmaster@example.org", got.CatchAll)
	}
	if !sameSecond(got.CreatedAt, d.CreatedAt) {
		t.Errorf("UpdateDomain changed CreatedAt: %v → %v", d.CreatedAt, got.CreatedAt)
	}
	ds, err := s.Domains(ctx(t))
	if err != nil || len(ds) != 1 || ds[0].CatchAll != "postmaster@example.org" {
		t.Errorf("Domains = %+v, %v; want one with the catch-all", ds, err)
	}
	got.CatchAll = ""
	if err := s.UpdateDomain(ctx(t), got); err != nil {
		t.Fatalf("UpdateDomain clearing catch-all: %v", err)
	}
	got, err = s.Domain(ctx(t), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got.CatchAll != "" {
		t.Errorf("CatchAll after clearing = %q, want empty", got.CatchAll)
	}
}
