package imapd

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/pochta-mail/pochta/internal/store"
)

// \Recent (RFC 3501 §2.3.2) exists for IMAP4rev1 sessions only; IMAP4rev2
// removed it. A message is recent in exactly one session: the first to
// SELECT the folder (or to be told of the message while it has the folder
// selected) after the message arrived claims it in the store
// (store.ClaimRecent). EXAMINE claims nothing: it shows as recent what no
// session has claimed yet and leaves it so. A session that has enabled
// IMAP4rev2 neither claims nor shows \Recent, so its messages stay recent
// for a rev1 client. \Recent is never stored as a flag.

// recentSet is the UIDs recent in this session: ascending, disjoint
// ranges.
type recentSet []seqRange

// add adds the UIDs from..to (nothing when from > to).
func (r *recentSet) add(from, to uint32) {
	if from > to || to == 0 {
		return
	}
	rs := append(*r, seqRange{from, to})
	// Ranges nearly always come in order (the store's mark only moves
	// forward); keep the set sorted and merged whatever happens.
	slices.SortFunc(rs, func(a, b seqRange) int { return cmp.Compare(a.lo, b.lo) })
	out := rs[:1]
	for _, rg := range rs[1:] {
		last := &out[len(out)-1]
		if rg.lo <= last.hi+1 {
			last.hi = max(last.hi, rg.hi)
			continue
		}
		out = append(out, rg)
	}
	*r = out
}

// contains reports whether uid is recent.
func (r recentSet) contains(uid uint32) bool {
	i := sort.Search(len(r), func(i int) bool { return r[i].hi >= uid })
	return i < len(r) && r[i].lo <= uid
}

// count counts the UIDs of uids (ascending) that are recent.
func (r recentSet) count(uids []uint32) int {
	n := 0
	for _, rg := range r {
		lo, _ := slices.BinarySearch(uids, rg.lo)
		hi, found := slices.BinarySearch(uids, rg.hi)
		if found {
			hi++
		}
		n += hi - lo
	}
	return n
}

// isRecent reports whether a message of the selected folder is \Recent
// for this session.
func (s *session) isRecent(uid uint32) bool {
	return !s.rev2 && s.sel != nil && s.sel.recent.contains(uid)
}

// flagsOf gives the flags to show for a message: the stored ones, and
// \Recent when it is recent in this session.
func (s *session) flagsOf(m store.Message) []string {
	if !s.isRecent(m.UID) {
		return m.Flags
	}
	return append(slices.Clip(m.Flags), `\Recent`)
}

// takeRecent makes the selected folder's unclaimed messages recent for this
// session: claimed for good after SELECT, only looked at after EXAMINE. f
// is the folder as read just before; lastUID the highest UID in view.
func (s *session) takeRecent(f store.Folder, lastUID uint32) error {
	mb := s.sel
	if s.rev2 || mb == nil {
		return nil
	}
	if mb.readOnly {
		mb.recent.add(f.RecentUID, max(f.UIDNext-1, lastUID))
		return nil
	}
	from, to, err := s.srv.opts.Store.ClaimRecent(s.ctx, mb.folder.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted under us: found out by the next refresh
	}
	if err != nil {
		return fmt.Errorf("claim recent messages: %w", err)
	}
	mb.recent.add(from, to)
	return nil
}

// recentCount is the RECENT count of the selected folder.
func (s *session) recentCount() int {
	if s.sel == nil {
		return 0
	}
	return s.sel.recent.count(s.sel.uids)
}

// mailboxGone ends a session whose selected folder was deleted or renamed
// by another session, as Dovecot does: an untagged BYE, then the
// connection closes. Going on would leave the client with sequence
// numbers and UIDs of a folder that no longer exists under its name.
func (s *session) mailboxGone(renamed bool) error {
	what := "deleted"
	if renamed {
		what = "renamed"
	}
	s.writef("* BYE Selected mailbox was %s by another session, please log in again\r\n", what)
	s.log.Info("selected mailbox gone; closing session", "account", s.acct.Address, "folder", s.sel.folder.Name, "why", what)
	return errLogout
}

// checkSelected looks at the selected folder after an event said folders
// changed: if it was deleted or renamed, the session ends (mailboxGone).
func (s *session) checkSelected() error {
	mb := s.sel
	if mb == nil || !mb.foldersChanged {
		return nil
	}
	mb.foldersChanged = false
	f, err := s.srv.opts.Store.FolderByID(s.ctx, mb.folder.ID)
	if errors.Is(err, store.ErrNotFound) {
		return s.mailboxGone(false)
	}
	if err != nil {
		return fmt.Errorf("refresh folder: %w", err)
	}
	if f.Name != mb.folder.Name {
		return s.mailboxGone(true)
	}
	return nil
}

// renamedSelected updates the selected folder's name after this session
// renamed it (or a folder above it) itself.
func (s *session) renamedSelected(from, to string) {
	if s.sel == nil {
		return
	}
	name := s.sel.folder.Name
	switch {
	case name == from:
		s.sel.folder.Name = to
	case len(name) > len(from) && name[:len(from)+1] == from+sep:
		s.sel.folder.Name = to + name[len(from):]
	}
}
