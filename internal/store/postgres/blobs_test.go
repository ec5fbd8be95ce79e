package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestConformanceLargeObjects runs the conformance tests that touch
// bodies with every body above 100 bytes kept as a large object.
func TestConformanceLargeObjects(t *testing.T) {
	testDSN(t)
	// The groups that store, read, copy, move and remove bodies.
	storetest.RunGroups(t, func(t *testing.T) store.Store {
		s := openTemp(t)
		s.largeObjectMin = 100
		return s
	}, "Deliver", "DeliverBatch", "Messages", "Copy", "Move", "Expunge", "Search", "Account", "Folder", "Usage")
}

// largeObjects counts the large objects in a store's database.
func largeObjects(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_largeobject_metadata").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// bodyColumns returns how a body row keeps its bytes.
func bodyColumns(t *testing.T, s *Store, m store.Message) (key string, inline bool) {
	t.Helper()
	if err := s.pool.QueryRow(t.Context(), "SELECT blob, data IS NOT NULL FROM bodies WHERE id = $1", m.BodyID).Scan(&key, &inline); err != nil {
		t.Fatal(err)
	}
	return key, inline
}

// TestLargeObjectBody delivers a 30 MB message with the default
// threshold: it is kept as a large object, reads back whole and at any
// offset, a delivery refused for quota leaves no large object behind, and
// the large object goes when the last message naming its body is
// expunged, not before.
func TestLargeObjectBody(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, err := s.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "big@example.org", Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	msg := attachmentMessage(30<<20, 7)
	m, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: bytes.NewReader(msg)})
	if err != nil {
		t.Fatal(err)
	}
	if key, inline := bodyColumns(t, s, m); !strings.HasPrefix(key, "lo:") || inline {
		t.Errorf("30 MB body kept as blob %q, inline %v; want a large object", key, inline)
	}
	// Its oid is in an oid column too, where vacuumlo looks for
	// references: every large object is referenced.
	var unreferenced int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_largeobject_metadata l
		WHERE NOT EXISTS (SELECT 1 FROM bodies WHERE large_object = l.oid)`).Scan(&unreferenced); err != nil {
		t.Fatal(err)
	}
	if unreferenced != 0 {
		t.Errorf("%d large objects not named in bodies.large_object", unreferenced)
	}
	small, err := s.Deliver(ctx, store.Delivery{AccountID: a.ID, Body: bytes.NewReader(attachmentMessage(4<<10, 8))})
	if err != nil {
		t.Fatal(err)
	}
	if key, inline := bodyColumns(t, s, small); key != "" || !inline {
		t.Errorf("4 KB body kept as blob %q, inline %v; want bytea", key, inline)
	}
	if n := largeObjects(t, s); n != 1 {
		t.Fatalf("%d large objects after one big delivery, want 1", n)
	}

	// Into an account with a 40 MiB quota one fits, a second does not:
	// the transaction that wrote its large object rolls back, and the
	// object with it.
	q, err := s.CreateAccount(ctx, store.NewAccount{Address: "full@example.org", QuotaBytes: 40 << 20, Settings: store.DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = s.Deliver(ctx, store.Delivery{AccountID: q.ID, Body: bytes.NewReader(msg)})
	}
	if !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("second 30 MB delivery into a 40 MiB quota: %v, want ErrQuotaExceeded", err)
	}
	if n := largeObjects(t, s); n != 2 {
		t.Fatalf("%d large objects after two stored and one refused delivery, want 2", n)
	}

	b, err := s.OpenBody(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) || b.Size() != int64(len(msg)) {
		t.Errorf("read %d bytes (Size %d), equal %v; want the %d delivered", len(got), b.Size(), bytes.Equal(got, msg), len(msg))
	}
	buf := make([]byte, 3<<20)
	if n, err := b.ReadAt(buf, 20<<20+3); err != nil || !bytes.Equal(buf[:n], msg[20<<20+3:23<<20+3]) {
		t.Errorf("ReadAt 3 MB at 20 MB: %d, %v, equal %v", n, err, bytes.Equal(buf[:n], msg[20<<20+3:23<<20+3]))
	}
	if n, err := b.ReadAt(buf[:100], int64(len(msg)-40)); n != 40 || err != io.EOF || !bytes.Equal(buf[:n], msg[len(msg)-40:]) {
		t.Errorf("ReadAt over the end: %d, %v; want the last 40 bytes and io.EOF", n, err)
	}
	b.Close()

	// A copy shares the body: expunging the original keeps it.
	trash, err := s.CreateFolder(ctx, a.ID, "Kept", store.RoleNone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, m.FolderID, []uint32{m.UID}, trash.ID); err != nil {
		t.Fatal(err)
	}
	var msgs []store.Message
	for cm, err := range s.Messages(ctx, trash.ID) {
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, cm)
	}
	if len(msgs) != 1 {
		t.Fatalf("copied folder holds %d messages, want 1", len(msgs))
	}
	// Open now, read after the last copy is gone (below).
	late, err := s.OpenBody(ctx, msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if _, err := s.Expunge(ctx, m.FolderID, []uint32{m.UID}); err != nil {
		t.Fatal(err)
	}
	if n := largeObjects(t, s); n != 2 {
		t.Errorf("%d large objects after expunging the original of a copy, want 2", n)
	}
	if body := readAll(t, s, msgs[0]); !bytes.Equal(body, msg) {
		t.Errorf("copy's body reads %d bytes, not the delivered %d", len(body), len(msg))
	}
	if _, err := s.Expunge(ctx, trash.ID, []uint32{msgs[0].UID}); err != nil {
		t.Fatal(err)
	}
	if n := largeObjects(t, s); n != 1 {
		t.Errorf("%d large objects after expunging the last copy (one left in the other account), want 1", n)
	}
	// A body opened before the expunge fails to read: an error, not
	// wrong bytes.
	if _, err := io.Copy(io.Discard, late); err == nil {
		t.Error("reading a body opened before its message was expunged succeeded")
	}
	if err := s.DeleteAccount(ctx, q.ID); err != nil {
		t.Fatal(err)
	}
	if n := largeObjects(t, s); n != 0 {
		t.Errorf("%d large objects after deleting the account, want 0", n)
	}
}

// readAll reads a message's body.
func readAll(t *testing.T, s *Store, m store.Message) []byte {
	t.Helper()
	b, err := s.OpenBody(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
