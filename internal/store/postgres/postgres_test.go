package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// testDSN is the server the tests make their databases on, from
// POCHTA_TEST_PG_DSN (scripts/pgtest.sh starts one and sets it). Tests
// that need it are skipped without it.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("POCHTA_TEST_PG_DSN")
	if dsn == "" {
		tb.Skip("POCHTA_TEST_PG_DSN not set (scripts/pgtest.sh starts a server and sets it)")
	}
	return dsn
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(tb testing.TB, dsn, name string) string {
	tb.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("parse POCHTA_TEST_PG_DSN: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	// key=value form: a later key wins.
	return dsn + " dbname=" + name
}

// template is a database with the schema made, cloned for each test
// (cloning is faster than migrating every new database), made once per
// test process and dropped by TestMain.
var template struct {
	sync.Once
	name string
	err  error
}

// TestMain drops the template database after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if template.name != "" {
		ctx := context.Background()
		if admin, err := pgx.Connect(ctx, os.Getenv("POCHTA_TEST_PG_DSN")); err == nil {
			admin.Exec(ctx, "DROP DATABASE IF EXISTS "+template.name+" WITH (FORCE)")
			admin.Close(ctx)
		}
	}
	os.Exit(code)
}

// randomName returns a database name with a random suffix.
func randomName(prefix string) string {
	var rnd [6]byte
	rand.Read(rnd[:])
	return prefix + hex.EncodeToString(rnd[:])
}

// createDatabase makes a database, empty or as a copy of a template, and
// drops it at cleanup.
func createDatabase(tb testing.TB, dsn, name, from string) {
	tb.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to test server: %v", err)
	}
	defer admin.Close(ctx)
	q := "CREATE DATABASE " + name
	if from != "" {
		q += " TEMPLATE " + from
	}
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, q)
		// The template's last connections may still be closing.
		if err == nil || pgCode(err) != "55006" || attempt == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("connect to test server: %v", err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
}

// newDatabase makes an empty database (no schema) for one test, dropped at
// cleanup, and returns its DSN.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	name := randomName("pochta_test_")
	createDatabase(tb, dsn, name, "")
	return withDatabase(tb, dsn, name)
}

// newMigratedDatabase makes a database with the schema for one test,
// dropped at cleanup, and returns its DSN.
func newMigratedDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	template.Do(func() {
		ctx := context.Background()
		name := randomName("pochta_template_")
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			template.err = err
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			template.err = err
			return
		}
		template.name = name
		s, err := Open(ctx, Options{DSN: withDatabase(tb, dsn, name), Logger: quietLog})
		if err != nil {
			template.err = err
			return
		}
		s.Close()
	})
	if template.err != nil {
		tb.Fatalf("make template database: %v", template.err)
	}
	name := randomName("pochta_test_")
	createDatabase(tb, dsn, name, template.name)
	return withDatabase(tb, dsn, name)
}

// quietLog drops the store's logs in tests.
var quietLog = slog.New(slog.DiscardHandler)

// openDSN opens a store on a database, closed at cleanup (cleanups run
// last-in first-out, so before the database is dropped).
func openDSN(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), Options{DSN: dsn, Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openTemp opens a store on a fresh database.
func openTemp(tb testing.TB) *Store {
	tb.Helper()
	return openDSN(tb, newMigratedDatabase(tb))
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestEventPayloads(t *testing.T) {
	var evs []store.Event
	for i := range 1000 {
		evs = append(evs, store.Event{AccountID: int64(i), FolderID: int64(i * 7), ModSeq: uint64(i) << 33, Kind: store.EventKind(1 << (i % 4))})
	}
	payloads := encodeEvents("node1", evs)
	if len(payloads) < 2 {
		t.Fatalf("1000 events fit in %d payloads; want them split", len(payloads))
	}
	var got []store.Event
	for _, p := range payloads {
		if len(p) > maxPayload {
			t.Errorf("payload of %d bytes, over %d", len(p), maxPayload)
		}
		node, e, err := decodeEvents(p)
		if err != nil || node != "node1" {
			t.Fatalf("decode: node %q, err %v", node, err)
		}
		got = append(got, e...)
	}
	if fmt.Sprint(got) != fmt.Sprint(evs) {
		t.Errorf("events changed on the way")
	}
	for _, bad := range []string{"", "v1", "v2 n 1.2.3.4", "v1 n 1.2.3", "v1 n a.2.3.4", "v1 n 1.2.3.999"} {
		if _, _, err := decodeEvents(bad); err == nil {
			t.Errorf("decodeEvents(%q) accepted it", bad)
		}
	}
}

func TestEscapeLike(t *testing.T) {
	for in, want := range map[string]string{
		"abc": "abc", "100%": `100\%`, "e_c": `e\_c`, `k\s`: `k\\s`, `%_\`: `\%\_\\`,
	} {
		if got := escapeLike(in); got != want {
			t.Errorf("escapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMigrateConcurrently starts several nodes at once on an empty
// database: the advisory lock lets one migrate and the others find the
// schema made.
func TestMigrateConcurrently(t *testing.T) {
	dsn := newDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), Options{DSN: dsn, Logger: quietLog})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
			continue
		}
		stores[i].Close()
	}
	s := openDSN(t, dsn)
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	migs, _ := migrations()
	if n != len(migs) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(migs))
	}
}

func testMsg(i int, node string) string {
	return fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: %s %d\r\n\r\nbody %d\r\n", node, i, i)
}

// waitFor waits for an event matching ok.
func waitFor(t *testing.T, sub *store.Subscription, what string, ok func(store.Event) bool) {
	t.Helper()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, open := <-sub.C:
			if !open {
				t.Fatalf("%s: subscription closed", what)
			}
			if ok(ev) {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: no event within 5s", what)
		}
	}
}

// TestTwoNodes runs two stores ("nodes") on one database: each sees the
// other's changes as events, and concurrent deliveries from both into one
// folder get distinct, gap-free UIDs and mod-sequences, with exact usage.
func TestTwoNodes(t *testing.T) {
	dsn := newMigratedDatabase(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	if _, err := a.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	acct, err := a.CreateAccount(ctx, store.NewAccount{Address: "ivan@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.FolderByRole(ctx, acct.ID, store.RoleInbox)
	if err != nil {
		t.Fatal(err)
	}

	// Events across nodes, both ways.
	subB := b.Subscribe(acct.ID)
	defer subB.Close()
	subA := a.Subscribe(acct.ID)
	defer subA.Close()
	m, err := a.Deliver(ctx, store.Delivery{AccountID: acct.ID, Body: strings.NewReader(testMsg(0, "a"))})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, subB, "node b sees node a's delivery", func(ev store.Event) bool {
		return ev.FolderID == in.ID && ev.Kind&store.EventNewMessages != 0 && ev.ModSeq == m.ModSeq
	})
	res, err := b.SetFlags(ctx, in.ID, []uint32{m.UID}, store.FlagChange{Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, subA, "node a sees node b's flag change", func(ev store.Event) bool {
		return ev.FolderID == in.ID && ev.Kind&store.EventFlags != 0 && ev.ModSeq == res.Changed[0].ModSeq
	})
	// A node's own events come once, not again through NOTIFY.
	if _, err := a.Expunge(ctx, in.ID, []uint32{m.UID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, subA, "node a sees its own expunge", func(ev store.Event) bool { return ev.Kind&store.EventExpunged != 0 })
	waitFor(t, subB, "node b sees node a's expunge", func(ev store.Event) bool { return ev.Kind&store.EventExpunged != 0 })
	time.Sleep(200 * time.Millisecond)
	for len(subA.C) > 0 {
		if ev := <-subA.C; ev.Kind&store.EventExpunged != 0 {
			t.Errorf("node a got its own expunge twice: %+v", ev)
		}
	}

	// Concurrent deliveries from both nodes into one folder.
	const writers, each = 8, 25
	type result struct {
		uid    uint32
		modseq uint64
	}
	var mu sync.Mutex
	var got []result
	var wg sync.WaitGroup
	for w := range 2 * writers {
		node := a
		if w%2 == 1 {
			node = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m, err := node.Deliver(ctx, store.Delivery{AccountID: acct.ID, FolderID: in.ID,
					Body: strings.NewReader(testMsg(w*each+i, "concurrent"))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, result{m.UID, m.ModSeq})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	uids, modseqs := map[uint32]bool{}, map[uint64]bool{}
	for _, r := range got {
		if uids[r.uid] {
			t.Errorf("UID %d given twice", r.uid)
		}
		if modseqs[r.modseq] {
			t.Errorf("mod-sequence %d given twice", r.modseq)
		}
		uids[r.uid], modseqs[r.modseq] = true, true
	}
	const total = 2 * writers * each
	if len(got) != total {
		t.Fatalf("%d deliveries succeeded, want %d", len(got), total)
	}
	// UIDs 2..total+1: the first message (UID 1) was expunged.
	for uid := uint32(2); uid <= total+1; uid++ {
		if !uids[uid] {
			t.Errorf("UID %d missing: UIDs are not gap-free", uid)
		}
	}
	f, err := a.FolderByID(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.UIDNext != total+2 {
		t.Errorf("UIDNext = %d, want %d", f.UIDNext, total+2)
	}
	u, err := b.Usage(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.FolderStatus(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Messages != total || st.Messages != total || u.Bytes != st.Size {
		t.Errorf("usage %+v, folder holds %d messages of %d bytes; want %d messages and equal bytes", u, st.Messages, st.Size, total)
	}
}

// TestQuotaAcrossNodes delivers from two nodes at once into an account
// with a message quota: exactly the quota's worth gets in.
func TestQuotaAcrossNodes(t *testing.T) {
	dsn := newMigratedDatabase(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	if _, err := a.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	const quota = 30
	acct, err := a.CreateAccount(ctx, store.NewAccount{Address: "q@example.org", QuotaMessages: quota, Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ok, refused := 0, 0
	var wg sync.WaitGroup
	for w := range 8 {
		node := []*Store{a, b}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				_, err := node.Deliver(ctx, store.Delivery{AccountID: acct.ID, Body: strings.NewReader(testMsg(w*10+i, "quota"))})
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrQuotaExceeded):
					refused++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != quota || refused != 80-quota {
		t.Errorf("%d delivered, %d refused; want %d and %d", ok, refused, quota, 80-quota)
	}
	if u, err := b.Usage(ctx, acct.ID); err != nil || u.Messages != quota {
		t.Errorf("Usage = %+v, %v; want %d messages", u, err, quota)
	}
}

// TestListenerReconnects cuts the event listener's connection: it
// reconnects, events and queue wakeups from the other node flow again, and
// the reconnection itself wakes the delivery engines (a wakeup may have
// been missed).
func TestListenerReconnects(t *testing.T) {
	dsn := newMigratedDatabase(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	if _, err := a.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	acct, err := a.CreateAccount(ctx, store.NewAccount{Address: "ivan@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	sub := b.Subscribe(acct.ID)
	defer sub.Close()
	wake := b.QueueWakeups(ctx)
	waitWake := func(what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("node b's delivery engines not woken %s", what)
		}
	}
	// Both nodes' listeners go; b's must come back.
	tag, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND starts_with(query, 'LISTEN ')`)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 2 {
		t.Fatalf("terminated %d listeners, want 2", tag.RowsAffected())
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if _, err := a.Deliver(ctx, store.Delivery{AccountID: acct.ID, Body: strings.NewReader(testMsg(i, "reconnect"))}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.C:
			waitWake("on reconnecting")
			if _, err := a.EnqueueMessage(ctx, store.QueueEnvelope{To: []string{"r@b.example"}}, strings.NewReader("x\r\n")); err != nil {
				t.Fatal(err)
			}
			waitWake("by an enqueue on node a after reconnecting")
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no event from node a after the listener of node b was cut")
		}
	}
}
