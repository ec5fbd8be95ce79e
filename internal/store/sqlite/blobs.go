package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// blobStore keeps message bodies as files: blobs/<YYYYMMDDHH>/<random>.
// Files of one hour share a folder so a batch of deliveries needs one folder
// fsync, and folders stay small enough to list.
type blobStore struct {
	root string
}

func newBlobStore(root string) (*blobStore, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("make blob folder: %w", err)
	}
	return &blobStore{root: root}, nil
}

// create makes a new, empty blob file and returns it with its key.
func (b *blobStore) create() (f *os.File, key string, err error) {
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", fmt.Errorf("blob name: %w", err)
	}
	dir := time.Now().UTC().Format("2006010215")
	key = dir + "/" + hex.EncodeToString(rnd[:])
	if err := os.MkdirAll(filepath.Join(b.root, dir), 0o700); err != nil {
		return nil, "", fmt.Errorf("make blob folder: %w", err)
	}
	f, err = os.OpenFile(b.path(key), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("create blob: %w", err)
	}
	return f, key, nil
}

// path is the file of a key.
func (b *blobStore) path(key string) string {
	return filepath.Join(b.root, filepath.FromSlash(key))
}

// dir is the folder holding a key's file.
func (b *blobStore) dir(key string) string {
	return filepath.Dir(b.path(key))
}

// open opens a blob for reading.
func (b *blobStore) open(key string) (*os.File, error) {
	f, err := os.Open(b.path(key))
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	return f, nil
}

// remove deletes a blob; a missing one is not an error.
func (b *blobStore) remove(key string) error {
	if err := os.Remove(b.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob %s: %w", key, err)
	}
	return nil
}

// walk calls fn with the key of every blob file.
func (b *blobStore) walk(fn func(key string) error) error {
	return filepath.WalkDir(b.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(b.root, path)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel))
	})
}

// syncDir fsyncs a folder so the names of files made in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeOrphans deletes blob files no body row refers to.
func (s *Store) removeOrphans(ctx context.Context) error {
	known := make(map[string]struct{})
	rows, err := s.read.QueryContext(ctx, "SELECT blob FROM bodies WHERE blob != '' UNION ALL SELECT blob FROM queue WHERE blob != ''")
	if err != nil {
		return fmt.Errorf("list bodies: %w", err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("list bodies: %w", err)
		}
		known[k] = struct{}{}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list bodies: %w", err)
	}
	var removed int
	err = s.blobs.walk(func(key string) error {
		if _, ok := known[key]; ok {
			return nil
		}
		removed++
		return s.blobs.remove(key)
	})
	if err != nil {
		return fmt.Errorf("remove orphan bodies: %w", err)
	}
	if removed > 0 {
		s.log.Info("removed bodies of interrupted deliveries", "count", removed)
	}
	return nil
}

// fileBody is a stored body opened for reading from its file.
type fileBody struct {
	*os.File
	size int64
}

func (f fileBody) Size() int64 { return f.size }

// inlineBody is a body kept in the database.
type inlineBody struct {
	*bytes.Reader
}

func (inlineBody) Close() error { return nil }

// inlineLimit is the largest body kept inside the database instead of a
// file. Small bodies inline share the group commit's one WAL fsync; a file
// costs a file fsync and a folder fsync, and file creation waits for the
// folder fsync of the batch before it (measured in bench/README.md).
const inlineLimit = 128 << 10

// spillWriter keeps what is written in memory up to inlineLimit, then moves
// it to a new blob file and writes the rest there.
type spillWriter struct {
	blobs *blobStore
	buf   []byte
	f     *os.File
	key   string
	n     int64
	last  byte // the last byte written, when n > 0
}

func (w *spillWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.last = p[len(p)-1]
	}
	if w.f == nil && len(w.buf)+len(p) <= inlineLimit {
		w.buf = append(w.buf, p...)
		w.n += int64(len(p))
		return len(p), nil
	}
	if w.f == nil {
		f, key, err := w.blobs.create()
		if err != nil {
			return 0, err
		}
		w.f, w.key = f, key
		if _, err := f.Write(w.buf); err != nil {
			return 0, fmt.Errorf("write body: %w", err)
		}
		w.buf = nil
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	return n, err
}

// abort removes a spilled file after a failure.
func (w *spillWriter) abort() {
	if w.f != nil {
		w.f.Close()
		w.blobs.remove(w.key)
	}
}

// storedBody is a body ready to commit: inline bytes, or a synced file.
type storedBody struct {
	data []byte // inline body, when key is ""
	key  string // blob file, when not ""
	size int64
	// endsNewline: the body is empty or its last byte is a line feed.
	endsNewline bool
}

// writeBody copies r, normalising line endings with normalize (which wraps
// the destination writer). Bodies up to inlineLimit stay in memory; larger
// ones go to a blob file that is fsynced before writeBody returns.
func (b *blobStore) writeBody(r io.Reader, normalize func(io.Writer) io.WriteCloser) (sb storedBody, err error) {
	sw := &spillWriter{blobs: b}
	defer func() {
		if err != nil {
			sw.abort()
		}
	}()
	nw := normalize(sw)
	if _, err = io.Copy(nw, r); err != nil {
		return sb, fmt.Errorf("write body: %w", err)
	}
	if err = nw.Close(); err != nil {
		return sb, fmt.Errorf("write body: %w", err)
	}
	endsNewline := sw.n == 0 || sw.last == '\n'
	if sw.f == nil {
		return storedBody{data: sw.buf, size: sw.n, endsNewline: endsNewline}, nil
	}
	if err = sw.f.Sync(); err != nil {
		return sb, fmt.Errorf("sync body: %w", err)
	}
	if err = sw.f.Close(); err != nil {
		return sb, fmt.Errorf("close body: %w", err)
	}
	sw.f = nil
	return storedBody{key: sw.key, size: sw.n, endsNewline: endsNewline}, nil
}

// validKey reports whether a key looks like one create made (defence
// against a corrupted database pointing outside the blob folder).
func validKey(key string) bool {
	return !strings.Contains(key, "..") && !strings.HasPrefix(key, "/")
}
