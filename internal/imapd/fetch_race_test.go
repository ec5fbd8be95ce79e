package imapd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// expungingStore expunges a chosen message right after the server lists
// it for a FETCH: another session's EXPUNGE landing between the listing
// and the reading of the message's data, which imaptest's stress mode hit.
type expungingStore struct {
	store.Store
	mu     sync.Mutex
	victim uint32 // UID to expunge at its next listing; 0: none
}

func (x *expungingStore) expungeNext(uid uint32) {
	x.mu.Lock()
	x.victim = uid
	x.mu.Unlock()
}

func (x *expungingStore) MessagesByUID(ctx context.Context, folderID int64, uids []uint32) ([]store.Message, error) {
	msgs, err := x.Store.MessagesByUID(ctx, folderID, uids)
	x.mu.Lock()
	v := x.victim
	x.victim = 0
	x.mu.Unlock()
	if err == nil && v != 0 && slices.ContainsFunc(msgs, func(m store.Message) bool { return m.UID == v }) {
		if _, err := x.Store.SetFlags(ctx, folderID, []uint32{v}, store.FlagChange{Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
			return nil, err
		}
		if _, err := x.Store.Expunge(ctx, folderID, []uint32{v}); err != nil {
			return nil, err
		}
	}
	return msgs, err
}

// TestFetchMessageExpungedMeanwhile: a message expunged by another
// session after the FETCH listed it but before its data was read is left
// out of the answer (which stays well-formed: no response cut in half),
// the others are answered, the FETCH ends OK [EXPUNGEISSUED], and the
// EXPUNGE follows at the next allowed moment.
func TestFetchMessageExpungedMeanwhile(t *testing.T) {
	for _, items := range []string{
		"BODY.PEEK[]",
		"ENVELOPE",
		"BODYSTRUCTURE",
		"BODY.PEEK[HEADER] BODY.PEEK[TEXT]",
		"UID RFC822.SIZE",
		"BINARY.PEEK[1] BINARY.SIZE[1]",
		"RFC822",
	} {
		t.Run(strings.ReplaceAll(items, " ", "_"), func(t *testing.T) {
			var x *expungingStore
			e := newEnv(t, envOptions{wrapStore: func(st store.Store) store.Store {
				x = &expungingStore{Store: st}
				return x
			}})
			var uids []uint32
			for i := 1; i <= 3; i++ {
				// 8-bit headers: a session without UTF-8 gets them
				// downgraded, which reads the message too.
				m := e.deliver("INBOX", fmt.Sprintf("Subject: Привет %d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n", i, i))
				uids = append(uids, m.UID)
			}
			c := e.login()
			c.ok("SELECT INBOX")
			x.expungeNext(uids[1])
			u, tagged := c.cmd("FETCH 1:3 (" + items + ")")
			if !strings.HasPrefix(tagged, "OK [EXPUNGEISSUED]") {
				t.Fatalf("FETCH: %q (untagged %q), want OK [EXPUNGEISSUED]", tagged, u)
			}
			var fetched []string
			for _, l := range u {
				if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH (") {
					fetched = append(fetched, strings.Fields(l)[1])
					if !strings.HasSuffix(l, ")") {
						t.Errorf("FETCH response not closed: %q", l)
					}
				}
			}
			if !slices.Equal(fetched, []string{"1", "3"}) {
				t.Errorf("FETCH answered messages %v, want 1 and 3: %q", fetched, u)
			}
			mustHave(t, c.ok("NOOP"), "* 2 EXPUNGE")
			// The session goes on normally.
			if u := c.ok("FETCH 1:* (UID)"); len(u) != 2 {
				t.Errorf("after the expunge: %q", u)
			}
		})
	}
}

// failingBody is a stored body whose reads fail half-way: a disk error
// while a literal is being sent.
type failingBody struct {
	store.Body
}

func (b failingBody) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > b.Size()/2 {
		return 0, fmt.Errorf("injected read error at %d", off)
	}
	return b.Body.ReadAt(p, off)
}

type failingBodyStore struct{ store.Store }

func (f failingBodyStore) OpenBody(ctx context.Context, m store.Message) (store.Body, error) {
	b, err := f.Store.OpenBody(ctx, m)
	if err != nil {
		return nil, err
	}
	return failingBody{b}, nil
}

// TestFetchReadErrorMidLiteral: when reading a body fails after its
// literal has begun, no tagged answer can follow the short literal (the
// client would take it for message bytes): the server closes the
// connection instead, and other sessions go on.
func TestFetchReadErrorMidLiteral(t *testing.T) {
	e := newEnv(t, envOptions{wrapStore: func(st store.Store) store.Store { return failingBodyStore{st} }})
	e.deliver("INBOX", "Subject: x\r\n\r\n"+strings.Repeat("body line\r\n", 2000))
	c := e.login()
	c.ok("SELECT INBOX")
	c.write("f1 FETCH 1 (BODY.PEEK[])\r\n")
	var got strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := c.br.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break // the server closed the connection
		}
	}
	if strings.Contains(got.String(), "f1 ") {
		t.Errorf("a tagged answer followed the cut literal: %q", got.String()[max(0, got.Len()-200):])
	}
	other := e.login()
	other.ok("SELECT INBOX")
	other.ok("FETCH 1 (UID FLAGS)")
}

// keywordingStore sets a keyword on the messages a FETCH lists just
// before the listing: another session's STORE that the fetching session
// has not heard of yet.
type keywordingStore struct {
	store.Store
	mu      sync.Mutex
	keyword string // set at the next listing; "" none
}

func (k *keywordingStore) MessagesByUID(ctx context.Context, folderID int64, uids []uint32) ([]store.Message, error) {
	k.mu.Lock()
	kw := k.keyword
	k.keyword = ""
	k.mu.Unlock()
	if kw != "" {
		if _, err := k.Store.SetFlags(ctx, folderID, uids, store.FlagChange{Op: store.FlagsAdd, Flags: []string{kw}}); err != nil {
			return nil, err
		}
	}
	return k.Store.MessagesByUID(ctx, folderID, uids)
}

// TestFetchAnnouncesNewKeyword: a FETCH that shows a keyword the session
// has not announced (set by another session a moment before) sends the
// untagged FLAGS with it first (RFC 3501 §7.2.6); imaptest's stress mode
// reported "Keyword used without being in FLAGS".
func TestFetchAnnouncesNewKeyword(t *testing.T) {
	var k *keywordingStore
	e := newEnv(t, envOptions{wrapStore: func(st store.Store) store.Store {
		k = &keywordingStore{Store: st}
		return k
	}})
	e.deliver("INBOX", "Subject: a\r\n\r\na\r\n")
	c := e.login()
	u := c.ok("SELECT INBOX")
	if has(u, "$Fresh") {
		t.Fatalf("SELECT: %q", u)
	}
	k.mu.Lock()
	k.keyword = "$Fresh"
	k.mu.Unlock()
	u = c.ok("FETCH 1 (FLAGS)")
	flagsAt, fetchAt := -1, -1
	for i, l := range u {
		if strings.HasPrefix(l, "* FLAGS (") && strings.Contains(l, "$Fresh") && flagsAt < 0 {
			flagsAt = i
		}
		if strings.HasPrefix(l, "* 1 FETCH") && strings.Contains(l, "$Fresh") && fetchAt < 0 {
			fetchAt = i
		}
	}
	if fetchAt < 0 || flagsAt < 0 || flagsAt > fetchAt {
		t.Errorf("FETCH showing a new keyword: %q; want * FLAGS with it before the FETCH", u)
	}
}
