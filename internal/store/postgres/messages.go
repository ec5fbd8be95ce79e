package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

const messageColumns = "id, account_id, folder_id, uid, modseq, flags, internal_date, size, body_id, pop3_hidden, ends_newline, internal_date_zone, header_bytes"

func scanMessage(r scanner) (store.Message, error) {
	var m store.Message
	var zone, hb int16
	err := r.Scan(&m.ID, &m.AccountID, &m.FolderID, &m.UID, &m.ModSeq, &m.Flags, &m.InternalDate, &m.Size, &m.BodyID, &m.POP3Hidden, &m.EndsWithNewline, &zone, &hb)
	m.InternalDate = store.InZone(m.InternalDate, int(zone))
	if hb > 0 && hb <= int16(mimeparse.Headers8bit) {
		// Anything else is unknown: the structure decides.
		m.HeaderBytes = mimeparse.HeaderBytes(hb)
	}
	if m.Flags == nil {
		m.Flags = []string{}
	}
	return m, err
}

// collectMessages reads every row of a message query.
func collectMessages(rows pgx.Rows) ([]store.Message, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	return out, nil
}

// uidArray turns UIDs into a parameter for `uid = ANY($n)`.
func uidArray(uids []uint32) []int64 {
	out := make([]int64, len(uids))
	for i, u := range uids {
		out[i] = int64(u)
	}
	return out
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

// searchText prepares text for the search table: lowercase (as the
// needle), valid UTF-8, and without NUL, which PostgreSQL text cannot hold.
func searchText(s string) string {
	s = strings.ToValidUTF8(strings.ToLower(s), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", " ")
}

// lockFolders locks folder rows in id order (the order every write takes,
// so that writes do not deadlock) and returns them by id.
func lockFolders(w *wtx, ids ...int64) (map[int64]store.Folder, error) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	rows, err := w.Query(w.ctx, "SELECT "+folderColumns+" FROM folders WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE", sorted)
	if err != nil {
		return nil, fmt.Errorf("lock folders: %w", err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Folder, error) { return scanFolder(r) })
	if err != nil {
		return nil, fmt.Errorf("lock folders: %w", err)
	}
	out := make(map[int64]store.Folder, len(fs))
	for _, f := range fs {
		out[f.ID] = f
	}
	for _, id := range sorted {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("folder %d: %w", id, store.ErrNotFound)
		}
	}
	return out, nil
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

// allocUIDs reserves n consecutive UIDs in a folder with one new
// mod-sequence, and returns the first UID and the mod-sequence.
func allocUIDs(w *wtx, folderID int64, n int) (uint32, uint64, error) {
	var first uint32
	var modseq uint64
	err := w.queryRow(`UPDATE folders SET uid_next = uid_next + $1, highest_modseq = highest_modseq + 1 WHERE id = $2
		RETURNING uid_next - $1, highest_modseq`, n, folderID).Scan(&first, &modseq)
	if err != nil {
		return 0, 0, fmt.Errorf("allocate UIDs: %w", err)
	}
	return first, modseq, nil
}

// chargeUsage adds bytes and count to an account's usage, failing with
// ErrQuotaExceeded (and changing nothing) when that would take it over a
// quota, unless ignoreQuota. The check and the change are one statement on
// the locked account row, so concurrent deliveries from several nodes
// cannot overshoot.
func chargeUsage(w *wtx, accountID, bytes, count int64, ignoreQuota bool) error {
	var one int
	err := w.queryRow(`UPDATE accounts SET used_bytes = used_bytes + $2, used_messages = used_messages + $3
		WHERE id = $1 AND ($4 OR ((quota_bytes = 0 OR used_bytes + $2 <= quota_bytes)
			AND (quota_messages = 0 OR used_messages + $3 <= quota_messages)))
		RETURNING 1`, accountID, bytes, count, ignoreQuota).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("update usage: %w", err)
	}
	return quotaError(w, accountID)
}

// quotaError explains why an account's usage could not grow: it does not
// exist (ErrNotFound), else it is at its quota (ErrQuotaExceeded).
func quotaError(w *wtx, accountID int64) error {
	var used, usedN, quota, quotaN int64
	err := w.queryRow("SELECT used_bytes, used_messages, quota_bytes, quota_messages FROM accounts WHERE id = $1", accountID).
		Scan(&used, &usedN, &quota, &quotaN)
	if err != nil {
		return notFound(err, fmt.Sprintf("account %d", accountID))
	}
	return fmt.Errorf("account %d uses %d of %d bytes and %d of %d messages: %w",
		accountID, used, quota, usedN, quotaN, store.ErrQuotaExceeded)
}

// addUsage changes an account's usage counters without a quota check.
func addUsage(w *wtx, accountID, bytes, count int64) error {
	return chargeUsage(w, accountID, bytes, count, true)
}

// preparedDelivery is a message read, normalised and parsed, ready to be
// inserted. Its bytes are in data, or, for a body of a batch larger than
// spoolLimit, in a temporary file (so a batch never holds more than one
// large body in memory).
type preparedDelivery struct {
	d         store.Delivery
	data      []byte
	file      string
	size      int64
	headers   string
	text      string
	structure []byte
	m         store.Message
}

// spoolLimit is the largest body of a batch kept in memory until the
// batch is inserted.
const spoolLimit = 128 << 10

// cleanup removes a prepared delivery's temporary file.
func (p *preparedDelivery) cleanup() {
	if p.file != "" {
		os.Remove(p.file)
	}
}

// bytes returns the body, reading it back from its file if spooled.
func (p *preparedDelivery) bytes() ([]byte, error) {
	if p.file == "" {
		return p.data, nil
	}
	b, err := os.ReadFile(p.file)
	if err != nil {
		return nil, fmt.Errorf("read spooled body: %w", err)
	}
	return b, nil
}

// spoolWriter keeps up to spoolLimit bytes in memory, then moves them to a
// temporary file and writes the rest there.
type spoolWriter struct {
	buf bytes.Buffer
	f   *os.File
	n   int64
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w.f == nil && w.buf.Len()+len(p) > spoolLimit {
		f, err := os.CreateTemp("", "pochta-deliver-*")
		if err != nil {
			return 0, fmt.Errorf("spool body: %w", err)
		}
		w.f = f
		if _, err := f.Write(w.buf.Bytes()); err != nil {
			return 0, fmt.Errorf("spool body: %w", err)
		}
		w.buf = bytes.Buffer{}
	}
	w.n += int64(len(p))
	if w.f != nil {
		return w.f.Write(p)
	}
	return w.buf.Write(p)
}

// prepare reads, normalises and parses one delivery's body; with spool,
// a large body goes to a temporary file.
func prepare(d store.Delivery, spool bool) (_ *preparedDelivery, err error) {
	p := &preparedDelivery{d: d}
	defer func() {
		if err != nil {
			p.cleanup()
		}
	}()
	var sw spoolWriter
	var dst io.Writer = &sw.buf
	if spool {
		dst = &sw
	}
	nw := mimeparse.NormalizeCRLF(dst)
	_, err = io.Copy(nw, d.Body)
	if err == nil {
		err = nw.Close()
	}
	if sw.f != nil {
		p.file = sw.f.Name()
		if cerr := sw.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	var parsed *mimeparse.Message
	if p.file == "" {
		p.data = sw.buf.Bytes()
		p.size = int64(len(p.data))
		parsed, err = mimeparse.Parse(bytes.NewReader(p.data))
	} else {
		p.size = sw.n
		var f *os.File
		if f, err = os.Open(p.file); err != nil {
			return nil, fmt.Errorf("read spooled body: %w", err)
		}
		parsed, err = mimeparse.Parse(bufio.NewReaderSize(f, 64<<10))
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("parse body: %w", err)
	}
	p.headers = searchText(parsed.Text.Headers)
	p.text = searchText(parsed.Text.Body)
	parsed.Text = mimeparse.SearchText{}
	p.structure = mimeparse.Encode(parsed)
	p.m = store.Message{
		AccountID: d.AccountID, Flags: store.NormalizeFlags(d.Flags),
		InternalDate: d.InternalDate, Size: p.size,
		HeaderBytes: parsed.HeaderBytes,
	}
	if p.m.InternalDate.IsZero() {
		p.m.InternalDate = time.Now()
	}
	// Kept to the second, in the fixed zone of its offset (what is
	// stored and read back).
	p.m.InternalDate = store.InZone(p.m.InternalDate.Truncate(time.Second), store.ZoneMinutes(p.m.InternalDate))
	return p, nil
}

// insertPrepared stores a prepared delivery inside a write transaction.
// The body and its search text go in first, before any row another writer
// waits for is locked (indexing the text is the slow part). Then one
// statement takes the folder row (UID, mod-sequence), the account row
// (usage, if the quota allows) and inserts the message, each step only if
// the one before produced a row; when none comes back, diagnoseDelivery
// says why and the transaction rolls back. key is the blob key the body
// got ("" when kept inline).
func (s *Store) insertPrepared(w *wtx, p *preparedDelivery) (m store.Message, key string, err error) {
	d := p.d
	m = p.m
	data, err := p.bytes()
	if err != nil {
		return m, "", err
	}
	key, inline, err := s.blobs.put(w.ctx, data)
	if err != nil {
		return m, "", fmt.Errorf("store body: %w", err)
	}
	column := key // what bodies.blob names
	if key == "" && int64(len(inline)) > s.largeObjectMin {
		// Written in this transaction: a rollback removes it, so the
		// caller gets no key to remove.
		if column, err = putLargeObject(w, inline); err != nil {
			return m, "", fmt.Errorf("store body: %w", err)
		}
		inline = nil
	}
	m.EndsWithNewline = len(data) == 0 || data[len(data)-1] == '\n'
	seen, deleted := flagBits(m.Flags)
	folderCond := "id = $1 AND account_id = $2"
	if d.FolderID == 0 {
		folderCond = "account_id = $2 AND role = 'inbox' AND $1 = 0"
	}
	q := `WITH f AS (UPDATE folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
			WHERE ` + folderCond + ` RETURNING id, uid_next - 1 AS uid, highest_modseq AS modseq),
		a AS (UPDATE accounts SET used_bytes = used_bytes + $3, used_messages = used_messages + 1
			WHERE id = $2 AND EXISTS (SELECT 1 FROM f) AND ($4 OR ((quota_bytes = 0 OR used_bytes + $3 <= quota_bytes)
				AND (quota_messages = 0 OR used_messages + 1 <= quota_messages)))
			RETURNING id)
		INSERT INTO messages (account_id, folder_id, uid, modseq, flags, seen, deleted, internal_date, size, body_id, ends_newline, internal_date_zone, header_bytes)
		SELECT $2, f.id, f.uid, f.modseq, $5, $6, $7, $8, $3, $9, $10, $11, $12 FROM f, a
		RETURNING id, folder_id, uid, modseq`
	var largeObject *uint32 // bodies.large_object: see blobs.go
	if isLargeObject(column) {
		oid, err := largeObjectOID(column)
		if err != nil {
			return m, "", fmt.Errorf("store body: %w", err)
		}
		largeObject = &oid
	}
	if err := w.queryRow(`WITH b AS (INSERT INTO bodies (blob, data, size, structure, large_object) VALUES ($1, $2, $3, $4, $7) RETURNING id),
		t AS (INSERT INTO search (body_id, headers, body) SELECT id, $5, $6 FROM b)
		SELECT id FROM b`, column, inline, p.size, p.structure, p.headers, p.text, largeObject).Scan(&m.BodyID); err != nil {
		return m, key, fmt.Errorf("insert body: %w", err)
	}
	err = w.queryRow(q, d.FolderID, d.AccountID, p.size, d.IgnoreQuota,
		m.Flags, seen, deleted, m.InternalDate, m.BodyID, m.EndsWithNewline, int16(store.ZoneMinutes(m.InternalDate)), int16(m.HeaderBytes)).Scan(&m.ID, &m.FolderID, &m.UID, &m.ModSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, key, diagnoseDelivery(w, d)
	}
	if err != nil {
		return m, key, fmt.Errorf("insert message: %w", err)
	}
	return m, key, nil
}

// Deliver implements store.Store.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) (store.Message, error) {
	ms, err := s.deliver(ctx, func(yield func(store.Delivery, error) bool) { yield(d, nil) }, false)
	if err != nil {
		return store.Message{}, err
	}
	return ms[0], nil
}

// DeliverBatch implements store.Store.
func (s *Store) DeliverBatch(ctx context.Context, deliveries iter.Seq2[store.Delivery, error]) ([]store.Message, error) {
	return s.deliver(ctx, deliveries, true)
}

// deliver reads and parses every body of a batch, then inserts them all in
// one transaction.
func (s *Store) deliver(ctx context.Context, deliveries iter.Seq2[store.Delivery, error], spool bool) ([]store.Message, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var prepared []*preparedDelivery
	defer func() {
		for _, p := range prepared {
			p.cleanup()
		}
	}()
	for d, derr := range deliveries {
		if derr != nil {
			return nil, fmt.Errorf("deliver: %w", derr)
		}
		p, err := prepare(d, spool)
		if err != nil {
			return nil, fmt.Errorf("deliver: %w", err)
		}
		prepared = append(prepared, p)
	}
	if len(prepared) == 0 {
		return nil, nil
	}
	out := make([]store.Message, len(prepared))
	var keys []string
	err := s.update(ctx, func(w *wtx) error {
		for i, p := range prepared {
			m, key, err := s.insertPrepared(w, p)
			if key != "" {
				keys = append(keys, key)
			}
			if err != nil {
				return err
			}
			out[i] = m
		}
		for _, ev := range store.NewMessageEvents(out) {
			w.publish(ev)
		}
		return nil
	})
	if err != nil {
		if len(keys) > 0 {
			s.blobs.remove(context.WithoutCancel(ctx), keys)
		}
		return nil, fmt.Errorf("deliver: %w", err)
	}
	return out, nil
}

// diagnoseDelivery finds why the delivery statement stored nothing: no
// such folder, a folder of another account, or the quota.
func diagnoseDelivery(w *wtx, d store.Delivery) error {
	var folderID, owner int64
	var err error
	if d.FolderID == 0 {
		err = w.queryRow("SELECT id, account_id FROM folders WHERE account_id = $1 AND role = 'inbox'", d.AccountID).Scan(&folderID, &owner)
		if err != nil {
			return notFound(err, fmt.Sprintf("inbox of account %d", d.AccountID))
		}
	} else {
		err = w.queryRow("SELECT id, account_id FROM folders WHERE id = $1", d.FolderID).Scan(&folderID, &owner)
		if err != nil {
			return notFound(err, fmt.Sprintf("folder %d", d.FolderID))
		}
	}
	if owner != d.AccountID {
		return fmt.Errorf("folder %d is not account %d's: %w", folderID, d.AccountID, store.ErrInvalid)
	}
	// The folder is the account's: the account row refused the usage.
	return quotaError(w, d.AccountID)
}

// Messages implements store.Store.
func (s *Store) Messages(ctx context.Context, folderID int64) iter.Seq2[store.Message, error] {
	return func(yield func(store.Message, error) bool) {
		if err := s.checkOpen(); err != nil {
			yield(store.Message{}, err)
			return
		}
		rows, err := s.pool.Query(ctx, "SELECT "+messageColumns+" FROM messages WHERE folder_id = $1 ORDER BY uid", folderID)
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
	rows, err := s.pool.Query(ctx, "SELECT "+messageColumns+" FROM messages WHERE folder_id = $1 AND uid = ANY($2) ORDER BY uid",
		folderID, uidArray(uids))
	if err != nil {
		return nil, fmt.Errorf("messages by UID: %w", err)
	}
	return collectMessages(rows)
}

// MessageByID implements store.Store.
func (s *Store) MessageByID(ctx context.Context, id int64) (store.Message, error) {
	if err := s.checkOpen(); err != nil {
		return store.Message{}, err
	}
	m, err := scanMessage(s.pool.QueryRow(ctx, "SELECT "+messageColumns+" FROM messages WHERE id = $1", id))
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
	if err := s.pool.QueryRow(ctx, "SELECT blob, data, size FROM bodies WHERE id = $1", m.BodyID).Scan(&key, &data, &size); err != nil {
		return nil, notFound(err, fmt.Sprintf("body %d", m.BodyID))
	}
	if key == "" {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	var b store.Body
	var err error
	if isLargeObject(key) {
		b, err = openLargeObject(ctx, s.pool, key, size)
	} else {
		b, err = s.blobs.open(ctx, key, size)
	}
	if err != nil {
		return nil, fmt.Errorf("body %d: %w", m.BodyID, err)
	}
	return b, nil
}

// Structure implements store.Store.
func (s *Store) Structure(ctx context.Context, m store.Message) (*mimeparse.Message, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var raw []byte
	if err := s.pool.QueryRow(ctx, "SELECT structure FROM bodies WHERE id = $1", m.BodyID).Scan(&raw); err != nil {
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
	rows, err := s.pool.Query(ctx, "SELECT id, structure FROM bodies WHERE id = ANY($1)", store.BodyIDs(msgs))
	if err != nil {
		return nil, fmt.Errorf("structures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var raw pgtype.DriverBytes // valid until Next; Decode copies what it keeps
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("structures: %w", err)
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

// messagesForUpdate reads and locks messages of a folder inside a write
// transaction, in UID order.
func messagesForUpdate(w *wtx, folderID int64, uids []uint32) ([]store.Message, error) {
	rows, err := w.Query(w.ctx, "SELECT "+messageColumns+
		" FROM messages WHERE folder_id = $1 AND uid = ANY($2) ORDER BY uid FOR UPDATE", folderID, uidArray(uids))
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
		fs, err := lockFolders(w, folderID)
		if err != nil {
			return err
		}
		f := fs[folderID]
		msgs, err := messagesForUpdate(w, folderID, uids)
		if err != nil {
			return err
		}
		var modseq uint64
		var ids []int64
		var flags []string
		for _, m := range msgs {
			if ch.UnchangedSince > 0 && m.ModSeq > ch.UnchangedSince {
				res.Failed = append(res.Failed, m.UID)
				continue
			}
			nf := applyFlags(m.Flags, ch)
			if slices.Equal(nf, m.Flags) {
				res.Changed = append(res.Changed, m)
				continue
			}
			if modseq == 0 {
				if modseq, err = nextModSeq(w, folderID); err != nil {
					return err
				}
			}
			m.Flags, m.ModSeq = nf, modseq
			ids = append(ids, m.ID)
			flags = append(flags, strings.Join(nf, " "))
			res.Changed = append(res.Changed, m)
		}
		if modseq == 0 {
			return nil
		}
		// One statement for every changed message: the new flags travel as
		// space-joined strings (flags never contain spaces).
		if _, err := w.exec(`UPDATE messages m SET flags = c.flags, seen = '\Seen' = ANY(c.flags),
				deleted = '\Deleted' = ANY(c.flags), modseq = $3
			FROM (SELECT id, CASE WHEN f = '' THEN '{}'::text[] ELSE string_to_array(f, ' ') END AS flags
				FROM unnest($1::bigint[], $2::text[]) AS u(id, f)) AS c
			WHERE m.id = c.id`, ids, flags, modseq); err != nil {
			return fmt.Errorf("set flags: %w", err)
		}
		w.publish(store.Event{AccountID: f.AccountID, FolderID: folderID, ModSeq: modseq, Kind: store.EventFlags})
		return nil
	})
	if err != nil {
		return store.FlagResult{}, fmt.Errorf("set flags: %w", err)
	}
	return res, nil
}

// tombstone records expunged UIDs with the mod-sequence of their removal.
func tombstone(w *wtx, folderID int64, uids []uint32, modseq uint64) error {
	_, err := w.exec(`INSERT INTO expunged (folder_id, uid, modseq) SELECT $1, u, $2 FROM unnest($3::bigint[]) AS u
		ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = excluded.modseq`,
		folderID, modseq, uidArray(uids))
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
		fs, err := lockFolders(w, folderID)
		if err != nil {
			return err
		}
		f := fs[folderID]
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
		ids := make([]int64, 0, len(msgs))
		for _, m := range msgs {
			gone = append(gone, m.UID)
			bytes += m.Size
			bodies = append(bodies, m.BodyID)
			ids = append(ids, m.ID)
		}
		if _, err := w.exec("DELETE FROM messages WHERE id = ANY($1)", ids); err != nil {
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
// more (their search rows go with them); blobs kept outside the database
// are removed after the commit. The bodies are locked first, in id order,
// so that two transactions dropping the last two references to one body
// see each other's deletes instead of each keeping the body for the other.
func dropBodies(w *wtx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if _, err := w.exec("SELECT id FROM bodies WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids); err != nil {
		return fmt.Errorf("drop bodies: %w", err)
	}
	rows, err := w.Query(w.ctx, `DELETE FROM bodies b WHERE id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = b.id) RETURNING blob`, ids)
	if err != nil {
		return fmt.Errorf("drop bodies: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("drop bodies: %w", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "" })
	// Large objects go in this transaction, the rest after the commit.
	if keys, err = unlinkLargeObjects(w, keys); err != nil {
		return fmt.Errorf("drop bodies: %w", err)
	}
	if len(keys) > 0 {
		blobs, ctx := w.store.blobs, context.WithoutCancel(w.ctx)
		log := w.store.log
		w.afterCommit(func() {
			if err := blobs.remove(ctx, keys); err != nil {
				log.Warn("store: cannot remove bodies", "err", err)
			}
		})
	}
	return nil
}

// bodiesOf lists the body ids of messages matching a condition, for
// dropBodies after a cascading delete.
func bodiesOf(w *wtx, where string, arg any) ([]int64, error) {
	rows, err := w.Query(w.ctx, "SELECT DISTINCT body_id FROM messages WHERE "+where, arg)
	if err != nil {
		return nil, fmt.Errorf("list bodies: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list bodies: %w", err)
	}
	return ids, nil
}

// sameAccountFolders locks two folders and checks that they share an
// account.
func sameAccountFolders(w *wtx, src, dst int64) (store.Folder, store.Folder, error) {
	fs, err := lockFolders(w, src, dst)
	if err != nil {
		return store.Folder{}, store.Folder{}, err
	}
	sf, df := fs[src], fs[dst]
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
		first, modseq, err := allocUIDs(w, dst, len(msgs))
		if err != nil {
			return err
		}
		// A copy is a new message: POP3 offers it even if the original
		// was hidden from POP3.
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
			pairs = append(pairs, store.UIDPair{Src: m.UID, Dst: first + uint32(i)})
		}
		if _, err := w.exec(`INSERT INTO messages (account_id, folder_id, uid, modseq, flags, seen, deleted, internal_date, size, body_id, ends_newline, internal_date_zone, header_bytes)
			SELECT account_id, $1, $2 + row_number() OVER (ORDER BY uid) - 1, $3, flags, seen, deleted, internal_date, size, body_id, ends_newline, internal_date_zone, header_bytes
			FROM messages WHERE id = ANY($4)`, dst, int64(first), modseq, ids); err != nil {
			return fmt.Errorf("copy messages: %w", err)
		}
		if err := chargeUsage(w, df.AccountID, bytes, int64(len(msgs)), false); err != nil {
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
		first, dstMod, err := allocUIDs(w, dst, len(msgs))
		if err != nil {
			return err
		}
		srcMod, err := nextModSeq(w, src)
		if err != nil {
			return err
		}
		ids := make([]int64, len(msgs))
		moved := make([]uint32, len(msgs))
		for i, m := range msgs {
			ids[i], moved[i] = m.ID, m.UID
			pairs = append(pairs, store.UIDPair{Src: m.UID, Dst: first + uint32(i)})
		}
		if _, err := w.exec(`UPDATE messages m SET folder_id = $1, uid = $2 + u.i - 1, modseq = $3
			FROM unnest($4::bigint[]) WITH ORDINALITY AS u(id, i) WHERE m.id = u.id`,
			dst, int64(first), dstMod, ids); err != nil {
			return fmt.Errorf("move messages: %w", err)
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
	var ch store.Changes
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+messageColumns+" FROM messages WHERE folder_id = $1 AND modseq > $2 ORDER BY uid", folderID, int64(since))
		if err != nil {
			return err
		}
		if ch.Updated, err = collectMessages(rows); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, "SELECT uid FROM expunged WHERE folder_id = $1 AND modseq > $2 ORDER BY uid", folderID, int64(since))
		if err != nil {
			return err
		}
		ch.Expunged, err = pgx.CollectRows(rows, pgx.RowTo[uint32])
		return err
	})
	if err != nil {
		return store.Changes{}, fmt.Errorf("changes: %w", err)
	}
	return ch, nil
}

// escapeLike escapes LIKE's wildcards and its escape character.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Search implements store.Store.
func (s *Store) Search(ctx context.Context, folderID int64, field store.SearchField, needle string) ([]uint32, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	n := searchText(needle)
	var cols []string
	switch field {
	case store.SearchHeaders:
		cols = []string{"headers"}
	case store.SearchBody:
		cols = []string{"body"}
	default:
		cols = []string{"headers", "body"}
	}
	conds := make([]string, len(cols))
	var arg string
	if utf8.RuneCountInString(n) >= 3 {
		// Three characters or more: the trigram indexes can answer.
		arg = "%" + escapeLike(n) + "%"
		for i, c := range cols {
			conds[i] = "t." + c + " LIKE $2"
		}
	} else {
		// Too short for trigrams: scan the folder's own rows.
		arg = n
		for i, c := range cols {
			conds[i] = "strpos(t." + c + ", $2) > 0"
		}
	}
	q := "SELECT DISTINCT m.uid FROM messages m JOIN search t ON t.body_id = m.body_id WHERE m.folder_id = $1 AND (" +
		strings.Join(conds, " OR ") + ") ORDER BY m.uid"
	rows, err := s.pool.Query(ctx, q, folderID, arg)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	uids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return uids, nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, accountID int64) (store.Usage, error) {
	if err := s.checkOpen(); err != nil {
		return store.Usage{}, err
	}
	var u store.Usage
	err := s.pool.QueryRow(ctx, "SELECT used_bytes, used_messages FROM accounts WHERE id = $1", accountID).Scan(&u.Bytes, &u.Messages)
	if err != nil {
		return u, notFound(err, fmt.Sprintf("account %d", accountID))
	}
	return u, nil
}

// HideFromPOP3 implements store.Store.
func (s *Store) HideFromPOP3(ctx context.Context, folderID int64, uids []uint32) error {
	return s.update(ctx, func(w *wtx) error {
		_, err := w.exec("UPDATE messages SET pop3_hidden = true WHERE folder_id = $1 AND uid = ANY($2)", folderID, uidArray(uids))
		if err != nil {
			return fmt.Errorf("hide from POP3: %w", err)
		}
		return nil
	})
}
