package delivery

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func TestParseAddress(t *testing.T) {
	good := []struct{ in, local, domain, str string }{
		{"anna@example.org", "anna", "example.org", "anna@example.org"},
		{"Anna.B+tag@Example.ORG.", "Anna.B+tag", "example.org", "Anna.B+tag@example.org"},
		{`"john doe"@example.org`, "john doe", "example.org", `"john doe"@example.org`},
		{`"a\"b"@example.org`, `a"b`, "example.org", `"a\"b"@example.org`},
		{"пользователь@пример.рф", "пользователь", "xn--e1afmkfd.xn--p1ai", "пользователь@xn--e1afmkfd.xn--p1ai"},
		{"user@Пример.РФ", "user", "xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai"},
		{"user@XN--E1AFMKFD.xn--p1ai", "user", "xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai"},
		{"x@[192.0.2.1]", "x", "[192.0.2.1]", "x@[192.0.2.1]"},
	}
	for _, g := range good {
		a, err := ParseAddress(g.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", g.in, err)
			continue
		}
		if a.Local != g.local || a.Domain != g.domain || a.String() != g.str {
			t.Errorf("ParseAddress(%q) = %+v (%s)", g.in, a, a)
		}
	}
	for in, ascii := range map[string]bool{"user@пример.рф": false, "user@xn--e1afmkfd.xn--p1ai": true,
		"почта@xn--e1afmkfd.xn--p1ai": false, "anna@example.org": true} {
		if a, err := ParseAddress(in); err != nil || a.IsASCII() != ascii {
			t.Errorf("ParseAddress(%q).IsASCII() = %v, %v; want %v (SMTPUTF8 needed as written)", in, a.IsASCII(), err, ascii)
		}
	}
	bad := []string{"", "anna", "@example.org", "anna@", "a..b@example.org", "a@xn--abc.example", ".a@example.org", "a b@example.org",
		`"unterminated@example.org`, "anna@exa mple.org", "anna@-bad.org", "a@[1.2.3.4", "a@b@c", "a\x00@example.org",
		strings.Repeat("a", 65) + "@example.org", "\xff@example.org"}
	for _, b := range bad {
		if a, err := ParseAddress(b); err == nil {
			t.Errorf("ParseAddress(%q) = %+v, want error", b, a)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"anna@example.org", `"x y"@example.org`, "a+b@[1.2.3.4]", "пользователь@пример.рф", `"\""@x`,
		"a@xn--e1afmkfd.xn--p1ai", "a@BÜCHER.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		// The printed form parses back to the same address (with the
		// domain in A-labels, it may need SMTPUTF8 less than s did).
		b, err := ParseAddress(a.String())
		if err != nil || a.Local != b.Local || a.Domain != b.Domain || (a.IsASCII() && !b.IsASCII()) {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, a, a.String(), b, err)
		}
		if !a.IsLiteral() && !isASCII(a.Domain) {
			t.Fatalf("domain of %q not in A-labels: %q", s, a.Domain)
		}
		if isASCII(s) != a.IsASCII() {
			t.Fatalf("%q: IsASCII = %v", s, a.IsASCII())
		}
		if strings.ContainsAny(a.String(), "\r\n") {
			t.Fatalf("line break in %q", a.String())
		}
		if c, err := a.Canonical(); err == nil && c != strings.ToLower(c) {
			t.Fatalf("canonical %q not lowercase", c)
		}
	})
}

func TestStripPlus(t *testing.T) {
	for _, c := range []struct {
		in, seps, out string
		ok            bool
	}{
		{"anna+tag", "+", "anna", true},
		{"anna-tag+x", "+-", "anna", true},
		{"+tag", "+", "+tag", false},
		{"anna", "+", "anna", false},
		{"anna+tag", "", "anna+tag", false},
	} {
		out, ok := StripPlus(c.in, c.seps)
		if out != c.out || ok != c.ok {
			t.Errorf("StripPlus(%q, %q) = %q, %v", c.in, c.seps, out, ok)
		}
	}
}

// testStore opens a SQLite store with domain example.org, accounts anna and
// boris, alias team → both, and other.example with a catch-all to boris.
func testStore(t *testing.T) (store.Store, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ids := map[string]int64{}
	for _, d := range []string{"example.org", "other.example"} {
		if _, err := st.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"anna@example.org", "boris@example.org"} {
		acct, err := st.CreateAccount(ctx, store.NewAccount{Address: a, PasswordHash: "x", Settings: store.DefaultSettings()})
		if err != nil {
			t.Fatal(err)
		}
		ids[a] = acct.ID
	}
	if _, err := st.CreateAlias(ctx, "team@example.org", []int64{ids["anna@example.org"], ids["boris@example.org"]}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateDomain(ctx, store.Domain{Name: "other.example", CatchAll: "boris@example.org"}); err != nil {
		t.Fatal(err)
	}
	return st, ids
}

func TestResolve(t *testing.T) {
	st, ids := testStore(t)
	r := &Resolver{Store: st, PlusSeparators: "+"}
	ctx := context.Background()
	anna, boris := ids["anna@example.org"], ids["boris@example.org"]
	cases := []struct {
		addr string
		want []int64
		err  error
	}{
		{"anna@example.org", []int64{anna}, nil},
		{"ANNA@Example.Org", []int64{anna}, nil},
		{"anna+news@example.org", []int64{anna}, nil},
		{"team@example.org", []int64{anna, boris}, nil},
		{"team+x@example.org", []int64{anna, boris}, nil},
		{"whoever@other.example", []int64{boris}, nil},
		{"nobody@example.org", nil, ErrUnknownUser},
		{`"odd one"@example.org`, nil, ErrUnknownUser},
		{"x@elsewhere.example", nil, ErrNotLocal},
		{"x@[127.0.0.1]", nil, ErrNotLocal},
	}
	for _, c := range cases {
		a, err := ParseAddress(c.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Resolve(ctx, a)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err %v, want %v", c.addr, err, c.err)
			}
			continue
		}
		if err != nil || len(got.Accounts) != len(c.want) {
			t.Errorf("%s: %+v, %v; want %v", c.addr, got, err, c.want)
			continue
		}
		for i := range c.want {
			if got.Accounts[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.addr, got.Accounts, c.want)
			}
		}
	}
	// Without separators, plus addresses are unknown.
	r.PlusSeparators = ""
	a, _ := ParseAddress("anna+news@example.org")
	if _, err := r.Resolve(ctx, a); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("plus disabled: %v", err)
	}
}

// TestResolveCaseSensitive checks a domain with case-sensitive local
// parts: User@ and user@ reach different accounts, other case forms
// nobody (not even through the plus form), while the catch-all still takes
// unknown local parts; Key gives the stored forms.
func TestResolveCaseSensitive(t *testing.T) {
	st, ids := testStore(t)
	ctx := context.Background()
	if _, err := st.CreateDomain(ctx, "cs.example"); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateDomain(ctx, store.Domain{Name: "cs.example", LocalPartCaseSensitive: true}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"Vera@cs.example", "vera@cs.example"} {
		acct, err := st.CreateAccount(ctx, store.NewAccount{Address: a, PasswordHash: "x", Settings: store.DefaultSettings()})
		if err != nil {
			t.Fatal(err)
		}
		ids[a] = acct.ID
	}
	r := &Resolver{Store: st, PlusSeparators: "+"}
	for _, c := range []struct {
		addr, canon string
		want        int64
	}{
		{"Vera@cs.example", "Vera@cs.example", ids["Vera@cs.example"]},
		{"Vera@CS.EXAMPLE", "Vera@cs.example", ids["Vera@cs.example"]},
		{"vera@cs.example", "vera@cs.example", ids["vera@cs.example"]},
		{"Vera+x@cs.example", "Vera+x@cs.example", ids["Vera@cs.example"]},
		{"VERA@cs.example", "", 0},
		{"VERA+x@cs.example", "", 0},
		{"ANNA@example.org", "anna@example.org", ids["anna@example.org"]},
	} {
		a, err := ParseAddress(c.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Resolve(ctx, a)
		if c.want == 0 {
			if !errors.Is(err, ErrUnknownUser) {
				t.Errorf("%s: %+v, %v; want user unknown", c.addr, got, err)
			}
			continue
		}
		if err != nil || len(got.Accounts) != 1 || got.Accounts[0] != c.want || got.Address != c.canon {
			t.Errorf("%s: %+v, %v; want %s → [%d]", c.addr, got, err, c.canon, c.want)
		}
		if key, ok, err := r.Key(ctx, a); err != nil || !ok || key != c.canon {
			t.Errorf("Key(%s) = %q, %v, %v; want %q", c.addr, key, ok, err, c.canon)
		}
	}
	if err := st.UpdateDomain(ctx, store.Domain{Name: "cs.example", LocalPartCaseSensitive: true, CatchAll: "Vera@cs.example"}); err != nil {
		t.Fatal(err)
	}
	a, _ := ParseAddress("VERA@cs.example")
	if got, err := r.Resolve(ctx, a); err != nil || len(got.Accounts) != 1 || got.Accounts[0] != ids["Vera@cs.example"] {
		t.Errorf("VERA@ with catch-all Vera@: %+v, %v", got, err)
	}
	a, _ = ParseAddress("x@elsewhere.example")
	if _, ok, err := r.Key(ctx, a); ok || err != nil {
		t.Errorf("Key of a non-local address: %v, %v", ok, err)
	}
}

func TestDeliverConcurrentAndPartialFailure(t *testing.T) {
	st, ids := testStore(t)
	ctx := context.Background()
	q, err := OpenDirQueue(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Store: st, Queue: q}
	body := "Subject: hi\n\nbare LF body\n"
	sp := NewSpool(t.TempDir(), 8) // tiny: goes to a file
	io.WriteString(sp, body)
	defer sp.Close()
	if sp.InMemory() {
		t.Fatal("spool did not move to a file")
	}
	m := &Message{ID: "t1", From: "x@sender.example", Trace: []byte("Received: test\r\n"), Remote: []string{"far@elsewhere.example"}}
	m.AddLocal("anna@example.org", []int64{ids["anna@example.org"]})
	if m.AddLocal("team@example.org", []int64{ids["anna@example.org"], ids["boris@example.org"]}) != true || len(m.Local) != 2 {
		t.Fatalf("AddLocal dedupe: %+v", m.Local)
	}
	if err := d.Deliver(ctx, m, sp); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"anna@example.org", "boris@example.org"} {
		got := messages(t, st, ids[who])
		want := "Return-Path: <x@sender.example>\r\nDelivered-To: " + map[string]string{"anna@example.org": "anna@example.org", "boris@example.org": "team@example.org"}[who] + "\r\nReceived: test\r\nSubject: hi\r\n\r\nbare LF body\r\n"
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", who, got, want)
		}
	}
	envs, err := q.List(ctx)
	if err != nil || len(envs) != 1 || envs[0].To[0] != "far@elsewhere.example" {
		t.Fatalf("queue: %+v, %v", envs, err)
	}
	rc, err := q.Open(ctx, envs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	qb, _ := io.ReadAll(rc)
	rc.Close()
	if string(qb) != "Received: test\r\nSubject: hi\r\n\r\nbare LF body\r\n" {
		t.Fatalf("queued body %q", qb)
	}

	// boris over quota: anna's copy is stored, boris's queued locally.
	b, _ := st.Account(ctx, ids["boris@example.org"])
	b.QuotaBytes = 10
	if err := st.UpdateAccount(ctx, b); err != nil {
		t.Fatal(err)
	}
	m2 := &Message{ID: "t2", From: "x@sender.example"}
	m2.AddLocal("anna@example.org", []int64{ids["anna@example.org"]})
	m2.AddLocal("boris@example.org", []int64{ids["boris@example.org"]})
	if err := d.Deliver(ctx, m2, sp); err != nil {
		t.Fatal(err)
	}
	envs, _ = q.List(ctx)
	if len(envs) != 2 || !envs[1].Local || envs[1].To[0] != "boris@example.org" || !strings.Contains(envs[1].LastError, "quota") {
		t.Fatalf("queue after partial failure: %+v", envs)
	}
	// Only boris, over quota: nothing stored, a quota DeliveryError.
	m3 := &Message{ID: "t3", From: "x@sender.example"}
	m3.AddLocal("boris@example.org", []int64{ids["boris@example.org"]})
	err = d.Deliver(ctx, m3, Stream{R: strings.NewReader(body)})
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Quota || !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("over quota: %v", err)
	}
	// A stream cannot feed two destinations.
	if err := d.Deliver(ctx, m2, Stream{R: strings.NewReader(body)}); err == nil {
		t.Fatal("stream to two destinations accepted")
	}
	// Reading fails midway: nothing stored.
	before := len(messages(t, st, ids["anna@example.org"]))
	m4 := &Message{ID: "t4"}
	m4.AddLocal("anna@example.org", []int64{ids["anna@example.org"]})
	if err := d.Deliver(ctx, m4, Stream{R: io.MultiReader(strings.NewReader("Subject: x\r\n"), errReader{})}); err == nil {
		t.Fatal("failed read delivered")
	}
	if n := len(messages(t, st, ids["anna@example.org"])); n != before {
		t.Fatalf("anna has %d messages after a failed read, want %d", n, before)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection lost") }

func messages(t *testing.T, st store.Store, account int64) []string {
	t.Helper()
	ctx := context.Background()
	f, err := st.FolderByRole(ctx, account, store.RoleInbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for m, err := range st.Messages(ctx, f.ID) {
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.OpenBody(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		out = append(out, string(data))
	}
	return out
}

func TestDirQueueDurableAndRecovers(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenDirQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.Enqueue(ctx, QueueEnvelope{From: "a@b.c", To: []string{"x@y.z"}}, strings.NewReader("Subject: q\n\nx\n")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	envs, err := q.List(ctx)
	if err != nil || len(envs) != 20 {
		t.Fatalf("%d queued, %v", len(envs), err)
	}
	env := envs[0]
	env.Attempts = 3
	if err := q.Update(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(ctx, envs[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Open(ctx, "../../etc/passwd"); err == nil {
		t.Fatal("path escape accepted")
	}
	// A body without an envelope (a crash mid-enqueue) is cleaned up on
	// open; the rest survives.
	q2, err := OpenDirQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	envs, _ = q2.List(ctx)
	if len(envs) != 19 || envs[0].Attempts != 3 {
		t.Fatalf("after reopen: %d, attempts %d", len(envs), envs[0].Attempts)
	}
}

func TestCheckFromOwned(t *testing.T) {
	owns := func(a string) bool { return strings.EqualFold(a, "anna@example.org") }
	for _, c := range []struct {
		hdr string
		ok  bool
	}{
		{"From: Anna <anna@example.org>\r\n\r\n", true},
		{"From: ANNA@EXAMPLE.ORG\r\n\r\n", true},
		{"Subject: no from\r\n\r\n", true},
		{"From: Boris <boris@example.org>\r\n\r\n", false},
		{"From: anna@example.org, boris@example.org\r\n\r\n", false},
		{"From: anna@example.org\r\nFrom: boris@example.org\r\n\r\n", false},
		{"From: =?utf-8?b?0JDQvdC90LA=?= <anna@example.org>\r\n\r\n", true},
		{"From: undisclosed\r\n\r\n", false},
		{"From: group: anna@example.org;\r\n\r\n", true},
	} {
		m, err := Inspect(strings.NewReader(c.hdr), int64(len(c.hdr)))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckFromOwned(m, owns)
		if (err == nil) != c.ok {
			t.Errorf("%q: %v, want ok=%v", c.hdr, err, c.ok)
		}
	}
}

func attachmentMessage(name string, data []byte) string {
	return "From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(data) + "\r\n--XX--\r\n"
}

func makeZip(names ...string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, _ := zw.Create(n)
		w.Write([]byte(n))
	}
	zw.Close()
	return b.Bytes()
}

func TestFindBlockedAttachment(t *testing.T) {
	blocked := func(n string) bool {
		n = strings.ToLower(n)
		return strings.HasSuffix(n, ".exe") || strings.HasSuffix(n, ".scr")
	}
	for _, c := range []struct {
		msg     string
		blocked bool
	}{
		{attachmentMessage("a.pdf", []byte("%PDF")), false},
		{attachmentMessage("a.EXE", []byte("MZ")), true},
		{attachmentMessage("a.exe.", []byte("MZ")), true},
		{attachmentMessage("=?utf-8?q?evil=2Eexe?=", []byte("MZ")), true},
		{attachmentMessage("x.zip", makeZip("ok.txt", "dir/bad.scr")), true},
		{attachmentMessage("x.zip", makeZip("ok.txt")), false},
		{attachmentMessage("x.zip", []byte("not a zip")), false},
		{"Content-Type: application/octet-stream; name=\"run.exe\"\r\n\r\nMZ", true},
		{"Content-Type: message/rfc822\r\n\r\n" + attachmentMessage("inner.exe", []byte("MZ")), true},
	} {
		m, err := Inspect(strings.NewReader(c.msg), int64(len(c.msg)))
		if err != nil {
			t.Fatal(err)
		}
		err = FindBlockedAttachment(m, strings.NewReader(c.msg), blocked)
		if (err != nil) != c.blocked || (err != nil && !errors.Is(err, ErrBlockedAttachment)) {
			t.Errorf("%q: %v, want blocked=%v", c.msg[:min(len(c.msg), 200)], err, c.blocked)
		}
	}
}

func FuzzHeaderChecks(f *testing.F) {
	f.Add([]byte("From: Anna <anna@example.org>\r\n\r\nbody"))
	f.Add([]byte(attachmentMessage("x.zip", makeZip("a.exe"))))
	f.Add([]byte("From: a@b, \"q\\\"x\" <c@d>\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: application/zip; name=z.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := Inspect(bytes.NewReader(msg), int64(len(msg)))
		if err != nil {
			t.Fatal(err)
		}
		// Every address the check accepts is one owns was asked about.
		var asked []string
		err = CheckFromOwned(m, func(a string) bool { asked = append(asked, a); return true })
		if err != nil && !errors.Is(err, ErrNotOwned) {
			t.Fatalf("unexpected error %v", err)
		}
		if err := CheckFromOwned(m, func(string) bool { return false }); err == nil && len(asked) > 0 {
			t.Fatal("From passed with an owner that owns nothing")
		}
		err = FindBlockedAttachment(m, bytes.NewReader(msg), func(n string) bool { return strings.HasSuffix(strings.ToLower(n), ".exe") })
		if err != nil && !errors.Is(err, ErrBlockedAttachment) {
			t.Fatalf("unexpected error %v", err)
		}
		if FindBlockedAttachment(m, bytes.NewReader(msg), func(string) bool { return false }) != nil {
			t.Fatal("blocked with nothing blocked")
		}
	})
}
