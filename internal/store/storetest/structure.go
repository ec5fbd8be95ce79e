package storetest

import (
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/mimeparse"
	"github.com/pochta-mail/pochta/internal/store"
)

// structure returns the cached structure of a message.
func structure(t *testing.T, s store.Store, m store.Message) *mimeparse.Message {
	t.Helper()
	st, err := s.Structure(ctx(t), m)
	if err != nil {
		t.Fatalf("Structure(uid %d): %v", m.UID, err)
	}
	if st == nil || st.Root == nil {
		t.Fatalf("Structure(uid %d) = %+v, want a root part", m.UID, st)
	}
	return st
}

// partBytes returns the body bytes of a part from the stored message.
func partBytes(t *testing.T, body string, p *mimeparse.Part) string {
	t.Helper()
	if p.BodyStart < 0 || p.BodyStart > p.End || p.End > int64(len(body)) {
		t.Fatalf("part offsets [%d, %d) outside a %d-byte body", p.BodyStart, p.End, len(body))
	}
	return body[p.BodyStart:p.End]
}

func testDeliverStructure(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	m := deliverTo(t, s, inbox(t, s, a.ID), textMsg("Hello there", "Line one\nLine two"))
	st := structure(t, s, m)
	if st.Size != m.Size {
		t.Errorf("Structure.Size = %d, want %d", st.Size, m.Size)
	}
	body := readBody(t, s, m)
	if want := int64(strings.Count(body, "\n")); st.Lines != want {
		t.Errorf("Structure.Lines = %d, want %d", st.Lines, want)
	}
	r := st.Root
	if r.Type != "text" || r.Subtype != "plain" {
		t.Errorf("root type %s/%s, want text/plain", r.Type, r.Subtype)
	}
	if r.HeaderStart != 0 || r.End != m.Size {
		t.Errorf("root offsets [%d, %d), want [0, %d)", r.HeaderStart, r.End, m.Size)
	}
	// The offsets are those of the stored (CRLF) bytes, not of the LF
	// input.
	if got := partBytes(t, body, r); got != "Line one\r\nLine two\r\n" {
		t.Errorf("root body bytes = %q", got)
	}
	if r.Envelope == nil {
		t.Fatal("root has no Envelope")
	}
	if r.Envelope.Subject != "Hello there" {
		t.Errorf("Envelope.Subject = %q, want Hello there", r.Envelope.Subject)
	}
	from := r.Envelope.From
	if len(from) != 1 || from[0].Name != "Ivan Petrov" || from[0].Mailbox != "ivan" || from[0].Host != "example.org" {
		t.Errorf("Envelope.From = %+v, want Ivan Petrov <ivan@example.org>", from)
	}
	if to := r.Envelope.To; len(to) != 1 || to[0].Mailbox != "maria" {
		t.Errorf("Envelope.To = %+v, want maria@example.org", to)
	}
	// Structure of the same message read back by id is the same.
	again, err := s.MessageByID(ctx(t), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st2 := structure(t, s, again); st2.Root.Envelope == nil || st2.Root.Envelope.Subject != "Hello there" || st2.Size != st.Size {
		t.Errorf("Structure via MessageByID differs: %+v", st2)
	}
}

const multipartMsg = `From: Ivan Petrov <ivan@example.org>
To: maria@example.org
Subject: With attachment
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

This is a multi-part message.
--b1
Content-Type: text/plain; charset=utf-8

Part one text
--b1
Content-Type: application/pdf; name="doc.pdf"
Content-Disposition: attachment; filename="doc.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
`

func testDeliverStructureMultipart(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	m := deliverTo(t, s, inbox(t, s, a.ID), multipartMsg)
	st := structure(t, s, m)
	body := readBody(t, s, m)
	r := st.Root
	if r.Type != "multipart" || r.Subtype != "mixed" {
		t.Fatalf("root type %s/%s, want multipart/mixed", r.Type, r.Subtype)
	}
	if len(r.Parts) != 2 {
		t.Fatalf("root has %d parts, want 2", len(r.Parts))
	}
	p1, p2 := r.Parts[0], r.Parts[1]
	if p1.Type != "text" || p1.Subtype != "plain" {
		t.Errorf("part 1 type %s/%s, want text/plain", p1.Type, p1.Subtype)
	}
	if got := partBytes(t, body, p1); got != "Part one text" {
		t.Errorf("part 1 body = %q, want %q", got, "Part one text")
	}
	if p2.Type != "application" || p2.Subtype != "pdf" || !strings.EqualFold(p2.Encoding, "base64") {
		t.Errorf("part 2 = %s/%s %s, want application/pdf base64", p2.Type, p2.Subtype, p2.Encoding)
	}
	if got := partBytes(t, body, p2); got != "JVBERi0xLjQK" {
		t.Errorf("part 2 body = %q", got)
	}
	if r.Envelope == nil || r.Envelope.Subject != "With attachment" {
		t.Errorf("Envelope = %+v, want subject With attachment", r.Envelope)
	}
}

// A message whose MIME structure is broken is still stored byte for byte,
// and its structure is a single text part.
func testDeliverBrokenMIME(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	broken := []string{
		// A multipart whose boundary never occurs.
		"From: x@example.org\nSubject: no parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"never\"\n\nThere is no boundary in here.\n--other\nstill text\n",
		// A multipart without a boundary parameter.
		"Subject: no boundary\nContent-Type: multipart/alternative\n\nplain words\n",
		// A Content-Type that does not parse, and a header line without a colon.
		"Subject: bad type\nContent-Type: ;;;===\nthis line is not a header field\n\nbody words\n",
		// No header at all, and no line ending at the end.
		"just some text without any header",
	}
	for i, raw := range broken {
		m, err := s.Deliver(ctx(t), store.Delivery{AccountID: a.ID, FolderID: in.ID, Body: strings.NewReader(raw)})
		if err != nil {
			t.Errorf("message %d: Deliver: %v", i, err)
			continue
		}
		got := readBody(t, s, m)
		want := crlf(raw)
		if got != want && got != want+"\r\n" {
			t.Errorf("message %d stored as %q, want %q", i, got, want)
		}
		if m.Size != int64(len(got)) {
			t.Errorf("message %d: Size %d, stored %d bytes", i, m.Size, len(got))
		}
		st := structure(t, s, m)
		if st.Root.Type != "text" || st.Root.Subtype != "plain" || len(st.Root.Parts) != 0 {
			t.Errorf("message %d: root %s/%s with %d parts, want a single text/plain part", i, st.Root.Type, st.Root.Subtype, len(st.Root.Parts))
		}
		if st.Size != m.Size {
			t.Errorf("message %d: Structure.Size %d, want %d", i, st.Size, m.Size)
		}
	}
	if st, err := s.FolderStatus(ctx(t), in.ID); err != nil || st.Messages != int64(len(broken)) {
		t.Errorf("FolderStatus = %+v, %v; want %d messages", st, err, len(broken))
	}
}

// Bare CRs become CRLF too; a missing final line ending may be added or
// not, as long as Size is what is stored.
func testDeliverBareCR(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	m := deliverTo(t, s, inbox(t, s, a.ID), "Subject: cr\r\rold\rmac\rtext\n\rend")
	got := readBody(t, s, m)
	want := "Subject: cr\r\n\r\nold\r\nmac\r\ntext\r\n\r\nend"
	if got != want && got != want+"\r\n" {
		t.Errorf("stored %q, want %q", got, want)
	}
	if m.Size != int64(len(got)) {
		t.Errorf("Size %d, stored %d bytes", m.Size, len(got))
	}
}

func testStructuresBatch(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	msgs := []store.Message{
		deliverTo(t, s, in, textMsg("First", "one")),
		deliverTo(t, s, in, multipartMsg),
		deliverTo(t, s, in, textMsg("Third", "three")),
	}
	// A copy shares its body: both messages find the same structure.
	arch, err := s.CreateFolder(ctx(t), a.ID, "Batch copies", store.RoleNone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx(t), in.ID, []uint32{msgs[0].UID}, arch.ID); err != nil {
		t.Fatal(err)
	}
	copied, err := s.MessagesByUID(ctx(t), arch.ID, []uint32{1})
	if err != nil || len(copied) != 1 {
		t.Fatalf("MessagesByUID(Batch copies) = %v, %v", copied, err)
	}
	msgs = append(msgs, copied[0])
	got, err := s.Structures(ctx(t), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		st := got[m.BodyID]
		if st == nil || st.Root == nil {
			t.Fatalf("Structures has no structure for UID %d (body %d): %v", m.UID, m.BodyID, got)
		}
		want := structure(t, s, m)
		if st.Size != want.Size || st.Lines != want.Lines || st.Root.End != want.Root.End ||
			st.Root.Envelope == nil || st.Root.Envelope.Subject != want.Root.Envelope.Subject ||
			len(st.Root.Parts) != len(want.Root.Parts) {
			t.Errorf("Structures[%d] = %+v, Structure = %+v", m.BodyID, st, want)
		}
	}
	if got[msgs[0].BodyID].Root.Envelope.Subject != "First" || len(got[msgs[1].BodyID].Root.Parts) == 0 {
		t.Errorf("Structures mixed up the messages: %+v", got)
	}
	if empty, err := s.Structures(ctx(t), nil); err != nil || len(empty) != 0 {
		t.Errorf("Structures(nil) = %v, %v; want empty", empty, err)
	}
	// A message that was expunged (its body gone) is left out, not an error.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{msgs[2].UID}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Structures(ctx(t), msgs[1:3])
	if err != nil {
		t.Fatal(err)
	}
	if got[msgs[1].BodyID] == nil {
		t.Errorf("Structures lost the multipart message after an unrelated expunge")
	}
}
