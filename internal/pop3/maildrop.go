package pop3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/pochta-mail/pochta/internal/store"
)

// errNoFolders reports that none of the folders an account's POP3 serves
// exists.
var errNoFolders = errors.New("no folder to serve")

// entry is one message of the maildrop as fixed at login.
type entry struct {
	msg store.Message
	// size is the message's size as RETR sends it (before byte-stuffing):
	// the stored size, plus the CRLF that RETR adds when the message does
	// not end with a line ending.
	size    int64
	deleted bool
	// downgrade: the session did not issue UTF8 and the message has
	// UTF-8 headers; RETR and TOP send it downgraded (RFC 6856, RFC 6857)
	// and size counts the downgraded octets.
	downgrade bool
}

// maildrop is the message list of a session, fixed at login: mail that
// arrives later is offered in the next session.
type maildrop struct {
	msgs    []entry
	folders map[int64]store.Folder // the folders served, by id
	expire  int                    // EXPIRE days, -1 for NEVER
}

// uniqueID is the UIDL of a message: its store id, which is printable,
// stable, kept across folder moves and never reused.
func uniqueID(m store.Message) string {
	return strconv.FormatInt(m.ID, 10)
}

// deleteAction is an account's POP3 delete action with the default
// filled in.
func deleteAction(a store.Account) store.POP3DeleteAction {
	if a.Settings.POP3Delete == "" {
		return store.POP3DeleteTrash
	}
	return a.Settings.POP3Delete
}

// openMaildrop lists the messages POP3 offers an account: those of the
// folders it serves (the inbox unless set otherwise), without the ones
// hidden from POP3 and, with a "since" setting, without mail that arrived
// before it, ordered by id (arrival order, whatever the folder). For a
// session without UTF8, messages with UTF-8 headers are sized as they
// are sent, downgraded.
func (s *Server) openMaildrop(ctx context.Context, acct store.Account, utf8 bool, log *slog.Logger) (*maildrop, error) {
	names := acct.Settings.POP3Folders
	if len(names) == 0 {
		names = []string{"INBOX"}
	}
	d := &maildrop{folders: make(map[int64]store.Folder)}
	var roles []store.Role
	for _, name := range names {
		f, err := s.opts.Store.Folder(ctx, acct.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			log.Warn("pop3: a folder the account's POP3 serves does not exist; skipped", "folder", name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", name, err)
		}
		if _, dup := d.folders[f.ID]; dup {
			continue
		}
		d.folders[f.ID] = f
		roles = append(roles, f.Role)
		for m, err := range s.opts.Store.Messages(ctx, f.ID) {
			if err != nil {
				return nil, fmt.Errorf("list folder %q: %w", name, err)
			}
			if m.POP3Hidden {
				continue
			}
			if since := acct.Settings.POP3Since; !since.IsZero() && m.InternalDate.Before(since) {
				continue
			}
			d.msgs = append(d.msgs, entry{msg: m, size: servedSize(m)})
		}
	}
	if len(d.folders) == 0 {
		return nil, errNoFolders
	}
	slices.SortFunc(d.msgs, func(a, b entry) int { return cmpInt64(a.msg.ID, b.msg.ID) })
	if !utf8 {
		if err := s.sizeDowngraded(ctx, d, log); err != nil {
			return nil, err
		}
	}
	d.expire = s.expireDays(roles)
	return d, nil
}

// servedSize is the size of a message as RETR sends it. RFC 1939 needs the
// terminating "." on a line of its own, so writeMessage adds a CRLF to a
// message whose last line has none, and LIST, STAT and RETR's "+OK n
// octets" must count it. The store records at delivery whether the
// message ends with a line break, so no body is opened at login.
func servedSize(m store.Message) int64 {
	if m.EndsWithNewline || m.Size == 0 {
		return m.Size
	}
	return m.Size + 2
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stat counts the messages not marked deleted and their octets.
func (d *maildrop) stat() (n int, size int64) {
	for _, m := range d.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// reset unmarks every message and returns how many were marked.
func (d *maildrop) reset() int {
	n := 0
	for i := range d.msgs {
		if d.msgs[i].deleted {
			d.msgs[i].deleted = false
			n++
		}
	}
	return n
}

// markedCount counts the messages marked deleted.
func (d *maildrop) markedCount() int {
	if d == nil {
		return 0
	}
	n := 0
	for _, m := range d.msgs {
		if m.deleted {
			n++
		}
	}
	return n
}

// markSeen sets \Seen on a message where it is now (another client may
// have moved it). Failures are logged: the client has its message.
func (s *Server) markSeen(ctx context.Context, m store.Message, log *slog.Logger) {
	cur, err := s.opts.Store.MessageByID(ctx, m.ID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			log.Error("pop3 mark seen", "id", m.ID, "err", err)
		}
		return
	}
	if cur.HasFlag(store.FlagSeen) {
		return
	}
	if _, err := s.opts.Store.SetFlags(ctx, cur.FolderID, []uint32{cur.UID},
		store.FlagChange{Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); err != nil {
		log.Error("pop3 mark seen", "id", m.ID, "err", err)
	}
}

// applyDeletions is the UPDATE state: it applies the account's delete
// action to the messages marked deleted, where they are now. Messages
// another client removed meanwhile, or moved out of the folders POP3
// serves, are left alone. It returns how many messages it dealt with.
func (s *Server) applyDeletions(ctx context.Context, acct store.Account, d *maildrop, log *slog.Logger) (int, error) {
	// Group the marked messages by the folder they are in now.
	byFolder := make(map[int64][]uint32)
	var order []int64
	for _, e := range d.msgs {
		if !e.deleted {
			continue
		}
		cur, err := s.opts.Store.MessageByID(ctx, e.msg.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("find message %d: %w", e.msg.ID, err)
		}
		if _, served := d.folders[cur.FolderID]; !served || cur.AccountID != acct.ID {
			continue
		}
		if _, seen := byFolder[cur.FolderID]; !seen {
			order = append(order, cur.FolderID)
		}
		byFolder[cur.FolderID] = append(byFolder[cur.FolderID], cur.UID)
	}
	if len(order) == 0 {
		return 0, nil
	}
	action := deleteAction(acct)
	var trash store.Folder
	if action == store.POP3DeleteTrash {
		var err error
		trash, err = s.opts.Store.FolderByRole(ctx, acct.ID, store.RoleTrash)
		if errors.Is(err, store.ErrNotFound) {
			// No Trash folder: keep the mail rather than lose it.
			log.Warn("pop3: account has no Trash folder; DELE keeps messages on the server instead")
			action = store.POP3DeleteKeep
		} else if err != nil {
			return 0, fmt.Errorf("find Trash: %w", err)
		}
	}
	done := 0
	for _, fid := range order {
		uids := byFolder[fid]
		var err error
		switch {
		case action == store.POP3DeleteKeep:
			err = s.opts.Store.HideFromPOP3(ctx, fid, uids)
		case action == store.POP3DeleteExpunge || fid == trash.ID:
			// Deleting from Trash itself (when POP3 serves it) deletes.
			_, err = s.opts.Store.Expunge(ctx, fid, uids)
		default:
			_, err = s.opts.Store.Move(ctx, fid, uids, trash.ID)
		}
		if err != nil {
			return done, fmt.Errorf("%s %d messages in folder %q: %w", action, len(uids), d.folders[fid].Name, err)
		}
		done += len(uids)
	}
	return done, nil
}
