package imapd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/store"
)

const sep = string(store.HierarchySeparator)

// mailboxArg reads a mailbox name and turns it into the store's UTF-8 form:
// modified UTF-7 decoded for rev1 clients, INBOX in canonical case, no
// trailing separator.
func (s *session) mailboxArg() (string, error) {
	name, err := s.r.astring()
	if err != nil {
		return "", err
	}
	return s.decodeMailbox(name)
}

// spMailboxArg reads a space and then a mailbox name argument.
func (s *session) spMailboxArg() (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	return s.mailboxArg()
}

func (s *session) decodeMailbox(name string) (string, error) {
	if !s.utf8 {
		if dec, err := decodeUTF7(name); err == nil {
			name = dec
		} else if !utf8.ValidString(name) {
			return "", errNo("CANNOT", "Mailbox name is neither modified UTF-7 nor UTF-8")
		}
	} else if !utf8.ValidString(name) {
		return "", errNo("CANNOT", "Mailbox name is not UTF-8")
	}
	return canonicalMailbox(name), nil
}

// canonicalMailbox upper-cases INBOX (and INBOX/… prefixes).
func canonicalMailbox(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return name
}

// folder looks up a folder of the logged-in account.
func (s *session) folder(name string) (store.Folder, error) {
	f, err := s.srv.opts.Store.Folder(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return f, errNo("NONEXISTENT", "Mailbox does not exist")
	}
	if err != nil {
		return f, fmt.Errorf("look up folder: %w", err)
	}
	return f, nil
}

// roleAttr is the SPECIAL-USE attribute of a role.
func roleAttr(r store.Role) string {
	switch r {
	case store.RoleSent:
		return `\Sent`
	case store.RoleDrafts:
		return `\Drafts`
	case store.RoleTrash:
		return `\Trash`
	case store.RoleJunk:
		return `\Junk`
	case store.RoleArchive:
		return `\Archive`
	}
	return ""
}

// attrRole maps a SPECIAL-USE attribute to a role.
func attrRole(a string) (store.Role, bool) {
	for _, r := range []store.Role{store.RoleSent, store.RoleDrafts, store.RoleTrash, store.RoleJunk, store.RoleArchive} {
		if strings.EqualFold(roleAttr(r), a) {
			return r, true
		}
	}
	return store.RoleNone, false
}

// matchPattern matches a mailbox name against a LIST pattern: "*" matches
// anything, "%" anything but the separator. INBOX matches in any case.
func matchPattern(pattern, name string) bool {
	p, n := []rune(canonicalMailbox(pattern)), []rune(name)
	if len(p) >= 5 && strings.EqualFold(string(p[:5]), "INBOX") && (len(p) == 5 || p[5] == '/') {
		p = append([]rune("INBOX"), p[5:]...)
	}
	// dp[j]: p[:i] matches n[:j].
	dp := make([]bool, len(n)+1)
	dp[0] = true
	for i := 0; i < len(p); i++ {
		next := make([]bool, len(n)+1)
		switch p[i] {
		case '*', '%':
			for j := 0; j <= len(n); j++ {
				if dp[j] {
					next[j] = true
				} else if j > 0 && next[j-1] && (p[i] == '*' || n[j-1] != store.HierarchySeparator) {
					next[j] = true
				}
			}
		default:
			for j := 1; j <= len(n); j++ {
				next[j] = dp[j-1] && p[i] == n[j-1]
			}
		}
		dp = next
	}
	return dp[len(n)]
}

// listOptions are the LIST-EXTENDED options of one LIST command.
type listOptions struct {
	subscribedOnly bool
	specialOnly    bool
	recursive      bool
	retSubscribed  bool
	retChildren    bool
	retSpecial     bool
	status         []string
	lsub           bool
}

func cmdList(s *session, tag string) (string, error) {
	var o listOptions
	o.retChildren = true
	o.retSpecial = true
	if err := s.r.sp(); err != nil {
		return "", err
	}
	if s.r.peek() == '(' {
		if err := s.r.list(true, func() error {
			opt, err := s.r.keyword()
			switch opt {
			case "SUBSCRIBED":
				o.subscribedOnly, o.retSubscribed = true, true
			case "SPECIAL-USE":
				o.specialOnly = true
			case "RECURSIVEMATCH":
				o.recursive = true
			case "REMOTE":
			default:
				if err == nil {
					err = errSyntax("unknown LIST selection option %s", opt)
				}
			}
			return err
		}); err != nil {
			return "", err
		}
		if o.recursive && !o.subscribedOnly {
			return "", errSyntax("RECURSIVEMATCH needs another selection option")
		}
		if err := s.r.sp(); err != nil {
			return "", err
		}
	}
	ref, err := s.r.astring()
	if err != nil {
		return "", err
	}
	if err := s.r.sp(); err != nil {
		return "", err
	}
	var patterns []string
	if s.r.peek() == '(' {
		if err := s.r.list(false, func() error {
			p, err := s.r.listMailbox()
			patterns = append(patterns, p)
			return err
		}); err != nil {
			return "", err
		}
	} else {
		p, err := s.r.listMailbox()
		if err != nil {
			return "", err
		}
		patterns = append(patterns, p)
	}
	if s.r.consume(' ') {
		kw, err := s.r.keyword()
		if err != nil || kw != "RETURN" {
			return "", errSyntax("expected RETURN")
		}
		if err := s.r.sp(); err != nil {
			return "", err
		}
		if err := s.r.list(true, func() error {
			opt, err := s.r.keyword()
			if err != nil {
				return err
			}
			switch opt {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecial = true
			case "STATUS":
				if err := s.r.sp(); err != nil {
					return err
				}
				items, err := s.statusItems()
				o.status = items
				return err
			default:
				return errSyntax("unknown LIST return option %s", opt)
			}
			return nil
		}); err != nil {
			return "", err
		}
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if ref != "" {
		if ref, err = s.decodeMailbox(ref); err != nil {
			return "", err
		}
	}
	for i, p := range patterns {
		if patterns[i], err = s.decodeMailbox(p); err != nil {
			return "", err
		}
	}
	return "", s.list(ref, patterns, o)
}

func cmdLsub(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	ref, err := s.r.astring()
	if err != nil {
		return "", err
	}
	if err := s.r.sp(); err != nil {
		return "", err
	}
	p, err := s.r.listMailbox()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if ref != "" {
		if ref, err = s.decodeMailbox(ref); err != nil {
			return "", err
		}
	}
	if p, err = s.decodeMailbox(p); err != nil {
		return "", err
	}
	return "", s.list(ref, []string{p}, listOptions{subscribedOnly: true, lsub: true})
}

// listEntry is one mailbox name a LIST or LSUB answers with.
type listEntry struct {
	name       string
	folder     store.Folder
	exists     bool
	subscribed bool
	// childInfo: a LIST (SUBSCRIBED RECURSIVEMATCH) answer for a name
	// with subscribed descendants the patterns do not match (RFC 5258
	// §3.5); for LSUB, the \Noselect parent of such descendants (RFC 3501
	// §6.3.9).
	childInfo bool
}

// list writes the LIST (or LSUB) responses. Subscriptions are names of
// their own: LIST (SUBSCRIBED) and LSUB answer with subscribed names
// whether or not a folder has them.
func (s *session) list(ref string, patterns []string, o listOptions) error {
	resp := "LIST"
	if o.lsub {
		resp = "LSUB"
	}
	if len(patterns) == 1 && patterns[0] == "" {
		// The hierarchy separator and root.
		s.writef("* %s (\\Noselect) \"/\" \"\"\r\n", resp)
		return nil
	}
	folders, err := s.srv.opts.Store.Folders(s.ctx, s.acct.ID)
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	byName := make(map[string]store.Folder, len(folders))
	for _, f := range folders {
		byName[f.Name] = f
	}
	subs := map[string]bool{}
	if o.subscribedOnly || o.retSubscribed {
		names, err := s.srv.opts.Store.Subscriptions(s.ctx, s.acct.ID)
		if err != nil {
			return fmt.Errorf("list subscriptions: %w", err)
		}
		for _, n := range names {
			subs[n] = true
		}
	}
	hasChildren := func(name string) bool {
		for _, f := range folders {
			if strings.HasPrefix(f.Name, name+sep) {
				return true
			}
		}
		return false
	}
	matches := func(name string) bool {
		for _, p := range patterns {
			if matchPattern(ref+p, name) {
				return true
			}
		}
		return false
	}
	entries := map[string]*listEntry{}
	add := func(name string) *listEntry {
		e := entries[name]
		if e == nil {
			f, ok := byName[name]
			e = &listEntry{name: name, folder: f, exists: ok, subscribed: subs[name]}
			entries[name] = e
		}
		return e
	}
	if o.subscribedOnly {
		for name := range subs {
			if matches(name) {
				add(name)
				continue
			}
			if !o.recursive && !o.lsub {
				continue
			}
			// A subscribed name the patterns miss shows through its
			// matching ancestors.
			for n := name; strings.Contains(n, sep); {
				n = n[:strings.LastIndex(n, sep)]
				if matches(n) {
					add(n).childInfo = true
				}
			}
		}
	} else {
		// Every folder and every implied parent of one.
		for _, f := range folders {
			n := f.Name
			for {
				if matches(n) && (byName[n].Name != "" || impliedParentNeeded(n, patterns, ref, folders)) {
					add(n)
				}
				i := strings.LastIndex(n, sep)
				if i < 0 {
					break
				}
				n = n[:i]
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if a == "INBOX" {
			return -1
		}
		if b == "INBOX" {
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		e := entries[name]
		if o.lsub && e.childInfo && e.subscribed {
			e.childInfo = false
		}
		if o.specialOnly && (!e.exists || roleAttr(e.folder.Role) == "") {
			continue
		}
		var attrs []string
		switch {
		case o.lsub:
			if e.childInfo {
				attrs = append(attrs, `\Noselect`)
			}
		case !e.exists && !e.subscribed:
			// An implied parent (or, with RECURSIVEMATCH, a
			// parent of subscribed names) that is no folder.
			attrs = append(attrs, `\NonExistent`, `\Noselect`)
		case !e.exists:
			// A subscription without a folder (RFC 5258 §3.1).
			attrs = append(attrs, `\NonExistent`)
		}
		if !o.lsub {
			if o.retSubscribed && e.subscribed {
				attrs = append(attrs, `\Subscribed`)
			}
			if o.retChildren {
				if hasChildren(name) {
					attrs = append(attrs, `\HasChildren`)
				} else {
					attrs = append(attrs, `\HasNoChildren`)
				}
			}
			if e.exists && o.retSpecial {
				if a := roleAttr(e.folder.Role); a != "" {
					attrs = append(attrs, a)
				}
			}
		}
		b := []byte("* " + resp + " (" + strings.Join(attrs, " ") + ") \"/\" ")
		b = s.appendMailbox(b, name)
		if e.childInfo && !o.lsub {
			b = append(b, ` ("CHILDINFO" ("SUBSCRIBED"))`...)
		}
		b = append(b, "\r\n"...)
		s.bw.Write(b)
		if len(o.status) > 0 && e.exists {
			if err := s.writeStatus(e.folder, o.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// impliedParentNeeded reports whether a non-existent parent name should be
// listed: when some pattern matches it but no pattern reaches one of its
// existing descendants (which, listed, shows the name already; imaptest's
// listext script checks this with two patterns).
func impliedParentNeeded(name string, patterns []string, ref string, folders []store.Folder) bool {
	matched := false
	for _, p := range patterns {
		if matchPattern(ref+p, name) {
			matched = true
			break
		}
	}
	if !matched {
		return false
	}
	for _, p := range patterns {
		for _, f := range folders {
			if strings.HasPrefix(f.Name, name+sep) && matchPattern(ref+p, f.Name) {
				return false
			}
		}
	}
	return true
}

func cmdSubscribe(s *session, tag string) (string, error)   { return "", s.subscribe(true) }
func cmdUnsubscribe(s *session, tag string) (string, error) { return "", s.subscribe(false) }

// subscribe adds or removes a subscription. The name need not be a
// folder (RFC 3501 §6.3.6 lets a server check, Dovecot does not; RFC 9051
// §6.3.7 keeps subscriptions of folders that are gone), and unsubscribing
// a name that is not subscribed is no error.
func (s *session) subscribe(on bool) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, sep)
	if err := s.srv.opts.Store.SetSubscription(s.ctx, s.acct.ID, name, on); err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return errNo("CANNOT", "Cannot subscribe to that name")
		}
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

func cmdCreate(s *session, tag string) (string, error) {
	name, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	role := store.RoleNone
	if s.r.consume(' ') {
		// CREATE-SPECIAL-USE: (USE (\Sent))
		if err := s.r.list(false, func() error {
			kw, err := s.r.keyword()
			if err != nil {
				return err
			}
			if kw != "USE" {
				return errSyntax("unknown CREATE parameter %s", kw)
			}
			if err := s.r.sp(); err != nil {
				return err
			}
			return s.r.list(true, func() error {
				a, err := s.r.flag(false)
				if err != nil {
					return err
				}
				r, ok := attrRole(a)
				if !ok {
					return errNo("USEATTR", "Unsupported special-use attribute %s", a)
				}
				role = r
				return nil
			})
		}); err != nil {
			return "", err
		}
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	name = strings.TrimSuffix(name, sep)
	if name == "INBOX" {
		return "", errNo("ALREADYEXISTS", "INBOX always exists")
	}
	if err := s.createFolder(name, role); err != nil {
		return "", err
	}
	return "", nil
}

// createFolder makes a folder. Missing superior names are not made into
// folders: LIST shows them as \Noselect names that exist only through
// their children (RFC 3501 §6.3.3's superior hierarchical names, as
// Dovecot shows them), until a CREATE of their own makes them folders.
func (s *session) createFolder(name string, role store.Role) error {
	if _, err := s.srv.opts.Store.CreateFolder(s.ctx, s.acct.ID, name, role); err != nil {
		return folderError("create", err)
	}
	return nil
}

// folderError maps store errors of folder operations to IMAP answers.
func folderError(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrExists):
		return errNo("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, store.ErrNotFound):
		return errNo("NONEXISTENT", "Mailbox does not exist")
	case errors.Is(err, store.ErrInvalid):
		return errNo("CANNOT", "Cannot %s that mailbox", op)
	}
	return fmt.Errorf("%s folder: %w", op, err)
}

func cmdDelete(s *session, tag string) (string, error) {
	name, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if name == "INBOX" {
		return "", errNo("CANNOT", "INBOX cannot be deleted")
	}
	f, err := s.folder(name)
	if err != nil {
		return "", err
	}
	if s.sel != nil && s.sel.folder.ID == f.ID {
		s.deselect()
	}
	if err := s.srv.opts.Store.DeleteFolder(s.ctx, f.ID); err != nil {
		return "", folderError("delete", err)
	}
	return "", nil
}

func cmdRename(s *session, tag string) (string, error) {
	from, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	to, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	to = strings.TrimSuffix(to, sep)
	st := s.srv.opts.Store
	if _, err := st.Folder(s.ctx, s.acct.ID, from); errors.Is(err, store.ErrNotFound) && from != "INBOX" {
		return "", s.renameImplied(from, to)
	}
	f, err := s.folder(from)
	if err != nil {
		return "", err
	}
	if _, err := st.Folder(s.ctx, s.acct.ID, to); err == nil {
		return "", errNo("ALREADYEXISTS", "Mailbox already exists")
	}
	// Missing superior names of the new name stay names only, as for
	// CREATE.
	if from == "INBOX" {
		// Renaming INBOX moves its messages into a new folder.
		if _, err := st.CreateFolder(s.ctx, s.acct.ID, to, store.RoleNone); err != nil {
			return "", folderError("rename", err)
		}
		nf, err := s.folder(to)
		if err != nil {
			return "", err
		}
		var uids []uint32
		for m, err := range st.Messages(s.ctx, f.ID) {
			if err != nil {
				return "", fmt.Errorf("rename INBOX: %w", err)
			}
			uids = append(uids, m.UID)
		}
		for len(uids) > 0 {
			n := min(len(uids), 1000)
			if _, err := st.Move(s.ctx, f.ID, uids[:n], nf.ID); err != nil {
				return "", fmt.Errorf("rename INBOX: %w", err)
			}
			uids = uids[n:]
		}
		return "", nil
	}
	if err := st.RenameFolder(s.ctx, f.ID, to); err != nil {
		return "", folderError("rename", err)
	}
	s.renamedSelected(f.Name, to)
	return "", nil
}

// renameImplied renames a name that is no folder but has folders below
// it (a superior name that CREATE left a name only): each topmost folder
// below it moves under the new name, taking its own children along.
func (s *session) renameImplied(from, to string) error {
	st := s.srv.opts.Store
	folders, err := st.Folders(s.ctx, s.acct.ID)
	if err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	slices.SortFunc(folders, func(a, b store.Folder) int { return strings.Compare(a.Name, b.Name) })
	var tops []store.Folder
	for _, f := range folders {
		if !strings.HasPrefix(f.Name, from+sep) {
			continue
		}
		if len(tops) > 0 && strings.HasPrefix(f.Name, tops[len(tops)-1].Name+sep) {
			continue // moves with the folder above it
		}
		tops = append(tops, f)
	}
	if len(tops) == 0 {
		return errNo("NONEXISTENT", "Mailbox does not exist")
	}
	if to == from || strings.HasPrefix(to, from+sep) {
		return errNo("CANNOT", "Cannot rename a mailbox into itself")
	}
	for _, f := range folders {
		if f.Name == to || strings.HasPrefix(f.Name, to+sep) {
			return errNo("ALREADYEXISTS", "Mailbox already exists")
		}
	}
	for _, f := range tops {
		newName := to + f.Name[len(from):]
		if err := st.RenameFolder(s.ctx, f.ID, newName); err != nil {
			return folderError("rename", err)
		}
		s.renamedSelected(f.Name, newName)
	}
	return nil
}

// statusItems reads a STATUS item list.
func (s *session) statusItems() ([]string, error) {
	var items []string
	err := s.r.list(false, func() error {
		it, err := s.r.keyword()
		if err != nil {
			return err
		}
		switch it {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT":
		default:
			return errSyntax("unknown STATUS item %s", it)
		}
		if it == "HIGHESTMODSEQ" {
			s.condstore = true
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

func cmdStatus(s *session, tag string) (string, error) {
	name, err := s.spMailboxArg()
	if err != nil {
		return "", err
	}
	if err := s.r.sp(); err != nil {
		return "", err
	}
	items, err := s.statusItems()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	f, err := s.folder(name)
	if err != nil {
		return "", err
	}
	return "", s.writeStatus(f, items)
}

// writeStatus writes one STATUS response.
func (s *session) writeStatus(f store.Folder, items []string) error {
	st, err := s.srv.opts.Store.FolderStatus(s.ctx, f.ID)
	if err != nil {
		return fmt.Errorf("folder status: %w", err)
	}
	f = st.Folder
	b := []byte("* STATUS ")
	b = s.appendMailbox(b, f.Name)
	b = append(b, " ("...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, it...)
		b = append(b, ' ')
		var v int64
		switch it {
		case "MESSAGES":
			v = st.Messages
		case "UIDNEXT":
			v = int64(f.UIDNext)
		case "UIDVALIDITY":
			v = int64(f.UIDValidity)
		case "UNSEEN":
			v = st.Unseen
		case "DELETED":
			v = st.Deleted
		case "SIZE":
			v = st.Size
		case "RECENT":
			v = st.Recent
		case "HIGHESTMODSEQ":
			b = strconv.AppendUint(b, f.HighestModSeq, 10)
			continue
		case "APPENDLIMIT":
			v = s.srv.opts.AppendLimit
		}
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ")\r\n"...)
	_, err = s.bw.Write(b)
	return err
}
