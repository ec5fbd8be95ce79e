package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pochta-mail/pochta/internal/store"
)

// blobStore is the seam for keeping message bodies outside the database (an
// S3-compatible store, later). A body row either holds its bytes in
// bodies.data (key ""), names a large object in the same database
// ("lo:<oid>", see below; bodies the blob store kept inline and that are
// larger than Store.largeObjectMin), or names a blob by key.
//
// put runs before the transaction that inserts the body row, so a crash
// can leave an orphan blob but never a row without its bytes; remove runs
// after the transaction that deleted the last row naming a key commits.
type blobStore interface {
	// put stores a body. It returns the key to keep in bodies.blob, or ""
	// and the bytes to keep in bodies.data.
	put(ctx context.Context, data []byte) (key string, inline []byte, err error)
	// open opens the blob stored under key.
	open(ctx context.Context, key string, size int64) (store.Body, error)
	// remove deletes blobs; missing ones are not an error.
	remove(ctx context.Context, keys []string) error
}

// inlineBlobs keeps every body in the database (bytea): no shared file
// system or object store is needed.
type inlineBlobs struct{}

func (inlineBlobs) put(_ context.Context, data []byte) (string, []byte, error) {
	return "", data, nil
}

func (inlineBlobs) open(_ context.Context, key string, _ int64) (store.Body, error) {
	return nil, fmt.Errorf("open blob %q: this store keeps bodies in the database", key)
}

func (inlineBlobs) remove(context.Context, []string) error { return nil }

// inlineBody is a body read from the database.
type inlineBody struct {
	*bytes.Reader
}

// Close implements store.Body.
func (inlineBody) Close() error { return nil }

// Large objects. Bodies larger than Store.largeObjectMin are kept as
// PostgreSQL large objects instead of bytea (see "Bodies: bytea or large
// objects" in bench/README.md): a bytea value is read whole into memory by
// pgx, a large object in pieces. bodies.blob names one as "lo:<oid>",
// bodies.large_object holds its oid and bodies.data is NULL.
//
// A large object is created and written in the transaction that inserts
// its body row, and unlinked in the transaction that deletes that row, so
// a rollback or a crash never leaves one without its row or the reverse.
// bodies.large_object is an oid column so that vacuumlo, which only
// knows references in oid and lo columns, sees each one as in use.

// defaultLargeObjectMin is the largest body kept as bytea by default.
const defaultLargeObjectMin = 1 << 20

// largeObjectPrefix starts the bodies.blob key of a body kept as a large
// object.
const largeObjectPrefix = "lo:"

// largeObjectChunk is the size of each piece a large object is written or
// read in.
const largeObjectChunk = 1 << 20

// isLargeObject reports whether a blob key names a large object.
func isLargeObject(key string) bool { return strings.HasPrefix(key, largeObjectPrefix) }

// largeObjectOID returns the oid a large object key names.
func largeObjectOID(key string) (uint32, error) {
	oid, err := strconv.ParseUint(strings.TrimPrefix(key, largeObjectPrefix), 10, 32)
	if err != nil || !isLargeObject(key) {
		return 0, fmt.Errorf("bad large object key %q", key)
	}
	return uint32(oid), nil
}

// putLargeObject writes data to a new large object in the transaction
// and returns its key.
func putLargeObject(w *wtx, data []byte) (string, error) {
	los := w.LargeObjects()
	oid, err := los.Create(w.ctx, 0)
	if err != nil {
		return "", fmt.Errorf("create large object: %w", err)
	}
	lo, err := los.Open(w.ctx, oid, pgx.LargeObjectModeWrite)
	if err != nil {
		return "", fmt.Errorf("open large object %d: %w", oid, err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), largeObjectChunk)
		if _, err := lo.Write(rest[:n]); err != nil {
			return "", fmt.Errorf("write large object %d: %w", oid, err)
		}
		rest = rest[n:]
	}
	if err := lo.Close(); err != nil {
		return "", fmt.Errorf("close large object %d: %w", oid, err)
	}
	return largeObjectPrefix + strconv.FormatUint(uint64(oid), 10), nil
}

// unlinkLargeObjects unlinks, in the transaction, the large objects among
// keys and returns the other keys.
func unlinkLargeObjects(w *wtx, keys []string) ([]string, error) {
	var oids []uint32
	rest := keys[:0:0]
	for _, k := range keys {
		if !isLargeObject(k) {
			rest = append(rest, k)
			continue
		}
		oid, err := largeObjectOID(k)
		if err != nil {
			return nil, err
		}
		oids = append(oids, oid)
	}
	if len(oids) > 0 {
		if _, err := w.exec("SELECT lo_unlink(o) FROM unnest($1::oid[]) AS o", oids); err != nil {
			return nil, fmt.Errorf("unlink large objects: %w", err)
		}
	}
	return rest, nil
}

// largeObjectBody reads a large object in pieces with lo_get, each its own
// statement on the pool: no connection or transaction is held while the
// body is open. A body expunged (and so unlinked) while it is being read
// fails the reads that follow.
type largeObjectBody struct {
	pool *pgxpool.Pool
	ctx  context.Context
	oid  uint32
	size int64
	off  int64  // next offset Read returns
	buf  []byte // read ahead by Read
	next []byte // the unread part of buf
}

// openLargeObject opens the large object a key names as a store.Body.
func openLargeObject(ctx context.Context, pool *pgxpool.Pool, key string, size int64) (store.Body, error) {
	oid, err := largeObjectOID(key)
	if err != nil {
		return nil, err
	}
	return &largeObjectBody{pool: pool, ctx: context.WithoutCancel(ctx), oid: oid, size: size}, nil
}

// copyScanner scans a bytea into a caller's buffer without an allocation
// per piece.
type copyScanner struct {
	dst []byte
	n   int
}

// ScanBytes implements pgtype.BytesScanner.
func (c *copyScanner) ScanBytes(v []byte) error {
	c.n = copy(c.dst, v)
	return nil
}

// ReadAt implements io.ReaderAt.
func (b *largeObjectBody) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read large object %d: negative offset", b.oid)
	}
	done := 0
	for done < len(p) && off+int64(done) < b.size {
		want := min(len(p)-done, largeObjectChunk)
		c := copyScanner{dst: p[done : done+want]}
		if err := b.pool.QueryRow(b.ctx, "SELECT lo_get($1, $2, $3)", b.oid, off+int64(done), want).Scan(&c); err != nil {
			return done, fmt.Errorf("read large object %d: %w", b.oid, err)
		}
		if c.n == 0 {
			return done, fmt.Errorf("read large object %d: %w", b.oid, io.ErrUnexpectedEOF)
		}
		done += c.n
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// Read implements io.Reader, reading ahead up to largeObjectChunk.
func (b *largeObjectBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(b.next) == 0 {
		if b.off >= b.size {
			return 0, io.EOF
		}
		if b.buf == nil {
			b.buf = make([]byte, min(b.size, largeObjectChunk))
		}
		n, err := b.ReadAt(b.buf[:min(int64(len(b.buf)), b.size-b.off)], b.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		b.next = b.buf[:n]
	}
	n := copy(p, b.next)
	b.next = b.next[n:]
	b.off += int64(n)
	return n, nil
}

// Size implements store.Body.
func (b *largeObjectBody) Size() int64 { return b.size }

// Close implements store.Body.
func (b *largeObjectBody) Close() error {
	b.buf, b.next = nil, nil
	return nil
}
