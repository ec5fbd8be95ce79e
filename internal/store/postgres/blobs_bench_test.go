package postgres

// Benchmarks behind the choice of how message bodies are kept in
// PostgreSQL (issue 8): bytea in a row of bodies, as the store does, or
// large objects. Run under scripts/pgtest.sh (fsync on by default):
//
//	scripts/pgtest.sh go test -run XXX -bench Bodies -benchtime 20x ./internal/store/postgres/
//
// Three ways are measured for each size:
//
//   - store: the real store API (bytea in bodies.data up to 1 MiB, a large
//     object above): Deliver a message, OpenBody and read it all, Expunge
//     it (which drops the body row);
//     this includes parsing and the search row, so it is the cost a user
//     sees, not only the cost of the bytes.
//   - bytea: the same bytes in a bytea column of a plain table, one
//     autocommitted INSERT, SELECT or DELETE per operation: the storage
//     cost alone, comparable with large objects.
//   - lo: large objects through pgx's LargeObjects API: create and write
//     (in 1 MiB chunks, as a body streamed from a spool file would be)
//     in one transaction; open and read in 1 MiB chunks in a read-only
//     transaction; lo_unlink in one autocommitted statement.
//
// The read benchmarks also report peak-heap-MB: the largest growth of the
// Go heap (live and not yet collected objects, sampled every 200 µs)
// over its size after a GC, while one body is read.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// benchBodySizes are the body sizes measured: a short text mail, a mail
// with a small attachment, a photo, and the largest message the default
// configuration accepts.
var benchBodySizes = []struct {
	name string
	size int
}{
	{"4KB", 4 << 10},
	{"100KB", 100 << 10},
	{"1MB", 1 << 20},
	{"30MB", 30 << 20},
}

// loChunk is the size of each large object read and write.
const loChunk = 1 << 20

// attachmentMessage returns a MIME message of exactly size octets (CRLF
// line ends, so the store keeps it as is): a short text part and a base64
// attachment of random bytes, the usual shape of a big mail (base64 of
// random data compresses little, like the JPEGs and PDFs it stands for).
func attachmentMessage(size int, seed uint64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender@example.net\r\nTo: bench@example.org\r\nSubject: body benchmark %d\r\n"+
		"Message-ID: <%d.body@example.net>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nThe attachment follows.\r\n"+
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n", seed, seed)
	const trailer = "\r\n--b--\r\n"
	rng := rand.New(rand.NewPCG(seed, 42))
	raw := make([]byte, 57) // one 76-column base64 line
	line := make([]byte, 76)
	for b.Len()+78+len(trailer) <= size {
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		base64.StdEncoding.Encode(line, raw)
		b.Write(line)
		b.WriteString("\r\n")
	}
	// Pad the last line with base64 characters to the exact size.
	for b.Len()+len(trailer) < size {
		b.WriteByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[rng.IntN(32)])
	}
	b.WriteString(trailer)
	return b.Bytes()
}

// heapPeak samples the Go heap while it runs, so a benchmark can report
// how much memory reading one body takes at once.
type heapPeak struct {
	base int64
	max  atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

// heapObjects is the runtime metric sampled: bytes of heap objects, live
// or garbage not yet swept.
const heapObjects = "/memory/classes/heap/objects:bytes"

func readHeap() int64 {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// startHeapPeak collects garbage, notes the heap size and starts sampling.
func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{base: readHeap(), stop: make(chan struct{})}
	h.max.Store(h.base)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := readHeap(); v > h.max.Load() {
				h.max.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// end stops sampling and returns the peak growth in bytes.
func (h *heapPeak) end() int64 {
	if v := readHeap(); v > h.max.Load() {
		h.max.Store(v)
	}
	close(h.stop)
	h.wg.Wait()
	return h.max.Load() - h.base
}

// timeReads times b.N calls of read, each of size bytes, then reports
// the heap peak of one more (reportPeak).
func timeReads(b *testing.B, size int, read func() error) {
	b.Helper()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := read(); err != nil {
			b.Fatal(err)
		}
	}
	reportPeak(b, read)
}

// reportPeak measures one more read outside the timed loop and reports
// its heap peak.
func reportPeak(b *testing.B, read func() error) {
	b.Helper()
	b.StopTimer()
	h := startHeapPeak()
	err := read()
	peak := h.end()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// benchConn opens one connection to a fresh migrated database, as the
// raw bytea and large object benchmarks use.
func benchConn(b *testing.B) (*pgx.Conn, *Store) {
	b.Helper()
	dsn := newMigratedDatabase(b)
	s := openDSN(b, dsn)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(context.Background(), "CREATE TABLE bench_blobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data bytea NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	return conn, s
}

func BenchmarkBodies(b *testing.B) {
	for _, sz := range benchBodySizes {
		b.Run("store/write/"+sz.name, func(b *testing.B) { benchStoreWrite(b, sz.size) })
		b.Run("store/read/"+sz.name, func(b *testing.B) { benchStoreRead(b, sz.size) })
		b.Run("store/delete/"+sz.name, func(b *testing.B) { benchStoreDelete(b, sz.size) })
		b.Run("bytea/write/"+sz.name, func(b *testing.B) { benchByteaWrite(b, sz.size, "") })
		b.Run("bytea/read/"+sz.name, func(b *testing.B) { benchByteaRead(b, sz.size, "") })
		b.Run("bytea/delete/"+sz.name, func(b *testing.B) { benchByteaDelete(b, sz.size) })
		b.Run("lo/write/"+sz.name, func(b *testing.B) { benchLOWrite(b, sz.size) })
		b.Run("lo/read/"+sz.name, func(b *testing.B) { benchLORead(b, sz.size) })
		b.Run("lo/delete/"+sz.name, func(b *testing.B) { benchLODelete(b, sz.size) })
		b.Run("lo_get/read/"+sz.name, func(b *testing.B) { benchLOGetRead(b, sz.size) })
		for _, v := range byteaVariants {
			b.Run(v.name+"/write/"+sz.name, func(b *testing.B) { benchByteaWrite(b, sz.size, v.alter) })
			b.Run(v.name+"/read/"+sz.name, func(b *testing.B) { benchByteaRead(b, sz.size, v.alter) })
		}
	}
}

// --- store API (bytea in bodies.data) ---

func benchStoreWrite(b *testing.B, size int) {
	s := openTemp(b)
	a := benchAccount(b, s, "bench@example.org")
	msg := attachmentMessage(size, 1)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Deliver(context.Background(), store.Delivery{AccountID: a.ID, Body: bytes.NewReader(msg)}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStoreRead(b *testing.B, size int) {
	s := openTemp(b)
	a := benchAccount(b, s, "bench@example.org")
	msg := attachmentMessage(size, 1)
	m, err := s.Deliver(context.Background(), store.Delivery{AccountID: a.ID, Body: bytes.NewReader(msg)})
	if err != nil {
		b.Fatal(err)
	}
	read := func() error {
		body, err := s.OpenBody(context.Background(), m)
		if err != nil {
			return err
		}
		defer body.Close()
		n, err := io.Copy(io.Discard, body)
		if err == nil && n != int64(len(msg)) {
			err = fmt.Errorf("read %d bytes, want %d", n, len(msg))
		}
		return err
	}
	timeReads(b, len(msg), read)
}

func benchStoreDelete(b *testing.B, size int) {
	s := openTemp(b)
	a := benchAccount(b, s, "bench@example.org")
	msg := attachmentMessage(size, 1)
	ms := make([]store.Message, b.N)
	for i := range ms {
		m, err := s.Deliver(context.Background(), store.Delivery{AccountID: a.ID, Body: bytes.NewReader(msg)})
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = m
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for _, m := range ms {
		if _, err := s.Expunge(context.Background(), m.FolderID, []uint32{m.UID}); err != nil {
			b.Fatal(err)
		}
	}
}

// --- bytea in a plain table ---

func byteaInsert(conn *pgx.Conn, data []byte) (int64, error) {
	var id int64
	err := conn.QueryRow(context.Background(), "INSERT INTO bench_blobs (data) VALUES ($1) RETURNING id", data).Scan(&id)
	return id, err
}

// byteaVariants change how PostgreSQL keeps the bytea column: lz4
// instead of the default pglz TOAST compression, or no compression at all
// (STORAGE EXTERNAL).
var byteaVariants = []struct{ name, alter string }{
	{"bytea_lz4", "ALTER TABLE bench_blobs ALTER data SET COMPRESSION lz4"},
	{"bytea_external", "ALTER TABLE bench_blobs ALTER data SET STORAGE EXTERNAL"},
}

// alterBlobs applies a bytea variant's ALTER TABLE, if any.
func alterBlobs(b *testing.B, conn *pgx.Conn, alter string) {
	b.Helper()
	if alter == "" {
		return
	}
	if _, err := conn.Exec(context.Background(), alter); err != nil {
		b.Fatal(err)
	}
}

func benchByteaWrite(b *testing.B, size int, alter string) {
	conn, _ := benchConn(b)
	alterBlobs(b, conn, alter)
	msg := attachmentMessage(size, 1)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := byteaInsert(conn, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func benchByteaRead(b *testing.B, size int, alter string) {
	conn, _ := benchConn(b)
	alterBlobs(b, conn, alter)
	msg := attachmentMessage(size, 1)
	id, err := byteaInsert(conn, msg)
	if err != nil {
		b.Fatal(err)
	}
	read := func() error {
		var data []byte
		if err := conn.QueryRow(context.Background(), "SELECT data FROM bench_blobs WHERE id = $1", id).Scan(&data); err != nil {
			return err
		}
		if len(data) != len(msg) {
			return fmt.Errorf("read %d bytes, want %d", len(data), len(msg))
		}
		return nil
	}
	timeReads(b, len(msg), read)
}

func benchByteaDelete(b *testing.B, size int) {
	conn, _ := benchConn(b)
	msg := attachmentMessage(size, 1)
	ids := make([]int64, b.N)
	for i := range ids {
		id, err := byteaInsert(conn, msg)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for _, id := range ids {
		if _, err := conn.Exec(context.Background(), "DELETE FROM bench_blobs WHERE id = $1", id); err != nil {
			b.Fatal(err)
		}
	}
}

// --- large objects ---

// loInsert creates a large object holding data, written in loChunk
// pieces, in one transaction.
func loInsert(conn *pgx.Conn, data []byte) (uint32, error) {
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	los := tx.LargeObjects()
	oid, err := los.Create(ctx, 0)
	if err != nil {
		return 0, err
	}
	lo, err := los.Open(ctx, oid, pgx.LargeObjectModeWrite)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, min(len(data), loChunk))
	if _, err := io.CopyBuffer(struct{ io.Writer }{lo}, struct{ io.Reader }{bytes.NewReader(data)}, buf); err != nil {
		return 0, err
	}
	if err := lo.Close(); err != nil {
		return 0, err
	}
	return oid, tx.Commit(ctx)
}

func benchLOWrite(b *testing.B, size int) {
	conn, _ := benchConn(b)
	msg := attachmentMessage(size, 1)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := loInsert(conn, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLORead(b *testing.B, size int) {
	conn, _ := benchConn(b)
	msg := attachmentMessage(size, 1)
	oid, err := loInsert(conn, msg)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, loChunk)
	read := func() error {
		ctx := context.Background()
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		los := tx.LargeObjects()
		lo, err := los.Open(ctx, oid, pgx.LargeObjectModeRead)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{lo}, buf)
		if err != nil {
			return err
		}
		if n != int64(len(msg)) {
			return fmt.Errorf("read %d bytes, want %d", n, len(msg))
		}
		return tx.Commit(ctx)
	}
	timeReads(b, len(msg), read)
}

func benchLODelete(b *testing.B, size int) {
	conn, _ := benchConn(b)
	msg := attachmentMessage(size, 1)
	oids := make([]uint32, b.N)
	for i := range oids {
		oid, err := loInsert(conn, msg)
		if err != nil {
			b.Fatal(err)
		}
		oids[i] = oid
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for _, oid := range oids {
		if _, err := conn.Exec(context.Background(), "SELECT lo_unlink($1)", oid); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLOGetRead reads a large object with lo_get(oid, offset, length) in
// loChunk pieces, each its own statement: no transaction or descriptor is
// held between pieces, as a store.Body's ReadAt would need.
func benchLOGetRead(b *testing.B, size int) {
	conn, _ := benchConn(b)
	msg := attachmentMessage(size, 1)
	oid, err := loInsert(conn, msg)
	if err != nil {
		b.Fatal(err)
	}
	var chunk []byte
	read := func() error {
		var n int64
		for off := int64(0); off < int64(len(msg)); off += loChunk {
			if err := conn.QueryRow(context.Background(), "SELECT lo_get($1, $2, $3)", oid, off, loChunk).Scan(&chunk); err != nil {
				return err
			}
			n += int64(len(chunk))
		}
		if n != int64(len(msg)) {
			return fmt.Errorf("read %d bytes, want %d", n, len(msg))
		}
		return nil
	}
	timeReads(b, len(msg), read)
}
