package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

const messageColumns = "id, account_id, folder_id, uid, modseq, flags, internal_date, size, body_id, pop3_hidden, ends_newline, internal_date_zone, header_bytes"

func scanMessage(r scanner) (store.Message, error) {
	var m store.Message
	var flags string
	// UID and ModSeq are read as int64: database/sql converts into
	// unsigned types through a string, two allocations per row.
	var uid, modseq, date, zone, hb int64
	err := r.Scan(&m.ID, &m.AccountID, &m.FolderID, &uid, &modseq, &flags, &date, &m.Size, &m.BodyID, &m.POP3Hidden, &m.EndsWithNewline, &zone, &hb)
	if err == nil && (uid < 0 || uid > math.MaxUint32 || modseq < 0) {
		err = fmt.Errorf("message %d: UID %d or modseq %d out of range", m.ID, uid, modseq)
	}
	m.UID, m.ModSeq = uint32(uid), uint64(modseq)
	m.HeaderBytes = headerBytes(hb)
	m.Flags = strings.Fields(flags)
	m.InternalDate = store.InZone(fromUnix(date), int(zone))
	return m, err
}

// headerBytes reads the header_bytes column; a value it does not know is
// unknown (the structure decides).
func headerBytes(v int64) mimeparse.HeaderBytes {
	if v < 0 || v > int64(mimeparse.Headers8bit) {
		return mimeparse.HeadersUnknown
	}
	return mimeparse.HeaderBytes(v)
}

// uidList encodes UIDs as a JSON array for `IN (SELECT value FROM
// json_each($n))`, which keeps statements fixed whatever the set size.
func uidList(uids []uint32) string {
	b, _ := json.Marshal(uids)
	if len(uids) == 0 {
		return "[]"
	}
	return string(b)
}

func idList(ids []int64) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// flagBits gives the seen and deleted columns kept for fast counts.
func flagBits(flags []string) (seen, deleted bool) {
	for _, f := range flags {
		switch f {
		case store.FlagSeen:
			seen = true
		case store.FlagDeleted:
			deleted = true
		}
	}
	return
}

// folderForUpdate reads a folder inside a write transaction.
func folderForUpdate(w *wtx, folderID int64) (store.Folder, error) {
	f, err := scanFolder(w.queryRow("SELECT "+folderColumns+" FROM folders WHERE id = $1", folderID))
	if err != nil {
		return f, notFound(err, fmt.Sprintf("folder %d", folderID))
	}
	return f, nil
}

// nextModSeq raises a folder's highest mod-sequence by one and returns it.
func nextModSeq(w *wtx, folderID int64) (uint64, error) {
	var m uint64
	err := w.queryRow("UPDATE folders SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq", folderID).Scan(&m)
	if err != nil {
		return 0, fmt.Errorf("next mod-sequence: %w", err)
	}
	return m, nil
}

// allocUIDs reserves n consecutive UIDs in a folder and returns the first.
func allocUIDs(w *wtx, folderID int64, n int) (uint32, error) {
	var next uint32
	err := w.queryRow("UPDATE folders SET uid_next = uid_next + $1 WHERE id = $2 RETURNING uid_next", n, folderID).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("allocate UIDs: %w", err)
	}
	return next - uint32(n), nil
}

// checkQuota fails with ErrQuotaExceeded when adding bytes and count would
// take an account over its quota.
func checkQuota(w *wtx, accountID, bytes, count int64) error {
	var used, usedN, quota, quotaN int64
	err := w.queryRow("SELECT used_bytes, used_messages, quota_bytes, quota_messages FROM accounts WHERE id = $1", accountID).
		Scan(&used, &usedN, &quota, &quotaN)
	if err != nil {
		return notFound(err, fmt.Sprintf("account %d", accountID))
	}
	if (quota > 0 && used+bytes > quota) || (quotaN > 0 && usedN+count > quotaN) {
		return fmt.Errorf("account %d uses %d of %d bytes and %d of %d messages: %w",
			accountID, used, quota, usedN, quotaN, store.ErrQuotaExceeded)
	}
	return nil
}

// addUsage changes an account's usage counters.
func addUsage(w *wtx, accountID, bytes, count int64) error {
	_, err := w.exec("UPDATE accounts SET used_bytes = used_bytes + $1, used_messages = used_messages + $2 WHERE id = $3",
		bytes, count, accountID)
	if err != nil {
		return fmt.Errorf("update usage: %w", err)
	}
	return nil
}

// preparedDelivery is a message whose body is written (inline or in a
// synced file) and parsed, ready to be inserted.
type preparedDelivery struct {
	d         store.Delivery
	body      storedBody
	headers   string
	text      string
	structure []byte
	m         store.Message
}

// removePrepared deletes the body file of a delivery that was not
// committed.
func (s *Store) removePrepared(p *preparedDelivery) {
	if p.body.key != "" {
		s.blobs.remove(p.body.key)
	}
}

// prepare writes and parses the body of one delivery.
func (s *Store) prepare(d store.Delivery) (*preparedDelivery, error) {
	body, err := s.blobs.writeBody(d.Body, mimeparse.NormalizeCRLF)
	if err != nil {
		return nil, err
	}
	p := &preparedDelivery{d: d, body: body}
	parsed, err := s.parseBody(body)
	if err != nil {
		s.removePrepared(p)
		return nil, err
	}
	p.headers = strings.ToLower(parsed.Text.Headers)
	p.text = strings.ToLower(parsed.Text.Body)
	parsed.Text = mimeparse.SearchText{}
	p.structure = mimeparse.Encode(parsed)
	p.m = store.Message{
		AccountID: d.AccountID, Flags: store.NormalizeFlags(d.Flags),
		InternalDate: d.InternalDate, Size: body.size,
		EndsWithNewline: body.endsNewline,
		HeaderBytes:     parsed.HeaderBytes,
	}
	if p.m.InternalDate.IsZero() {
		p.m.InternalDate = time.Now()
	}
	// Kept to the second, in the fixed zone of its offset (what is
	// stored and read back).
	p.m.InternalDate = store.InZone(p.m.InternalDate.Truncate(time.Second), store.ZoneMinutes(p.m.InternalDate))
	return p, nil
}

// insertPrepared adds a prepared delivery inside a write transaction and
// returns the stored message.
func insertPrepared(w *wtx, p *preparedDelivery) (store.Message, error) {
	d, m := p.d, p.m
	size := p.body.size
	seen, deleted := flagBits(m.Flags)
	folderID := d.FolderID
	if folderID == 0 {
		if err := w.queryRow("SELECT id FROM folders WHERE account_id = $1 AND role = 'inbox'", d.AccountID).Scan(&folderID); err != nil {
			return m, notFound(err, fmt.Sprintf("inbox of account %d", d.AccountID))
		}
	}
	f, err := folderForUpdate(w, folderID)
	if err != nil {
		return m, err
	}
	if f.AccountID != d.AccountID {
		return m, fmt.Errorf("folder %d is not account %d's: %w", folderID, d.AccountID, store.ErrInvalid)
	}
	if !d.IgnoreQuota {
		if err := checkQuota(w, d.AccountID, size, 1); err != nil {
			return m, err
		}
	}
	if err := w.queryRow("INSERT INTO bodies (blob, data, size) VALUES ($1, $2, $3) RETURNING id",
		p.body.key, p.body.data, size).Scan(&m.BodyID); err != nil {
		return m, fmt.Errorf("insert body: %w", err)
	}
	if _, err := w.exec("INSERT INTO body_structures (body_id, structure) VALUES ($1, $2)", m.BodyID, p.structure); err != nil {
		return m, fmt.Errorf("insert body structure: %w", err)
	}
	w.index(m.BodyID, p.headers, p.text)
	if m.UID, err = allocUIDs(w, folderID, 1); err != nil {
		return m, err
	}
	if m.ModSeq, err = nextModSeq(w, folderID); err != nil {
		return m, err
	}
	m.FolderID = folderID
	if err := w.queryRow(`INSERT INTO messages (account_id, folder_id, uid, modseq, flags, seen, deleted, internal_date, size, body_id, ends_newline, internal_date_zone, header_bytes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		d.AccountID, folderID, m.UID, m.ModSeq, strings.Join(m.Flags, " "), seen, deleted, unix(m.InternalDate), size, m.BodyID, m.EndsWithNewline,
		store.ZoneMinutes(m.InternalDate), int64(m.HeaderBytes)).Scan(&m.ID); err != nil {
		return m, fmt.Errorf("insert message: %w", err)
	}
	if err := addUsage(w, d.AccountID, size, 1); err != nil {
		return m, err
	}
	return m, nil
}

// Deliver implements store.Store.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) (store.Message, error) {
	ms, err := s.deliver(ctx, func(yield func(store.Delivery, error) bool) { yield(d, nil) })
	if err != nil {
		return store.Message{}, err
	}
	return ms[0], nil
}

// DeliverBatch implements store.Store.
func (s *Store) DeliverBatch(ctx context.Context, deliveries iter.Seq2[store.Delivery, error]) ([]store.Message, error) {
	return s.deliver(ctx, deliveries)
}

// deliver writes every body of a batch, then inserts them all in one
// write request (one savepoint: all or nothing).
func (s *Store) deliver(ctx context.Context, deliveries iter.Seq2[store.Delivery, error]) (_ []store.Message, err error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var prepared []*preparedDelivery
	defer func() {
		if err != nil {
			for _, p := range prepared {
				s.removePrepared(p)
			}
		}
	}()
	var syncDirs []string
	for d, derr := range deliveries {
		if derr != nil {
			return nil, fmt.Errorf("deliver: %w", derr)
		}
		p, err := s.prepare(d)
		if err != nil {
			return nil, fmt.Errorf("deliver: %w", err)
		}
		prepared = append(prepared, p)
		if p.body.key != "" {
			if dir := s.blobs.dir(p.body.key); !slices.Contains(syncDirs, dir) {
				syncDirs = append(syncDirs, dir)
			}
		}
	}
	if len(prepared) == 0 {
		return nil, nil
	}
	out := make([]store.Message, len(prepared))
	err = s.update(ctx, func(w *wtx) error {
		for i, p := range prepared {
			m, err := insertPrepared(w, p)
			if err != nil {
				return err
			}
			out[i] = m
		}
		for _, ev := range store.NewMessageEvents(out) {
			w.publish(ev)
		}
		return nil
	}, syncDirs...)
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	return out, nil
}

// parseBody parses a freshly written body.
func (s *Store) parseBody(b storedBody) (*mimeparse.Message, error) {
	var r io.Reader = bytes.NewReader(b.data)
	if b.key != "" {
		f, err := s.blobs.open(b.key)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = bufio.NewReaderSize(f, 64<<10)
	}
	m, err := mimeparse.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parse body: %w", err)
	}
	return m, nil
}

// Messages implements store.Store.
func (s *Store) Messages(ctx context.Context, folderID int64) iter.Seq2[store.Message, error] {
	return func(yield func(store.Message, error) bool) {
		if err := s.checkOpen(); err != nil {
			yield(store.Message{}, err)
			return
		}
		rows, err := s.query(ctx, "SELECT "+messageColumns+" FROM messages WHERE folder_id = $1 ORDER BY uid", folderID)
		if err != nil {
			yield(store.Message{}, fmt.Errorf("list messages: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				yield(m, fmt.Errorf("list messages: %w", err))
				return
			}
			if !yield(m, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(store.Message{}, fmt.Errorf("list messages: %w", err))
		}
	}
}

// MessagesByUID implements store.Store.
func (s *Store) MessagesByUID(ctx context.Context, folderID int64, uids []uint32) ([]store.Message, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if lo, hi, ok := denseSpan(uids); ok {
		// A range scan reads the rows in order; the few in the range
		// that were not asked for are dropped here.
		rows, err := s.query(ctx, "SELECT "+messageColumns+
			" FROM messages WHERE folder_id = $1 AND uid BETWEEN $2 AND $3 ORDER BY uid", folderID, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("messages by UID: %w", err)
		}
		msgs, err := collectMessages(rows)
		if err != nil || len(msgs) == len(uids) {
			return msgs, err
		}
		want := slices.Clone(uids)
		slices.Sort(want)
		return slices.DeleteFunc(msgs, func(m store.Message) bool {
			_, found := slices.BinarySearch(want, m.UID)
			return !found
		}), nil
	}
	rows, err := s.query(ctx, "SELECT "+messageColumns+
		" FROM messages WHERE folder_id = $1 AND uid IN (SELECT value FROM json_each($2)) ORDER BY uid", folderID, uidList(uids))
	if err != nil {
		return nil, fmt.Errorf("messages by UID: %w", err)
	}
	return collectMessages(rows)
}

// denseSpan returns the smallest and largest of ids when they span at
// most twice as many values as there are ids (at least 16 of them), so
// that reading the whole range costs less than looking each one up.
func denseSpan[T uint32 | int64](ids []T) (lo, hi T, ok bool) {
	if len(ids) < 16 {
		return 0, 0, false
	}
	lo, hi = slices.Min(ids), slices.Max(ids)
	return lo, hi, uint64(hi-lo) < 2*uint64(len(ids))
}

type rowsLike interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}

func collectMessages(rows rowsLike) ([]store.Message, error) {
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("read messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	return out, nil
}

// MessageByID implements store.Store.
func (s *Store) MessageByID(ctx context.Context, id int64) (store.Message, error) {
	if err := s.checkOpen(); err != nil {
		return store.Message{}, err
	}
	m, err := scanMessage(s.queryRow(ctx, "SELECT "+messageColumns+" FROM messages WHERE id = $1", id))
	if err != nil {
		return m, notFound(err, fmt.Sprintf("message %d", id))
	}
	return m, nil
}

// OpenBody implements store.Store.
func (s *Store) OpenBody(ctx context.Context, m store.Message) (store.Body, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var key string
	var data []byte
	var size int64
	if err := s.queryRow(ctx, "SELECT blob, data, size FROM bodies WHERE id = $1", m.BodyID).Scan(&key, &data, &size); err != nil {
		return nil, notFound(err, fmt.Sprintf("body %d", m.BodyID))
	}
	if key == "" {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	if !validKey(key) {
		return nil, fmt.Errorf("body %d: bad blob name %q", m.BodyID, key)
	}
	f, err := s.blobs.open(key)
	if err != nil {
		return nil, err
	}
	return fileBody{File: f, size: size}, nil
}

// Structure implements store.Store.
func (s *Store) Structure(ctx context.Context, m store.Message) (*mimeparse.Message, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var raw []byte
	if err := s.queryRow(ctx, "SELECT structure FROM body_structures WHERE body_id = $1", m.BodyID).Scan(&raw); err != nil {
		return nil, notFound(err, fmt.Sprintf("body %d", m.BodyID))
	}
	p, err := mimeparse.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("body %d: decode structure: %w", m.BodyID, err)
	}
	return p, nil
}

// Structures implements store.Store.
func (s *Store) Structures(ctx context.Context, msgs []store.Message) (map[int64]*mimeparse.Message, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := make(map[int64]*mimeparse.Message, len(msgs))
	if len(msgs) == 0 {
		return out, nil
	}
	ids := store.BodyIDs(msgs)
	var rows *sql.Rows
	var err error
	lo, hi, dense := denseSpan(ids)
	if dense {
		// As in MessagesByUID: one range scan, the rows not asked for
		// dropped before decoding.
		slices.Sort(ids)
		rows, err = s.query(ctx, "SELECT body_id, structure FROM body_structures WHERE body_id BETWEEN $1 AND $2", lo, hi)
	} else {
		rows, err = s.query(ctx, "SELECT body_id, structure FROM body_structures WHERE body_id IN (SELECT value FROM json_each($1))", idList(ids))
	}
	if err != nil {
		return nil, fmt.Errorf("structures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var raw sql.RawBytes // valid until Next; Decode copies what it keeps
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("structures: %w", err)
		}
		if dense {
			if _, found := slices.BinarySearch(ids, id); !found {
				continue
			}
		}
		p, err := mimeparse.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("body %d: decode structure: %w", id, err)
		}
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("structures: %w", err)
	}
	return out, nil
}

// messagesForUpdate reads messages of a folder inside a write transaction.
func messagesForUpdate(w *wtx, folderID int64, uids []uint32) ([]store.Message, error) {
	rows, err := w.query("SELECT "+messageColumns+
		" FROM messages WHERE folder_id = $1 AND uid IN (SELECT value FROM json_each($2)) ORDER BY uid", folderID, uidList(uids))
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	return collectMessages(rows)
}

// applyFlags computes the flags after a change.
func applyFlags(cur []string, ch store.FlagChange) []string {
	switch ch.Op {
	case store.FlagsReplace:
		return store.NormalizeFlags(ch.Flags)
	case store.FlagsAdd:
		return store.NormalizeFlags(append(append([]string(nil), cur...), ch.Flags...))
	default:
		out := make([]string, 0, len(cur))
		rm := store.NormalizeFlags(ch.Flags)
		for _, f := range cur {
			if !(store.Message{Flags: rm}).HasFlag(f) {
				out = append(out, f)
			}
		}
		return out
	}
}

// SetFlags implements store.Store.
func (s *Store) SetFlags(ctx context.Context, folderID int64, uids []uint32, ch store.FlagChange) (store.FlagResult, error) {
	var res store.FlagResult
	err := s.update(ctx, func(w *wtx) error {
		res = store.FlagResult{}
		f, err := folderForUpdate(w, folderID)
		if err != nil {
			return err
		}
		msgs, err := messagesForUpdate(w, folderID, uids)
		if err != nil {
			return err
		}
		var modseq uint64
		for _, m := range msgs {
			if ch.UnchangedSince > 0 && m.ModSeq > ch.UnchangedSince {
				res.Failed = append(res.Failed, m.UID)
				continue
			}
			nf := applyFlags(m.Flags, ch)
			if strings.Join(nf, " ") == strings.Join(m.Flags, " ") {
				res.Changed = append(res.Changed, m)
				continue
			}
			if modseq == 0 {
				if modseq, err = nextModSeq(w, folderID); err != nil {
					return err
				}
			}
			m.Flags, m.ModSeq = nf, modseq
			seen, deleted := flagBits(nf)
			if _, err := w.exec("UPDATE messages SET flags = $1, seen = $2, deleted = $3, modseq = $4 WHERE id = $5",
				strings.Join(nf, " "), seen, deleted, modseq, m.ID); err != nil {
				return fmt.Errorf("set flags: %w", err)
			}
			res.Changed = append(res.Changed, m)
		}
		if modseq != 0 {
			w.publish(store.Event{AccountID: f.AccountID, FolderID: folderID, ModSeq: modseq, Kind: store.EventFlags})
		}
		return nil
	})
	if err != nil {
		return store.FlagResult{}, fmt.Errorf("set flags: %w", err)
	}
	return res, nil
}

// tombstone records expunged UIDs with the mod-sequence of their removal.
func tombstone(w *wtx, folderID int64, uids []uint32, modseq uint64) error {
	_, err := w.exec("INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) SELECT $1, value, $2 FROM json_each($3)",
		folderID, modseq, uidList(uids))
	if err != nil {
		return fmt.Errorf("record expunged: %w", err)
	}
	return nil
}

// Expunge implements store.Store.
func (s *Store) Expunge(ctx context.Context, folderID int64, uids []uint32) ([]uint32, error) {
	var gone []uint32
	err := s.update(ctx, func(w *wtx) error {
		gone = nil
		f, err := folderForUpdate(w, folderID)
		if err != nil {
			return err
		}
		msgs, err := messagesForUpdate(w, folderID, uids)
		if err != nil || len(msgs) == 0 {
			return err
		}
		modseq, err := nextModSeq(w, folderID)
		if err != nil {
			return err
		}
		var bytes int64
		bodies := make([]int64, 0, len(msgs))
		for _, m := range msgs {
			gone = append(gone, m.UID)
			bytes += m.Size
			bodies = append(bodies, m.BodyID)
		}
		if _, err := w.exec("DELETE FROM messages WHERE folder_id = $1 AND uid IN (SELECT value FROM json_each($2))", folderID, uidList(gone)); err != nil {
			return fmt.Errorf("delete messages: %w", err)
		}
		if err := tombstone(w, folderID, gone, modseq); err != nil {
			return err
		}
		if err := addUsage(w, f.AccountID, -bytes, -int64(len(gone))); err != nil {
			return err
		}
		w.publish(store.Event{AccountID: f.AccountID, FolderID: folderID, ModSeq: modseq, Kind: store.EventExpunged})
		return dropBodies(w, bodies)
	})
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	return gone, nil
}

// dropBodies deletes the bodies among ids that no message refers to any
// more, with their search rows; their files are removed after the commit.
func dropBodies(w *wtx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := w.query(`DELETE FROM bodies WHERE id IN (SELECT value FROM json_each($1))
		AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = bodies.id) RETURNING id, blob`, idList(ids))
	if err != nil {
		return fmt.Errorf("drop bodies: %w", err)
	}
	var dropped []int64
	var keys []string
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			rows.Close()
			return fmt.Errorf("drop bodies: %w", err)
		}
		dropped = append(dropped, id)
		keys = append(keys, key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("drop bodies: %w", err)
	}
	if len(dropped) == 0 {
		return nil
	}
	if _, err := w.exec("DELETE FROM search WHERE rowid IN (SELECT value FROM json_each($1))", idList(dropped)); err != nil {
		return fmt.Errorf("drop search rows: %w", err)
	}
	blobs := w.blobs
	w.afterCommit(func() {
		for _, k := range keys {
			if k != "" && validKey(k) {
				blobs.remove(k)
			}
		}
	})
	return nil
}

// bodiesOf lists the body ids of messages matching a condition, for
// dropBodies after a cascading delete.
func bodiesOf(w *wtx, where string, arg any) ([]int64, error) {
	rows, err := w.query("SELECT DISTINCT body_id FROM messages WHERE "+where, arg)
	if err != nil {
		return nil, fmt.Errorf("list bodies: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list bodies: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// sameAccountFolders checks that two folders exist and share an account.
func sameAccountFolders(w *wtx, src, dst int64) (store.Folder, store.Folder, error) {
	sf, err := folderForUpdate(w, src)
	if err != nil {
		return sf, store.Folder{}, err
	}
	df, err := folderForUpdate(w, dst)
	if err != nil {
		return sf, df, err
	}
	if sf.AccountID != df.AccountID {
		return sf, df, fmt.Errorf("folders %d and %d belong to different accounts: %w", src, dst, store.ErrInvalid)
	}
	return sf, df, nil
}

// Copy implements store.Store.
func (s *Store) Copy(ctx context.Context, src int64, uids []uint32, dst int64) ([]store.UIDPair, error) {
	var pairs []store.UIDPair
	err := s.update(ctx, func(w *wtx) error {
		pairs = nil
		_, df, err := sameAccountFolders(w, src, dst)
		if err != nil {
			return err
		}
		msgs, err := messagesForUpdate(w, src, uids)
		if err != nil || len(msgs) == 0 {
			return err
		}
		var bytes int64
		for _, m := range msgs {
			bytes += m.Size
		}
		if err := checkQuota(w, df.AccountID, bytes, int64(len(msgs))); err != nil {
			return err
		}
		first, err := allocUIDs(w, dst, len(msgs))
		if err != nil {
			return err
		}
		modseq, err := nextModSeq(w, dst)
		if err != nil {
			return err
		}
		for i, m := range msgs {
			uid := first + uint32(i)
			seen, deleted := flagBits(m.Flags)
			// A copy is a new message: POP3 offers it even if the
			// original was hidden from POP3.
			if _, err := w.exec(`INSERT INTO messages (account_id, folder_id, uid, modseq, flags, seen, deleted, internal_date, size, body_id, ends_newline, internal_date_zone, header_bytes)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				df.AccountID, dst, uid, modseq, strings.Join(m.Flags, " "), seen, deleted, unix(m.InternalDate), m.Size, m.BodyID, m.EndsWithNewline,
				store.ZoneMinutes(m.InternalDate), int64(m.HeaderBytes)); err != nil {
				return fmt.Errorf("copy message: %w", err)
			}
			pairs = append(pairs, store.UIDPair{Src: m.UID, Dst: uid})
		}
		if err := addUsage(w, df.AccountID, bytes, int64(len(msgs))); err != nil {
			return err
		}
		w.publish(store.Event{AccountID: df.AccountID, FolderID: dst, ModSeq: modseq, Kind: store.EventNewMessages})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return pairs, nil
}

// Move implements store.Store.
func (s *Store) Move(ctx context.Context, src int64, uids []uint32, dst int64) ([]store.UIDPair, error) {
	var pairs []store.UIDPair
	err := s.update(ctx, func(w *wtx) error {
		pairs = nil
		sf, df, err := sameAccountFolders(w, src, dst)
		if err != nil {
			return err
		}
		if src == dst {
			return fmt.Errorf("move into the same folder: %w", store.ErrInvalid)
		}
		msgs, err := messagesForUpdate(w, src, uids)
		if err != nil || len(msgs) == 0 {
			return err
		}
		first, err := allocUIDs(w, dst, len(msgs))
		if err != nil {
			return err
		}
		dstMod, err := nextModSeq(w, dst)
		if err != nil {
			return err
		}
		srcMod, err := nextModSeq(w, src)
		if err != nil {
			return err
		}
		moved := make([]uint32, 0, len(msgs))
		for i, m := range msgs {
			uid := first + uint32(i)
			if _, err := w.exec("UPDATE messages SET folder_id = $1, uid = $2, modseq = $3 WHERE id = $4", dst, uid, dstMod, m.ID); err != nil {
				return fmt.Errorf("move message: %w", err)
			}
			pairs = append(pairs, store.UIDPair{Src: m.UID, Dst: uid})
			moved = append(moved, m.UID)
		}
		if err := tombstone(w, src, moved, srcMod); err != nil {
			return err
		}
		w.publish(store.Event{AccountID: df.AccountID, FolderID: dst, ModSeq: dstMod, Kind: store.EventNewMessages})
		w.publish(store.Event{AccountID: sf.AccountID, FolderID: src, ModSeq: srcMod, Kind: store.EventExpunged})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	return pairs, nil
}

// Changes implements store.Store.
func (s *Store) Changes(ctx context.Context, folderID int64, since uint64) (store.Changes, error) {
	if err := s.checkOpen(); err != nil {
		return store.Changes{}, err
	}
	var ch store.Changes
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ch, fmt.Errorf("changes: %w", err)
	}
	defer tx.Rollback()
	rows, err := s.txQuery(ctx, tx, "SELECT "+messageColumns+" FROM messages WHERE folder_id = $1 AND modseq > $2 ORDER BY uid", folderID, since)
	if err != nil {
		return ch, fmt.Errorf("changes: %w", err)
	}
	if ch.Updated, err = collectMessages(rows); err != nil {
		return ch, fmt.Errorf("changes: %w", err)
	}
	urows, err := s.txQuery(ctx, tx, "SELECT uid FROM expunged WHERE folder_id = $1 AND modseq > $2 ORDER BY uid", folderID, since)
	if err != nil {
		return ch, fmt.Errorf("changes: %w", err)
	}
	defer urows.Close()
	for urows.Next() {
		var uid uint32
		if err := urows.Scan(&uid); err != nil {
			return ch, fmt.Errorf("changes: %w", err)
		}
		ch.Expunged = append(ch.Expunged, uid)
	}
	return ch, urows.Err()
}

// Search implements store.Store.
func (s *Store) Search(ctx context.Context, folderID int64, field store.SearchField, needle string) ([]uint32, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	n := strings.ToLower(needle)
	var cols []string
	switch field {
	case store.SearchHeaders:
		cols = []string{"headers"}
	case store.SearchBody:
		cols = []string{"body"}
	default:
		cols = []string{"headers", "body"}
	}
	if utf8.RuneCountInString(n) >= 3 && !strings.ContainsAny(n, `%_\\`) {
		return s.searchIndexed(ctx, folderID, cols, n)
	}
	// Too short for trigrams (or holding LIKE wildcards): scan the
	// folder's own rows.
	conds := make([]string, len(cols))
	for i, c := range cols {
		conds[i] = "instr(s." + c + ", $2) > 0"
	}
	q := "SELECT m.uid FROM messages m JOIN search s ON s.rowid = m.body_id WHERE m.folder_id = $1 AND (" +
		strings.Join(conds, " OR ") + ") ORDER BY m.uid"
	return s.queryUIDs(ctx, q, folderID, n)
}

// searchIndexed answers a search through the trigram index: first the
// bodies whose text matches (one indexed LIKE per column; planning the
// whole thing as one statement made SQLite scan far more), then the
// folder's messages with those bodies.
func (s *Store) searchIndexed(ctx context.Context, folderID int64, cols []string, needle string) ([]uint32, error) {
	var bodies []int64
	for _, c := range cols {
		rows, err := s.query(ctx, "SELECT rowid FROM search WHERE "+c+" LIKE $1", "%"+needle+"%")
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search: %w", err)
			}
			bodies = append(bodies, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	if len(bodies) == 0 {
		return nil, nil
	}
	return s.queryUIDs(ctx, "SELECT DISTINCT uid FROM messages WHERE folder_id = $1 AND body_id IN (SELECT value FROM json_each($2)) ORDER BY uid",
		folderID, idList(bodies))
}

// queryUIDs runs a query returning UIDs.
func (s *Store) queryUIDs(ctx context.Context, q string, args ...any) ([]uint32, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var uids []uint32
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		uids = append(uids, uid)
	}
	return uids, rows.Err()
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, accountID int64) (store.Usage, error) {
	if err := s.checkOpen(); err != nil {
		return store.Usage{}, err
	}
	var u store.Usage
	err := s.queryRow(ctx, "SELECT used_bytes, used_messages FROM accounts WHERE id = $1", accountID).Scan(&u.Bytes, &u.Messages)
	if err != nil {
		return u, notFound(err, fmt.Sprintf("account %d", accountID))
	}
	return u, nil
}

// HideFromPOP3 implements store.Store.
func (s *Store) HideFromPOP3(ctx context.Context, folderID int64, uids []uint32) error {
	return s.update(ctx, func(w *wtx) error {
		_, err := w.exec("UPDATE messages SET pop3_hidden = 1 WHERE folder_id = $1 AND uid IN (SELECT value FROM json_each($2))",
			folderID, uidList(uids))
		if err != nil {
			return fmt.Errorf("hide from POP3: %w", err)
		}
		return nil
	})
}
