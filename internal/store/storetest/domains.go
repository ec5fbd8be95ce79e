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

// testDomainCreateInternational checks IDNA: a domain given in Unicode is
// stored in its A-label form (store.CanonicalDomain), and the Unicode and
// A-label forms name the same domain, account and alias.
func testDomainCreateInternational(t *testing.T, s store.Store) {
	d, err := s.CreateDomain(ctx(t), "Пример.РФ")
	if err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	if d.Name != "xn--e1afmkfd.xn--p1ai" {
		t.Errorf("Name = %q, want xn--e1afmkfd.xn--p1ai", d.Name)
	}
	for _, name := range []string{"ПРИМЕР.РФ", "пример.рф", "xn--e1afmkfd.xn--p1ai", "XN--E1AFMKFD.XN--P1AI", "пример.xn--p1ai"} {
		got, err := s.Domain(ctx(t), name)
		if err != nil {
			t.Errorf("Domain(%s): %v", name, err)
			continue
		}
		if got.Name != d.Name {
			t.Errorf("Domain(%s).Name = %q, want %q", name, got.Name, d.Name)
		}
	}
	for _, name := range []string{"пример.рф", "xn--e1afmkfd.xn--p1ai"} {
		_, err = s.CreateDomain(ctx(t), name)
		wantErr(t, err, store.ErrExists, "CreateDomain("+name+") again")
	}
	if names := domainNames(t, s); !slices.Equal(names, []string{"xn--e1afmkfd.xn--p1ai"}) {
		t.Errorf("Domains = %q, want one, in A-label form", names)
	}

	a := mustAccount(t, s, "Почта@пример.рф")
	if a.Address != "почта@xn--e1afmkfd.xn--p1ai" || a.Domain != "xn--e1afmkfd.xn--p1ai" {
		t.Errorf("account = %q in %q, want почта@xn--e1afmkfd.xn--p1ai", a.Address, a.Domain)
	}
	b := mustAccount(t, s, "info@XN--E1AFMKFD.xn--p1ai")
	for addr, id := range map[string]int64{
		"почта@пример.рф": a.ID, "ПОЧТА@xn--e1afmkfd.xn--p1ai": a.ID,
		"info@пример.рф": b.ID, "info@xn--e1afmkfd.xn--p1ai": b.ID,
	} {
		wantAccount(t, s, addr, id)
	}
	if _, err := s.CreateAlias(ctx(t), "отдел@xn--e1afmkfd.xn--p1ai", []int64{a.ID}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	_, err = s.CreateAlias(ctx(t), "отдел@пример.рф", []int64{b.ID})
	wantErr(t, err, store.ErrExists, "the same alias in the Unicode form")
	for _, addr := range []string{"отдел@пример.рф", "ОТДЕЛ@xn--e1afmkfd.xn--p1ai"} {
		ids, err := s.ResolveAddress(ctx(t), addr)
		if err != nil {
			t.Errorf("ResolveAddress(%s): %v", addr, err)
			continue
		}
		wantIDs(t, ids, []int64{a.ID}, "ResolveAddress("+addr+")")
	}
	if as, err := s.Accounts(ctx(t), "пример.рф"); err != nil || len(as) != 2 {
		t.Errorf("Accounts(пример.рф) = %d accounts, %v; want 2", len(as), err)
	}
}

func testDomainCreateInvalid(t *testing.T, s store.Store) {
	for _, name := range []string{"", "bad domain", "-x.example", "a..example", "semi;colon.example", "xn--abc.example", "-пример.рф"} {
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

// setCaseSensitive changes a domain's LocalPartCaseSensitive.
func setCaseSensitive(t *testing.T, s store.Store, name string, on bool) error {
	t.Helper()
	d, err := s.Domain(ctx(t), name)
	if err != nil {
		t.Fatalf("Domain(%s): %v", name, err)
	}
	d.LocalPartCaseSensitive = on
	return s.UpdateDomain(ctx(t), d)
}

// wantAccount checks that AccountByAddress(addr) finds the account id, or
// ErrNotFound when id is 0.
func wantAccount(t *testing.T, s store.Store, addr string, id int64) {
	t.Helper()
	a, err := s.AccountByAddress(ctx(t), addr)
	if id == 0 {
		wantErr(t, err, store.ErrNotFound, "AccountByAddress("+addr+")")
		return
	}
	if err != nil || a.ID != id {
		t.Errorf("AccountByAddress(%q) = %d %q, %v; want account %d", addr, a.ID, a.Address, err, id)
	}
}

// testDomainCaseSensitive checks a domain whose local parts are
// case-sensitive: User@ and user@ are two addresses, for accounts, aliases
// and ResolveAddress, while other domains stay case-insensitive.
func testDomainCaseSensitive(t *testing.T, s store.Store) {
	mustDomain(t, s, "cs.example")
	other := mustAccount(t, s, "ivan@example.org")
	d, err := s.Domain(ctx(t), "cs.example")
	if err != nil {
		t.Fatal(err)
	}
	if d.LocalPartCaseSensitive {
		t.Fatal("a new domain is case-sensitive")
	}
	if err := setCaseSensitive(t, s, "CS.example", true); err != nil {
		t.Fatalf("UpdateDomain: %v", err)
	}
	if d, err := s.Domain(ctx(t), "cs.example"); err != nil || !d.LocalPartCaseSensitive {
		t.Fatalf("Domain after UpdateDomain = %+v, %v; want case-sensitive", d, err)
	}
	ds, err := s.Domains(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if want := d.Name == "cs.example"; d.LocalPartCaseSensitive != want {
			t.Errorf("Domains: %s case-sensitive = %v, want %v", d.Name, d.LocalPartCaseSensitive, want)
		}
	}

	upper := mustAccount(t, s, "Anna@CS.example")
	if upper.Address != "Anna@cs.example" {
		t.Errorf("account address = %q, want Anna@cs.example (local part kept, domain lowercase)", upper.Address)
	}
	lower := mustAccount(t, s, "anna@cs.example")
	if lower.ID == upper.ID || lower.Address != "anna@cs.example" {
		t.Fatalf("anna@ = %d %q, Anna@ = %d: want two accounts", lower.ID, lower.Address, upper.ID)
	}
	_, err = s.CreateAccount(ctx(t), store.NewAccount{Address: "Anna@cs.example", Settings: store.DefaultSettings()})
	wantErr(t, err, store.ErrExists, "CreateAccount(Anna@cs.example) again")
	wantAccount(t, s, "Anna@cs.example", upper.ID)
	wantAccount(t, s, "Anna@CS.EXAMPLE", upper.ID)
	wantAccount(t, s, "anna@cs.example", lower.ID)
	wantAccount(t, s, "ANNA@cs.example", 0)
	// Other domains are not affected.
	wantAccount(t, s, "IVAN@example.org", other.ID)

	al, err := s.CreateAlias(ctx(t), "Sales@cs.example", []int64{upper.ID})
	if err != nil || al.Address != "Sales@cs.example" {
		t.Fatalf("CreateAlias(Sales@cs.example) = %+v, %v", al, err)
	}
	if _, err := s.CreateAlias(ctx(t), "sales@cs.example", []int64{lower.ID}); err != nil {
		t.Fatalf("CreateAlias(sales@cs.example) beside Sales@: %v", err)
	}
	_, err = s.CreateAlias(ctx(t), "anna@cs.example", []int64{upper.ID})
	wantErr(t, err, store.ErrExists, "CreateAlias over the account anna@cs.example")
	for addr, want := range map[string][]int64{
		"Anna@cs.example": {upper.ID}, "anna@cs.example": {lower.ID},
		"Sales@cs.example": {upper.ID}, "sales@cs.example": {lower.ID},
		"IVAN@example.org": {other.ID},
	} {
		ids, err := s.ResolveAddress(ctx(t), addr)
		if err != nil {
			t.Errorf("ResolveAddress(%q): %v", addr, err)
			continue
		}
		wantIDs(t, ids, want, "ResolveAddress("+addr+")")
	}
	for _, addr := range []string{"ANNA@cs.example", "SALES@cs.example", "aNNa@cs.example"} {
		_, err := s.ResolveAddress(ctx(t), addr)
		wantErr(t, err, store.ErrNotFound, "ResolveAddress("+addr+")")
	}
	wantErr(t, s.DeleteAlias(ctx(t), "SALES@cs.example"), store.ErrNotFound, "DeleteAlias(SALES@cs.example)")
	if err := s.DeleteAlias(ctx(t), "Sales@cs.example"); err != nil {
		t.Fatalf("DeleteAlias(Sales@cs.example): %v", err)
	}
	if ids, err := s.ResolveAddress(ctx(t), "sales@cs.example"); err != nil || !slices.Equal(ids, []int64{lower.ID}) {
		t.Errorf("sales@ after deleting Sales@ = %v, %v; want [%d]", ids, err, lower.ID)
	}
}

// testDomainCaseInsensitiveAgain checks turning case sensitivity off: it
// is refused while two addresses differ only in case, and otherwise makes
// the stored addresses lowercase and found in any case.
func testDomainCaseInsensitiveAgain(t *testing.T, s store.Store) {
	mustDomain(t, s, "cs.example")
	if err := setCaseSensitive(t, s, "cs.example", true); err != nil {
		t.Fatal(err)
	}
	upper := mustAccount(t, s, "Anna@cs.example")
	lower := mustAccount(t, s, "anna@cs.example")
	if _, err := s.CreateAlias(ctx(t), "Team@cs.example", []int64{upper.ID, lower.ID}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, setCaseSensitive(t, s, "cs.example", false), store.ErrExists, "case-insensitive with Anna@ and anna@")
	if d, _ := s.Domain(ctx(t), "cs.example"); !d.LocalPartCaseSensitive {
		t.Error("the refused change was saved")
	}
	wantAccount(t, s, "Anna@cs.example", upper.ID)

	if err := s.DeleteAccount(ctx(t), lower.ID); err != nil {
		t.Fatal(err)
	}
	if err := setCaseSensitive(t, s, "cs.example", false); err != nil {
		t.Fatalf("case-insensitive with only Anna@: %v", err)
	}
	got, err := s.Account(ctx(t), upper.ID)
	if err != nil || got.Address != "anna@cs.example" {
		t.Errorf("account after the change = %q, %v; want anna@cs.example", got.Address, err)
	}
	for _, addr := range []string{"anna@cs.example", "ANNA@cs.example", "Anna@cs.example"} {
		wantAccount(t, s, addr, upper.ID)
	}
	for _, addr := range []string{"team@cs.example", "TEAM@cs.example"} {
		ids, err := s.ResolveAddress(ctx(t), addr)
		if err != nil {
			t.Errorf("ResolveAddress(%q): %v", addr, err)
			continue
		}
		wantIDs(t, ids, []int64{upper.ID}, "ResolveAddress("+addr+")")
	}
	if as, err := s.AliasesOf(ctx(t), upper.ID); err != nil || !slices.Equal(as, []string{"team@cs.example"}) {
		t.Errorf("AliasesOf = %q, %v; want [team@cs.example]", as, err)
	}
	// New accounts are stored lowercase again.
	if a := mustAccount(t, s, "Boris@cs.example"); a.Address != "boris@cs.example" {
		t.Errorf("new account in the case-insensitive domain = %q, want boris@cs.example", a.Address)
	}
}
