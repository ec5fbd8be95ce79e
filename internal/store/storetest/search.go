package storetest

import (
	"encoding/base64"
	"mime"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// rawMsg builds a message from header lines (without the final empty line)
// and a body, with LF line endings.
func rawMsg(headers []string, body string) string {
	return strings.Join(headers, "\n") + "\n\n" + body + "\n"
}

// plainHeaders are the usual headers of a UTF-8 plain-text message plus
// extra ones.
func plainHeaders(subject string, extra ...string) []string {
	h := []string{
		"From: Ivan Petrov <ivan@example.org>",
		"To: maria@example.org",
		"Subject: " + subject,
		"MIME-Version: 1.0",
	}
	return append(h, extra...)
}

// search runs Search and fails the test on error.
func search(t *testing.T, s store.Store, folderID int64, field store.SearchField, q string) []uint32 {
	t.Helper()
	uids, err := s.Search(ctx(t), folderID, field, q)
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	return uids
}

var fieldNames = map[store.SearchField]string{
	store.SearchText:    "text",
	store.SearchHeaders: "headers",
	store.SearchBody:    "body",
}

// wantSearch checks the result of one search.
func wantSearch(t *testing.T, s store.Store, folderID int64, field store.SearchField, q string, want ...uint32) {
	t.Helper()
	wantUIDs(t, search(t, s, folderID, field, q), want, "Search("+fieldNames[field]+", "+q+")")
}

func testSearchHeadersBodyText(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, textMsg("Meeting tomorrow", "Let's discuss the quarterly report."))
	deliverTo(t, s, in, textMsg("Lunch", "About the meeting room booking."))
	deliverTo(t, s, in, textMsg("Unrelated", "Nothing to see."))
	wantSearch(t, s, in.ID, store.SearchHeaders, "meeting", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "meeting", 2)
	wantSearch(t, s, in.ID, store.SearchText, "meeting", 1, 2)
	wantSearch(t, s, in.ID, store.SearchBody, "quarterly report", 1)
	wantSearch(t, s, in.ID, store.SearchHeaders, "quarterly")
	wantSearch(t, s, in.ID, store.SearchText, "quarterly", 1)
	wantSearch(t, s, in.ID, store.SearchHeaders, "Ivan Petrov", 1, 2, 3)
	wantSearch(t, s, in.ID, store.SearchBody, "Ivan Petrov")
	wantSearch(t, s, in.ID, store.SearchText, "zzqqxx")
}

func testSearchCaseInsensitive(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, textMsg("Budget PLANNING", "The QUARTERLY Report is due."))
	deliverTo(t, s, in, textMsg("Other", "nothing"))
	for _, q := range []string{"quarterly", "Quarterly", "QUARTERLY", "qUaRtErLy", "rterly rep"} {
		wantSearch(t, s, in.ID, store.SearchBody, q, 1)
	}
	for _, q := range []string{"planning", "budget planning", "BUDGET"} {
		wantSearch(t, s, in.ID, store.SearchHeaders, q, 1)
	}
}

// win1251 encodes Cyrillic text (without Ё/ё) as windows-1251.
func win1251(s string) string {
	var b []byte
	for _, r := range s {
		switch {
		case r >= 'А' && r <= 'я':
			b = append(b, byte(0xC0+r-'А'))
		case r < 0x80:
			b = append(b, byte(r))
		default:
			panic("win1251: unsupported rune")
		}
	}
	return string(b)
}

func testSearchUTF8(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, rawMsg(plainHeaders("Письмо из Москвы",
		"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"),
		"Привет, Мир! Всё хорошо."))
	deliverTo(t, s, in, rawMsg(plainHeaders("Other",
		"Content-Type: text/plain; charset=windows-1251", "Content-Transfer-Encoding: 8bit"),
		win1251("Здравствуйте, коллеги")))
	deliverTo(t, s, in, textMsg("Plain", "no cyrillic here"))
	wantSearch(t, s, in.ID, store.SearchBody, "ривет", 1)
	wantSearch(t, s, in.ID, store.SearchText, "ривет", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "Привет, Мир", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "МИР", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "привет", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "всё хорошо", 1)
	wantSearch(t, s, in.ID, store.SearchHeaders, "москвы", 1)
	wantSearch(t, s, in.ID, store.SearchHeaders, "ривет")
	// Other charsets are searched in their decoded form.
	wantSearch(t, s, in.ID, store.SearchBody, "здравствуйте", 2)
	wantSearch(t, s, in.ID, store.SearchBody, "КОЛЛЕГИ", 2)
}

func testSearchBase64(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	enc := base64.StdEncoding.EncodeToString([]byte("The secret word is pineapple.\r\nSecond line: ананас.\r\n"))
	deliverTo(t, s, in, rawMsg(plainHeaders("Encoded",
		"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"), enc))
	deliverTo(t, s, in, textMsg("Other", "no fruit"))
	wantSearch(t, s, in.ID, store.SearchBody, "pineapple", 1)
	wantSearch(t, s, in.ID, store.SearchText, "SECRET WORD", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "ананас", 1)
	// The encoded form is not what is searched.
	wantSearch(t, s, in.ID, store.SearchText, enc[4:16])
}

func testSearchQuotedPrintable(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, rawMsg(plainHeaders("QP",
		"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"),
		"Caf=C3=A9 au lait =\navec croissant, =D0=BF=D0=BE=D0=B6=D0=B0=D0=BB=D1=83=D0=B9=D1=81=D1=82=D0=B0."))
	deliverTo(t, s, in, textMsg("Other", "plain tea"))
	wantSearch(t, s, in.ID, store.SearchBody, "café", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "CAFÉ AU LAIT", 1)
	// The soft line break joins the lines.
	wantSearch(t, s, in.ID, store.SearchBody, "au lait avec croissant", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "пожалуйста", 1)
	wantSearch(t, s, in.ID, store.SearchText, "=C3=A9")
}

func testSearchEncodedWordSubject(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	b := mime.BEncoding.Encode("utf-8", "Отчёт за март")
	q := mime.QEncoding.Encode("utf-8", "Café crème")
	deliverTo(t, s, in, rawMsg(plainHeaders(b, "Content-Type: text/plain; charset=utf-8"), "body one"))
	deliverTo(t, s, in, rawMsg(plainHeaders(q, "Content-Type: text/plain; charset=utf-8"), "body two"))
	deliverTo(t, s, in, textMsg("Plain subject", "body three"))
	wantSearch(t, s, in.ID, store.SearchHeaders, "отчёт за", 1)
	wantSearch(t, s, in.ID, store.SearchText, "ЗА МАРТ", 1)
	wantSearch(t, s, in.ID, store.SearchHeaders, "café crème", 2)
	wantSearch(t, s, in.ID, store.SearchHeaders, "=?utf-8?")
	wantSearch(t, s, in.ID, store.SearchBody, "отчёт")
}

// Strings shorter than the three characters a trigram index needs must
// still be found.
func testSearchShort(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, textMsg("One", "ab cd"))
	deliverTo(t, s, in, rawMsg(plainHeaders("Two", "X-Tag: Ы1", "Content-Type: text/plain; charset=utf-8"), "Ёж"))
	deliverTo(t, s, in, textMsg("Three", "xyz"))
	wantSearch(t, s, in.ID, store.SearchBody, "cd", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "CD", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "ж", 2)
	wantSearch(t, s, in.ID, store.SearchBody, "ёж", 2)
	wantSearch(t, s, in.ID, store.SearchBody, "y", 3)
	wantSearch(t, s, in.ID, store.SearchHeaders, "ы1", 2)
	wantSearch(t, s, in.ID, store.SearchBody, "qq")
}

// Characters special to SQL LIKE or quoting match only themselves.
func testSearchWildcards(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	deliverTo(t, s, in, textMsg("One", "growth 100% sure, snake_case, o'brien, back\\slash"))
	deliverTo(t, s, in, textMsg("Two", "growth 1000 units, snakeXcase, obrien, backXslash"))
	wantSearch(t, s, in.ID, store.SearchBody, "100%", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "%", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "e_c", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "_", 1)
	wantSearch(t, s, in.ID, store.SearchBody, "o'brien", 1)
	wantSearch(t, s, in.ID, store.SearchBody, `k\s`, 1)
	wantSearch(t, s, in.ID, store.SearchBody, `"`)
}

func testSearchOrderAndFolder(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	b := mustAccount(t, s, "maria@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	for i, body := range []string{"pineapple one", "banana", "pineapple two", "cherry", "PINEAPPLE three"} {
		deliverTo(t, s, in, textMsg("fruit "+string(rune('a'+i)), body))
	}
	deliverTo(t, s, arch, textMsg("archived", "other"))
	deliverTo(t, s, arch, textMsg("archived", "pineapple archived"))
	deliverTo(t, s, inbox(t, s, b.ID), textMsg("other account", "pineapple"))
	wantSearch(t, s, in.ID, store.SearchBody, "pineapple", 1, 3, 5)
	wantSearch(t, s, arch.ID, store.SearchBody, "pineapple", 2)
	wantSearch(t, s, folder(t, s, a.ID, "Sent").ID, store.SearchBody, "pineapple")
	wantSearch(t, s, inbox(t, s, b.ID).ID, store.SearchBody, "pineapple", 1)
}

func testSearchAfterExpungeAndMove(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	for range 3 {
		deliverTo(t, s, in, textMsg("note", "pineapple"))
	}
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx(t), in.ID, []uint32{2}, arch.ID); err != nil {
		t.Fatal(err)
	}
	wantSearch(t, s, in.ID, store.SearchBody, "pineapple", 3)
	wantSearch(t, s, arch.ID, store.SearchBody, "pineapple", 1)
	// The search text goes with the folder when it is deleted and the
	// name is used again.
	w := mustCreateFolder(t, s, a.ID, "Work")
	deliverTo(t, s, w, textMsg("work", "pineapple"))
	if err := s.DeleteFolder(ctx(t), w.ID); err != nil {
		t.Fatal(err)
	}
	w = mustCreateFolder(t, s, a.ID, "Work")
	deliverTo(t, s, w, textMsg("work", "banana"))
	wantSearch(t, s, w.ID, store.SearchBody, "pineapple")
	wantSearch(t, s, w.ID, store.SearchBody, "banana", 1)
}

func testSearchCopy(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "ivan@example.org")
	in := inbox(t, s, a.ID)
	arch := folder(t, s, a.ID, "Archive")
	deliverTo(t, s, arch, textMsg("first", "banana"))
	deliverTo(t, s, in, textMsg("copied", "pineapple"))
	if _, err := s.Copy(ctx(t), in.ID, []uint32{1}, arch.ID); err != nil {
		t.Fatal(err)
	}
	wantSearch(t, s, arch.ID, store.SearchBody, "pineapple", 2)
	// Expunging the original keeps the copy searchable.
	if _, err := s.Expunge(ctx(t), in.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	wantSearch(t, s, arch.ID, store.SearchText, "pineapple", 2)
	wantSearch(t, s, in.ID, store.SearchText, "pineapple")
}
