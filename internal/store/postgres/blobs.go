package postgres

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pochta-mail/pochta/internal/store"
)

// blobStore is the seam for keeping message bodies outside the database (an
// S3-compatible store, later). A body row either holds its bytes in
// bodies.data (key "") or names a blob by key.
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
