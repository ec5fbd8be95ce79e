package imapd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// checkFlags validates flags a client wants to set: system flags must be
// known ones; \Recent cannot be set and is dropped.
func checkFlags(flags []string) ([]string, error) {
	out := flags[:0:0]
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			if strings.EqualFold(f, `\Recent`) {
				continue
			}
			known := false
			for _, sf := range systemFlags {
				if strings.EqualFold(f, sf) {
					known = true
				}
			}
			if !known {
				return nil, errBad("Unknown system flag %s", f)
			}
		}
		out = append(out, f)
	}
	return store.NormalizeFlags(out), nil
}

func (s *session) cmdStore(uid bool) (string, error) {
	r := s.r
	if err := r.sp(); err != nil {
		return "", err
	}
	set, err := r.seqSet()
	if err != nil {
		return "", err
	}
	if err := r.sp(); err != nil {
		return "", err
	}
	var unchangedSince uint64
	hasUnchanged := false
	if r.peek() == '(' {
		if err := r.list(false, func() error {
			kw, err := r.keyword()
			if err != nil {
				return err
			}
			if kw != "UNCHANGEDSINCE" {
				return errSyntax("unknown STORE modifier %s", kw)
			}
			if err := r.sp(); err != nil {
				return err
			}
			unchangedSince, err = r.number64()
			hasUnchanged = true
			return err
		}); err != nil {
			return "", err
		}
		if err := r.sp(); err != nil {
			return "", err
		}
	}
	item, err := r.keyword()
	if err != nil {
		return "", err
	}
	silent := strings.HasSuffix(item, ".SILENT")
	item = strings.TrimSuffix(item, ".SILENT")
	var op store.FlagOp
	switch item {
	case "FLAGS":
		op = store.FlagsReplace
	case "+FLAGS":
		op = store.FlagsAdd
	case "-FLAGS":
		op = store.FlagsRemove
	default:
		return "", errSyntax("unknown STORE item %s", item)
	}
	if err := r.sp(); err != nil {
		return "", err
	}
	var flags []string
	if r.peek() == '(' {
		if flags, err = r.flagList(); err != nil {
			return "", err
		}
	} else {
		for {
			f, err := r.flag(false)
			if err != nil {
				return "", err
			}
			flags = append(flags, f)
			if !r.consume(' ') {
				break
			}
		}
	}
	if err := r.end(); err != nil {
		return "", err
	}
	if flags, err = checkFlags(flags); err != nil {
		return "", err
	}
	mb := s.sel
	if mb.readOnly {
		return "", errNo("READ-ONLY", "Mailbox is read-only")
	}
	if hasUnchanged {
		s.condstore = true
	}
	idx, err := s.resolve(set, uid)
	if err != nil {
		return "", err
	}
	if mb.addKeywords(flags) {
		s.bw.WriteString(mb.flagsLine())
	}
	var failed []uint32
	for len(idx) > 0 {
		n := min(len(idx), 1000)
		uids := make([]uint32, n)
		for i, j := range idx[:n] {
			uids[i] = mb.uids[j]
		}
		idx = idx[n:]
		res, err := s.srv.opts.Store.SetFlags(s.ctx, mb.folder.ID, uids, store.FlagChange{Op: op, Flags: flags, UnchangedSince: unchangedSince})
		if err != nil {
			return "", fmt.Errorf("store flags: %w", err)
		}
		failed = append(failed, res.Failed...)
		for _, m := range res.Changed {
			seq := mb.seqOf(m.UID)
			if seq == 0 {
				continue
			}
			if silent && !(hasUnchanged && s.condstore) {
				mb.flagsSent[m.UID] = max(mb.flagsSent[m.UID], m.ModSeq)
				continue
			}
			s.writeFlagsFetch(seq, m, uid)
		}
	}
	if len(failed) > 0 {
		if !uid {
			for i, u := range failed {
				failed[i] = uint32(mb.seqOf(u))
			}
		}
		return "[MODIFIED " + formatUIDs(failed) + "] Conditional STORE failed for some messages", nil
	}
	return "", nil
}

// deletedUIDs lists the UIDs in view with \Deleted (within set if given).
func (s *session) deletedUIDs(within *seqSet) ([]uint32, error) {
	mb := s.sel
	var uids []uint32
	for m, err := range s.srv.opts.Store.Messages(s.ctx, mb.folder.ID) {
		if err != nil {
			return nil, fmt.Errorf("expunge: %w", err)
		}
		if !m.HasFlag(store.FlagDeleted) || mb.seqOf(m.UID) == 0 {
			continue
		}
		if within != nil && !within.contains(m.UID, mb.uids[len(mb.uids)-1]) {
			continue
		}
		uids = append(uids, m.UID)
	}
	return uids, nil
}

func cmdExpunge(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	return "", s.expunge(nil)
}

func cmdUIDExpunge(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	set, err := s.r.seqSet()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if set.saved {
		set = seqSet{}
		for _, u := range s.sel.saved {
			set.ranges = append(set.ranges, seqRange{u, u})
		}
	}
	return "", s.expunge(&set)
}

func (s *session) expunge(within *seqSet) error {
	mb := s.sel
	if mb.readOnly {
		return errNo("READ-ONLY", "Mailbox is read-only")
	}
	if len(mb.uids) == 0 {
		return nil
	}
	uids, err := s.deletedUIDs(within)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	gone, err := s.srv.opts.Store.Expunge(s.ctx, mb.folder.ID, uids)
	if err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	s.removeUIDs(gone)
	return nil
}

func (s *session) cmdCopy(uid, move bool) (string, error) {
	r := s.r
	if err := r.sp(); err != nil {
		return "", err
	}
	set, err := r.seqSet()
	if err != nil {
		return "", err
	}
	if err := r.sp(); err != nil {
		return "", err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return "", err
	}
	if err := r.end(); err != nil {
		return "", err
	}
	mb := s.sel
	if move && mb.readOnly {
		return "", errNo("READ-ONLY", "Mailbox is read-only")
	}
	idx, err := s.resolve(set, uid)
	if err != nil {
		return "", err
	}
	dst, err := s.srv.opts.Store.Folder(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNo("TRYCREATE", "Mailbox does not exist")
	}
	if err != nil {
		return "", fmt.Errorf("copy: %w", err)
	}
	if len(idx) == 0 {
		return "", nil
	}
	uids := make([]uint32, len(idx))
	for i, j := range idx {
		uids[i] = mb.uids[j]
	}
	var pairs []store.UIDPair
	switch {
	case move && dst.ID == mb.folder.ID:
		// MOVE into the selected mailbox itself (RFC 6851 allows it): the
		// messages get new UIDs, as a copy whose originals are expunged.
		pairs, err = s.srv.opts.Store.Copy(s.ctx, mb.folder.ID, uids, dst.ID)
		if err == nil {
			_, err = s.srv.opts.Store.Expunge(s.ctx, mb.folder.ID, uids)
		}
	case move:
		pairs, err = s.srv.opts.Store.Move(s.ctx, mb.folder.ID, uids, dst.ID)
	default:
		pairs, err = s.srv.opts.Store.Copy(s.ctx, mb.folder.ID, uids, dst.ID)
	}
	switch {
	case errors.Is(err, store.ErrQuotaExceeded):
		return "", errNo("OVERQUOTA", "Quota exceeded")
	case errors.Is(err, store.ErrInvalid):
		return "", errNo("CANNOT", "Cannot copy or move into that mailbox")
	case err != nil:
		return "", fmt.Errorf("copy: %w", err)
	}
	code := ""
	if len(pairs) > 0 {
		src, dstUIDs := make([]uint32, len(pairs)), make([]uint32, len(pairs))
		for i, p := range pairs {
			src[i], dstUIDs[i] = p.Src, p.Dst
		}
		code = fmt.Sprintf("[COPYUID %d %s %s] ", dst.UIDValidity, formatUIDList(src), formatUIDList(dstUIDs))
		if move {
			s.writef("* OK %sMoved\r\n", code)
			s.removeUIDs(src)
			return "", nil
		}
	}
	if move {
		return "", nil
	}
	return code + "COPY completed", nil
}

// cmdAppend stores one message, or several (MULTIAPPEND, RFC 3502), each
// "[flags] [date] literal", "[flags] [date] CATENATE (parts)" (RFC 4469,
// catenate.go) or, after ENABLE UTF8=ACCEPT, "[flags] [date] UTF8
// (~{n})" (RFC 6855). The messages go to the store as one batch:
// each literal streams to storage as it arrives, and either all are kept
// or none (a quota failure on the last leaves nothing).
func cmdAppend(s *session, tag string) (string, error) {
	r := s.r
	if err := r.sp(); err != nil {
		return "", err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return "", err
	}
	f, err := s.srv.opts.Store.Folder(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNo("TRYCREATE", "Mailbox does not exist")
	}
	if err != nil {
		return "", fmt.Errorf("append: %w", err)
	}
	// cmdErr keeps a protocol error met while reading the messages, so
	// that it is answered as such whatever the store wraps around it.
	var cmdErr error
	messages := func(yield func(store.Delivery, error) bool) {
		for n := 1; ; n++ {
			var d store.Delivery
			var body appendBody
			var err error
			if n > maxMultiappend {
				// Before the literal is asked for or read: skipCommand
				// can still skip it.
				err = errNo("LIMIT", "At most %d messages in one APPEND", maxMultiappend)
			} else {
				d, body, err = s.appendMessage(f)
			}
			if err != nil {
				cmdErr = err
				yield(store.Delivery{}, err)
				return
			}
			more := yield(d, nil)
			// Whatever the store read, the literal must be consumed.
			_, err = io.Copy(io.Discard, body.r)
			if err != nil {
				err = fmt.Errorf("append: read message: %w", err)
			} else if !body.catenate {
				r.literalPending = false
				err = r.readLine()
			}
			if err == nil && body.utf8 {
				err = r.expect(')')
			}
			if err != nil {
				// The batch must not be stored: tell the store.
				cmdErr = err
				if more {
					yield(store.Delivery{}, err)
				}
				return
			}
			if !more || r.atEnd() {
				return
			}
		}
	}
	added, err := s.srv.opts.Store.DeliverBatch(s.ctx, messages)
	switch {
	case cmdErr != nil:
		return "", cmdErr
	case errors.Is(err, store.ErrQuotaExceeded):
		return "", errNo("OVERQUOTA", "Quota exceeded")
	case errors.Is(err, store.ErrNotFound):
		return "", errNo("TRYCREATE", "Mailbox does not exist")
	case err != nil:
		return "", fmt.Errorf("append: %w", err)
	}
	uids := make([]uint32, len(added))
	for i, m := range added {
		uids[i] = m.UID
	}
	return fmt.Sprintf("[APPENDUID %d %s] APPEND completed", f.UIDValidity, formatUIDs(uids)), nil
}

// maxMultiappend bounds the messages of one APPEND: the store holds small
// bodies of a batch in memory until the batch commits.
const maxMultiappend = 256

// appendBody is the literal of one APPEND message being read.
type appendBody struct {
	r        io.Reader
	utf8     bool // inside "UTF8 (" … ")"
	catenate bool // r is a catenator, which reads the command line itself
}

// appendMessage parses " [flags] [date] literal" of one APPEND message up
// to its literal header, asks for the literal if it synchronises, and
// returns the delivery whose Body reads the literal from the connection.
func (s *session) appendMessage(f store.Folder) (store.Delivery, appendBody, error) {
	r := s.r
	var body appendBody
	if err := r.sp(); err != nil {
		return store.Delivery{}, body, err
	}
	var flags []string
	var err error
	if r.peek() == '(' {
		if flags, err = r.flagList(); err != nil {
			return store.Delivery{}, body, err
		}
		if err := r.sp(); err != nil {
			return store.Delivery{}, body, err
		}
	}
	if flags, err = checkFlags(flags); err != nil {
		return store.Delivery{}, body, err
	}
	var date time.Time
	if r.peek() == '"' {
		if date, err = r.dateTime(); err != nil {
			return store.Delivery{}, body, err
		}
		if err := r.sp(); err != nil {
			return store.Delivery{}, body, err
		}
	}
	if c := r.peek(); c != '{' && c != '~' {
		kw, err := r.keyword()
		if err != nil {
			return store.Delivery{}, body, err
		}
		if kw == "CATENATE" {
			// RFC 4469 (catenate.go).
			if err := r.sp(); err != nil {
				return store.Delivery{}, body, err
			}
			if err := r.expect('('); err != nil {
				return store.Delivery{}, body, err
			}
			body.catenate = true
			body.r = newCatenator(s)
			return store.Delivery{AccountID: s.acct.ID, FolderID: f.ID, Flags: flags, InternalDate: date, Body: body.r}, body, nil
		}
		// RFC 6855: UTF8 (~{n}) carries a message with UTF-8 headers.
		if kw != "UTF8" {
			return store.Delivery{}, body, errSyntax("expected a literal, UTF8 or CATENATE, not %s", kw)
		}
		if !s.utf8 {
			return store.Delivery{}, body, errBad("APPEND UTF8 needs ENABLE UTF8=ACCEPT first")
		}
		if err := r.sp(); err != nil {
			return store.Delivery{}, body, err
		}
		if err := r.expect('('); err != nil {
			return store.Delivery{}, body, err
		}
		if r.peek() != '~' {
			return store.Delivery{}, body, errSyntax("UTF8 takes a literal8 (~{n})")
		}
		body.utf8 = true
	}
	n, sync, _, err := r.literalHeader(true)
	if err != nil {
		return store.Delivery{}, body, err
	}
	if n > s.srv.opts.AppendLimit {
		return store.Delivery{}, body, errNo("TOOBIG", "Message is larger than the limit of %d bytes", s.srv.opts.AppendLimit)
	}
	if sync {
		if err := r.cont(); err != nil {
			return store.Delivery{}, body, err
		}
	}
	body.r = io.LimitReader(s.br, n)
	return store.Delivery{AccountID: s.acct.ID, FolderID: f.ID, Flags: flags, InternalDate: date, Body: body.r}, body, nil
}

func cmdIdle(s *session, tag string) (string, error) {
	if err := s.r.end(); err != nil {
		return "", err
	}
	s.writef("+ idling\r\n")
	if err := s.sendUpdates(true); err != nil {
		return "", err
	}
	if err := s.bw.Flush(); err != nil {
		return "", err
	}
	s.raw.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	lines := make(chan error, 1)
	go func() {
		err := s.awaitInput()
		if err == nil {
			err = s.r.readLine()
		}
		lines <- err
	}()
	events := s.sub.C
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			s.noteEvent(ev)
			if err := s.sendUpdates(true); errors.Is(err, errLogout) {
				s.bw.Flush()
				s.raw.SetReadDeadline(time.Unix(1, 0))
				<-lines
				return "", err
			} else if err != nil {
				s.log.Warn("send mailbox updates", "err", err)
			}
			if err := s.bw.Flush(); err != nil {
				s.raw.SetReadDeadline(time.Unix(1, 0))
				<-lines
				return "", err
			}
		case err := <-lines:
			if err != nil {
				if s.ctx.Err() != nil {
					s.writef("* BYE Server shutting down\r\n")
					return "", errLogout
				}
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					s.writef("* BYE Autologout; idle for too long\r\n")
					return "", errLogout
				}
				return "", err
			}
			if !strings.EqualFold(string(s.r.line), "DONE") {
				return "", errBad("Expected DONE to end IDLE")
			}
			return "IDLE terminated", nil
		}
	}
}

// quotaLine is the QUOTA response for the account's one quota root "".
func (s *session) quotaLine() (string, error) {
	acct, err := s.srv.opts.Store.Account(s.ctx, s.acct.ID)
	if err != nil {
		return "", fmt.Errorf("quota: %w", err)
	}
	u, err := s.srv.opts.Store.Usage(s.ctx, s.acct.ID)
	if err != nil {
		return "", fmt.Errorf("quota: %w", err)
	}
	var res []string
	if acct.QuotaBytes > 0 {
		res = append(res, "STORAGE "+strconv.FormatInt((u.Bytes+1023)/1024, 10)+" "+strconv.FormatInt(acct.QuotaBytes/1024, 10))
	}
	if acct.QuotaMessages > 0 {
		res = append(res, "MESSAGE "+strconv.FormatInt(u.Messages, 10)+" "+strconv.FormatInt(acct.QuotaMessages, 10))
	}
	return "* QUOTA \"\" (" + strings.Join(res, " ") + ")\r\n", nil
}

func cmdGetQuotaRoot(s *session, tag string) (string, error) {
	name, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if _, err := s.folder(name); err != nil {
		return "", err
	}
	line, err := s.quotaLine()
	if err != nil {
		return "", err
	}
	b := []byte("* QUOTAROOT ")
	b = s.appendMailbox(b, name)
	b = append(b, " \"\"\r\n"...)
	s.bw.Write(b)
	s.bw.WriteString(line)
	return "", nil
}

func cmdGetQuota(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	root, err := s.r.astring()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if root != "" {
		return "", errNo("NONEXISTENT", "No such quota root")
	}
	line, err := s.quotaLine()
	if err != nil {
		return "", err
	}
	s.bw.WriteString(line)
	return "", nil
}
