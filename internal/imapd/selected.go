package imapd

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// mailbox is the session's view of the selected folder.
type mailbox struct {
	folder   store.Folder
	readOnly bool
	// uids maps sequence numbers to UIDs: uids[seq-1], ascending.
	uids []uint32
	// modseq is the highest mod-sequence whose changes the session has
	// taken in.
	modseq uint64
	// expunged holds UIDs removed by others but not yet announced
	// (EXPUNGE cannot be sent during FETCH, STORE and SEARCH).
	expunged map[uint32]bool
	// flagsSent records the mod-sequence of flags this session already
	// reported for a UID, so its own changes are not echoed again.
	flagsSent map[uint32]uint64
	// dirty is set by a store event for this folder.
	dirty bool
	// keywords are the keywords announced in FLAGS.
	keywords map[string]bool
	// saved is the SEARCHRES result ("$"), as UIDs.
	saved []uint32
	// recent is what is \Recent in this session (recent.go).
	recent recentSet
	// foldersChanged is set by a folder event (create, rename, delete)
	// for this folder: checkSelected looks whether it still exists.
	foldersChanged bool
	// contexts are the SEARCH and SORT results kept up to date (RFC
	// 5267 UPDATE, context.go); ctxModSeq is the mod-sequence they
	// were last brought up to.
	contexts  []*searchContext
	ctxModSeq uint64
}

// seqOf returns the sequence number of a UID, or 0.
func (mb *mailbox) seqOf(uid uint32) int {
	i, ok := slices.BinarySearch(mb.uids, uid)
	if !ok {
		return 0
	}
	return i + 1
}

// systemFlags are the flags every folder supports.
var systemFlags = []string{store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagSeen, store.FlagDraft}

// addKeywords records the keywords among flags that the session has not
// announced yet and reports whether there were any: the caller then sends
// flagsLine before the response that shows them (RFC 3501 §7.2.6, RFC
// 9051 §7.3.5: a client learns the flags of a mailbox from FLAGS).
func (mb *mailbox) addKeywords(flags []string) bool {
	added := false
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) && !mb.keywords[f] {
			mb.keywords[f] = true
			added = true
		}
	}
	return added
}

// flagsLine is the untagged FLAGS response of the mailbox.
func (mb *mailbox) flagsLine() string {
	kw := slices.Sorted(maps.Keys(mb.keywords))
	return "* FLAGS (" + strings.Join(append(slices.Clone(systemFlags), kw...), " ") + ")\r\n"
}

func cmdSelect(s *session, tag string) (string, error)  { return s.selectMailbox(false) }
func cmdExamine(s *session, tag string) (string, error) { return s.selectMailbox(true) }

// qresyncParams are the QRESYNC parameters of SELECT.
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	known       *seqSet
}

func (s *session) selectMailbox(readOnly bool) (string, error) {
	name, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	var qr *qresyncParams
	if s.r.consume(' ') {
		if err := s.r.list(false, func() error {
			kw, err := s.r.keyword()
			if err != nil {
				return err
			}
			switch kw {
			case "CONDSTORE":
				s.condstore = true
			case "QRESYNC":
				if !s.qresync {
					return errBad("QRESYNC must be enabled first")
				}
				qr = &qresyncParams{}
				if err := s.r.sp(); err != nil {
					return err
				}
				if err := s.r.expect('('); err != nil {
					return err
				}
				if qr.uidValidity, err = s.r.number(); err != nil {
					return err
				}
				if err := s.r.sp(); err != nil {
					return err
				}
				if qr.modseq, err = s.r.number64(); err != nil {
					return err
				}
				if s.r.consume(' ') && s.r.peek() != '(' {
					set, err := s.r.seqSet()
					if err != nil {
						return err
					}
					qr.known = &set
					s.r.consume(' ')
				}
				if s.r.peek() == '(' {
					// Sequence match data: accepted, not needed with
					// tombstones kept.
					if err := s.r.list(false, func() error { _, err := s.r.seqSet(); s.r.consume(' '); return err }); err != nil {
						return err
					}
				}
				return s.r.expect(')')
			default:
				return errSyntax("unknown SELECT parameter %s", kw)
			}
			return nil
		}); err != nil {
			return "", err
		}
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if s.sel != nil {
		s.deselect()
		s.writef("* OK [CLOSED] Previous mailbox closed\r\n")
	}
	f, err := s.folder(name)
	if err != nil {
		return "", err
	}
	s.drainEvents()
	mb := &mailbox{folder: f, readOnly: readOnly, modseq: f.HighestModSeq,
		expunged: map[uint32]bool{}, flagsSent: map[uint32]uint64{}, keywords: map[string]bool{}}
	firstUnseen := 0
	for m, err := range s.srv.opts.Store.Messages(s.ctx, f.ID) {
		if err != nil {
			return "", fmt.Errorf("select: %w", err)
		}
		mb.uids = append(mb.uids, m.UID)
		if firstUnseen == 0 && !m.HasFlag(store.FlagSeen) {
			firstUnseen = len(mb.uids)
		}
		mb.addKeywords(m.Flags)
		if m.ModSeq > mb.modseq {
			mb.modseq = m.ModSeq
		}
	}
	s.sel = mb
	s.state = stateSelected
	var lastUID uint32
	if len(mb.uids) > 0 {
		lastUID = mb.uids[len(mb.uids)-1]
	}
	if err := s.takeRecent(f, lastUID); err != nil {
		s.deselect()
		return "", err
	}
	s.bw.WriteString(mb.flagsLine())
	s.writef("* OK [PERMANENTFLAGS (%s \\*)] Flags permitted\r\n", strings.Join(systemFlags, " "))
	s.writef("* %d EXISTS\r\n", len(mb.uids))
	if !s.rev2 {
		s.writef("* %d RECENT\r\n", s.recentCount())
		if firstUnseen > 0 {
			s.writef("* OK [UNSEEN %d] First unseen message\r\n", firstUnseen)
		}
	}
	s.writef("* OK [UIDVALIDITY %d] UIDs valid\r\n", f.UIDValidity)
	s.writef("* OK [UIDNEXT %d] Predicted next UID\r\n", f.UIDNext)
	s.writef("* OK [HIGHESTMODSEQ %d] Highest mod-sequence\r\n", mb.modseq)
	if s.rev2 {
		b := []byte("* LIST () \"/\" ")
		b = s.appendMailbox(b, f.Name)
		s.bw.Write(append(b, "\r\n"...))
	}
	if qr != nil && qr.uidValidity == f.UIDValidity {
		if err := s.qresyncSelect(qr); err != nil {
			return "", err
		}
	}
	if readOnly {
		return "[READ-ONLY] EXAMINE completed", nil
	}
	return "[READ-WRITE] SELECT completed", nil
}

// qresyncSelect reports what changed since the client's mod-sequence.
func (s *session) qresyncSelect(qr *qresyncParams) error {
	mb := s.sel
	ch, err := s.srv.opts.Store.Changes(s.ctx, mb.folder.ID, qr.modseq)
	if err != nil {
		return fmt.Errorf("qresync: %w", err)
	}
	var vanished []uint32
	for _, uid := range ch.Expunged {
		if qr.known == nil || qr.known.contains(uid, mb.folder.UIDNext-1) {
			if mb.seqOf(uid) == 0 {
				vanished = append(vanished, uid)
			}
		}
	}
	if len(vanished) > 0 {
		s.writef("* VANISHED (EARLIER) %s\r\n", formatUIDs(vanished))
	}
	for _, m := range ch.Updated {
		seq := mb.seqOf(m.UID)
		if seq == 0 {
			continue
		}
		s.writeFlagsFetch(seq, m, true)
	}
	return nil
}

// writeFlagsFetch writes "* n FETCH (UID u FLAGS (...) [MODSEQ (m)])".
func (s *session) writeFlagsFetch(seq int, m store.Message, withUID bool) {
	if s.sel != nil && s.sel.addKeywords(m.Flags) {
		s.bw.WriteString(s.sel.flagsLine())
	}
	b := []byte("* ")
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, " FETCH ("...)
	if withUID {
		b = append(b, "UID "...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
		b = append(b, ' ')
	}
	b = append(b, "FLAGS ("...)
	b = append(b, strings.Join(s.flagsOf(m), " ")...)
	b = append(b, ')')
	if s.condstore {
		b = append(b, " MODSEQ ("...)
		b = strconv.AppendUint(b, m.ModSeq, 10)
		b = append(b, ')')
	}
	b = append(b, ")\r\n"...)
	s.bw.Write(b)
	if s.sel != nil {
		s.sel.flagsSent[m.UID] = max(s.sel.flagsSent[m.UID], m.ModSeq)
	}
}

// deselect leaves the selected state.
func (s *session) deselect() {
	s.sel = nil
	s.state = stateAuth
}

func cmdClose(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	mb := s.sel
	if !mb.readOnly {
		uids, err := s.deletedUIDs(nil)
		if err != nil {
			return "", err
		}
		if len(uids) > 0 {
			if _, err := s.srv.opts.Store.Expunge(s.ctx, mb.folder.ID, uids); err != nil {
				return "", fmt.Errorf("close: %w", err)
			}
		}
	}
	s.deselect()
	return "", nil
}

func cmdUnselect(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	s.deselect()
	return "", nil
}

// drainEvents empties the event channel, marking the selected folder dirty
// if an event concerns it.
func (s *session) drainEvents() {
	if s.sub == nil {
		return
	}
	for {
		select {
		case ev, ok := <-s.sub.C:
			if !ok {
				return
			}
			s.noteEvent(ev)
		default:
			return
		}
	}
}

func (s *session) noteEvent(ev store.Event) {
	if s.sel == nil || ev.FolderID != s.sel.folder.ID {
		return
	}
	if ev.ModSeq > s.sel.modseq {
		s.sel.dirty = true
	}
	if ev.Kind&store.EventFolders != 0 {
		s.sel.foldersChanged = true
	}
}

// sendUpdates writes the untagged responses that tell the client what
// changed in the selected folder: flag changes, new messages (EXISTS) and,
// when expungeOK, expunges.
func (s *session) sendUpdates(expungeOK bool) error {
	s.drainEvents()
	mb := s.sel
	if mb == nil {
		return nil
	}
	if err := s.checkSelected(); err != nil {
		return err
	}
	if mb.dirty {
		mb.dirty = false
		if err := s.takeChanges(); err != nil {
			return err
		}
	}
	if err := s.updateContexts(); err != nil {
		return err
	}
	if expungeOK && len(mb.expunged) > 0 {
		s.announceExpunges()
	}
	return nil
}

// takeChanges asks the store what changed since mb.modseq.
func (s *session) takeChanges() error {
	mb := s.sel
	st := s.srv.opts.Store
	f, err := st.FolderByID(s.ctx, mb.folder.ID)
	if errors.Is(err, store.ErrNotFound) {
		return s.mailboxGone(false)
	}
	if err != nil {
		return fmt.Errorf("refresh folder: %w", err)
	}
	if f.Name != mb.folder.Name {
		return s.mailboxGone(true)
	}
	ch, err := st.Changes(s.ctx, mb.folder.ID, mb.modseq)
	if err != nil {
		return fmt.Errorf("refresh folder: %w", err)
	}
	for _, uid := range ch.Expunged {
		if mb.seqOf(uid) > 0 {
			mb.expunged[uid] = true
		}
	}
	last := uint32(0)
	if len(mb.uids) > 0 {
		last = mb.uids[len(mb.uids)-1]
	}
	n := len(mb.uids)
	newKeyword := false
	for _, m := range ch.Updated {
		newKeyword = mb.addKeywords(m.Flags) || newKeyword
	}
	if newKeyword {
		s.bw.WriteString(mb.flagsLine())
	}
	high := f.HighestModSeq
	for _, m := range ch.Updated {
		high = max(high, m.ModSeq)
		if m.UID > last {
			mb.uids = append(mb.uids, m.UID)
			last = m.UID
			continue
		}
		seq := mb.seqOf(m.UID)
		if seq == 0 || seq > n || mb.expunged[m.UID] || m.ModSeq <= mb.flagsSent[m.UID] {
			continue
		}
		s.writeFlagsFetch(seq, m, true)
	}
	if len(mb.uids) != n {
		if err := s.takeRecent(f, last); err != nil {
			return err
		}
		s.writef("* %d EXISTS\r\n", len(mb.uids))
		if !s.rev2 {
			s.writef("* %d RECENT\r\n", s.recentCount())
		}
	}
	mb.modseq = max(mb.modseq, high)
	for uid, ms := range mb.flagsSent {
		if ms <= mb.modseq {
			delete(mb.flagsSent, uid)
		}
	}
	return nil
}

// announceExpunges sends the pending expunges and removes them from the
// view.
func (s *session) announceExpunges() {
	mb := s.sel
	s.contextsExpunge()
	if s.qresync {
		gone := make([]uint32, 0, len(mb.expunged))
		kept := mb.uids[:0]
		for _, uid := range mb.uids {
			if mb.expunged[uid] {
				gone = append(gone, uid)
			} else {
				kept = append(kept, uid)
			}
		}
		mb.uids = kept
		if len(gone) > 0 {
			s.writef("* VANISHED %s\r\n", formatUIDs(gone))
		}
	} else {
		// Highest first, so the numbers sent stay valid one after the
		// other.
		for i := len(mb.uids) - 1; i >= 0; i-- {
			if mb.expunged[mb.uids[i]] {
				s.writef("* %d EXPUNGE\r\n", i+1)
			}
		}
		kept := mb.uids[:0]
		for _, uid := range mb.uids {
			if !mb.expunged[uid] {
				kept = append(kept, uid)
			}
		}
		mb.uids = kept
	}
	clear(mb.expunged)
}

// removeUIDs takes UIDs this session expunged itself out of the view,
// announcing each (EXPUNGE or VANISHED).
func (s *session) removeUIDs(gone []uint32) {
	mb := s.sel
	for _, uid := range gone {
		if mb.seqOf(uid) > 0 {
			mb.expunged[uid] = true
		}
	}
	s.announceExpunges()
}
