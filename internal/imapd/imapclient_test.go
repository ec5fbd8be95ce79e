// These tests talk to the server with go-imap v2's client.

package imapd

import (
	"crypto/tls"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func (e *testEnv) imapClient(h *imapclient.UnilateralDataHandler) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{
		TLSConfig:             &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: h,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login("anna@example.org", testPassword).Wait(); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestIMAPClientLibrary(t *testing.T) {
	e := newEnv(t, envOptions{quotaBytes: 1 << 30})
	var exists atomic.Uint32
	notify := make(chan struct{}, 16)
	c := e.imapClient(&imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			exists.Store(*d.NumMessages)
			notify <- struct{}{}
		}
	}})
	if !c.Caps().Has(imap.CapIMAP4rev2) || !c.Caps().Has(imap.CapUIDPlus) {
		t.Fatalf("caps %v", c.Caps())
	}
	lists, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, l := range lists {
		for _, a := range l.Attrs {
			if a == imap.MailboxAttrSent || a == imap.MailboxAttrTrash {
				roles[string(a)] = l.Mailbox
			}
		}
		if l.Status == nil || l.Status.NumMessages == nil {
			t.Fatalf("no LIST-STATUS for %s", l.Mailbox)
		}
	}
	if roles[`\Sent`] != "Sent" || roles[`\Trash`] != "Trash" {
		t.Fatalf("special use: %v", roles)
	}
	if err := c.Create("Архив/2024", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := msg1
	when := time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC)
	app := c.Append("Sent", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: when})
	app.Write([]byte(msg))
	app.Close()
	ad, err := app.Wait()
	if err != nil || ad.UID != 1 || ad.UIDValidity == 0 {
		t.Fatalf("append: %+v %v", ad, err)
	}
	sel, err := c.Select("Sent", nil).Wait()
	if err != nil || sel.NumMessages != 1 || sel.UIDNext != 2 {
		t.Fatalf("select: %+v %v", sel, err)
	}
	bodySec := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{bodySec},
		BinarySection: []*imap.FetchItemBinarySection{{Part: []int{2}, Peek: true}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.Envelope == nil || m.Envelope.Subject != "Привет report" || len(m.Envelope.To) != 5 || m.Envelope.From[0].Host != "example.org" {
		t.Fatalf("envelope %+v", m.Envelope)
	}
	if !m.InternalDate.Equal(when) || m.RFC822Size != int64(len(msg)) {
		t.Fatalf("date %v size %d", m.InternalDate, m.RFC822Size)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "MIXED" || len(mp.Children) != 2 {
		t.Fatalf("bodystructure %#v", m.BodyStructure)
	}
	att := mp.Children[1].(*imap.BodyStructureSinglePart)
	if att.Disposition().Value != "attachment" || att.Filename() != "a.bin" {
		t.Fatalf("attachment %#v", att)
	}
	if got := string(m.FindBodySection(bodySec)); got != "Hello quarterly numbers" {
		t.Fatalf("BODY[1] = %q", got)
	}
	if len(m.BinarySection) != 1 || string(m.BinarySection[0].Bytes) != "\x00\x01\x02\x03\x04" {
		t.Fatalf("binary %+v", m.BinarySection)
	}
	// Store, search, copy and move with UIDPLUS.
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}, Body: []string{"quarterly"}}, nil).Wait()
	if err != nil || len(sd.AllUIDs()) != 1 {
		t.Fatalf("search %+v %v", sd, err)
	}
	cd, err := c.Copy(imap.SeqSetNum(1), "Архив/2024").Wait()
	if err != nil || cd.UIDValidity == 0 {
		t.Fatalf("copy %+v %v", cd, err)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Trash").Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("Архив/2024", &imap.StatusOptions{NumMessages: true, UIDNext: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 1 || st.UIDNext != 2 || *st.Size != int64(len(msg)) {
		t.Fatalf("status %+v %v", st, err)
	}
	// IDLE in INBOX wakes on a delivery by another path.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	e.deliver("INBOX", "Subject: wake\r\n\r\nup\r\n")
	select {
	case <-notify:
	case <-time.After(10 * time.Second):
		t.Fatal("IDLE did not report the new message")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if exists.Load() != 1 {
		t.Fatalf("EXISTS %d", exists.Load())
	}
	qr, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(qr) != 1 {
		t.Fatalf("quota %+v %v", qr, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
