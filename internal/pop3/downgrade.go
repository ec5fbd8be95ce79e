package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// RFC 6856 §2: a client that has not issued UTF8 may not be sent UTF-8
// headers. Such a session gets every message with UTF-8 (RFC 6532)
// headers downgraded as RFC 6857 describes (mimeparse.Downgrade); its
// sizes are computed at login, so that STAT, LIST and RETR's "+OK n
// octets" count the octets RETR sends. Only messages the store records
// as having 8-bit headers (or, stored before that was recorded, whose
// cached structure shows non-ASCII header text) are looked at: a login
// to a mailbox of 7-bit mail reads no structure and no body.

// structureBatch is how many structures sizeDowngraded reads at once.
const structureBatch = 256

// sizeDowngraded marks the messages of d that a session without UTF8
// gets downgraded and sets their sizes to those of the downgraded bytes.
// A message that cannot be read or downgraded is served as stored (and
// logged); a failure to read structures fails the login.
func (s *Server) sizeDowngraded(ctx context.Context, d *maildrop, log *slog.Logger) error {
	var cand []int // indexes into d.msgs
	for i, e := range d.msgs {
		if e.msg.HeaderBytes != mimeparse.Headers7bit {
			cand = append(cand, i)
		}
	}
	for len(cand) > 0 {
		n := min(len(cand), structureBatch)
		chunk := cand[:n]
		cand = cand[n:]
		msgs := make([]store.Message, len(chunk))
		for j, i := range chunk {
			msgs[j] = d.msgs[i].msg
		}
		sts, err := s.opts.Store.Structures(ctx, msgs)
		if err != nil {
			return fmt.Errorf("read structures: %w", err)
		}
		for _, i := range chunk {
			e := &d.msgs[i]
			st := sts[e.msg.BodyID]
			if st == nil || st.Root == nil || !mimeparse.MayNeedDowngrade(st) && e.msg.HeaderBytes != mimeparse.Headers8bit {
				continue
			}
			size, ok, err := s.downgradedSize(ctx, e.msg, st)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					log.Warn("pop3: cannot downgrade message; served as stored", "id", e.msg.ID, "err", err)
				}
				continue
			}
			if ok {
				e.size, e.downgrade = size, true
			}
		}
	}
	return nil
}

// downgradedSize returns the size RETR sends for the message downgraded
// (with the CRLF it adds when the last line has none), and false when no
// header needs downgrading.
func (s *Server) downgradedSize(ctx context.Context, m store.Message, st *mimeparse.Message) (int64, bool, error) {
	body, err := s.opts.Store.OpenBody(ctx, m)
	if err != nil {
		return 0, false, fmt.Errorf("open message: %w", err)
	}
	defer body.Close()
	dg, err := mimeparse.Downgrade(st, body, body.Size())
	if err != nil || dg == nil {
		return 0, false, err
	}
	size := dg.Size()
	if size > 0 {
		var last [1]byte
		if _, err := dg.ReadAt(last[:], size-1); err != nil && !errors.Is(err, io.EOF) {
			return 0, false, fmt.Errorf("read downgraded message: %w", err)
		}
		if last[0] != '\n' {
			size += 2
		}
	}
	return size, true, nil
}

// downgradedBody opens a message marked at login to be served downgraded
// and returns a reader of the downgraded bytes and the stored body to
// close.
func (s *Server) downgradedBody(ctx context.Context, m store.Message) (io.Reader, store.Body, error) {
	st, err := s.opts.Store.Structure(ctx, m)
	if err != nil {
		return nil, nil, fmt.Errorf("read structure: %w", err)
	}
	body, err := s.opts.Store.OpenBody(ctx, m)
	if err != nil {
		return nil, nil, fmt.Errorf("open message: %w", err)
	}
	dg, err := mimeparse.Downgrade(st, body, body.Size())
	if err != nil {
		body.Close()
		return nil, nil, fmt.Errorf("downgrade: %w", err)
	}
	if dg == nil {
		// Not at login: the structure is the one cached at delivery.
		body.Close()
		return nil, nil, errors.New("downgrade: message has nothing to downgrade any more")
	}
	return io.NewSectionReader(dg, 0, dg.Size()), body, nil
}
