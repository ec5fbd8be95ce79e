package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"mime"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// goIMAP logs in over IMAPS with go-imap v2's client.
func goIMAP(t testing.TB, s *Server, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(s.Addr("imaps"), &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatalf("dial imaps: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// appendMsg APPENDs one message with flags and fails the test on error.
func appendMsg(t testing.TB, c *imapclient.Client, mailbox string, msg []byte, flags ...imap.Flag) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(msg); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", mailbox, err)
	}
}

// serverMsg is one message as the server shows it.
type serverMsg struct {
	UID   imap.UID
	Flags []imap.Flag
	Body  []byte
}

// fetchAll selects mailbox and returns every message keyed by its
// Message-ID header.
func fetchAll(t testing.TB, c *imapclient.Client, mailbox string) map[string]serverMsg {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	out := map[string]serverMsg{}
	if sel.NumMessages == 0 {
		return out
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	sec := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		t.Fatalf("fetch 1:*: %v", err)
	}
	for _, m := range msgs {
		body := m.FindBodySection(sec)
		id := messageID(body)
		if id == "" {
			t.Fatalf("message UID %d has no Message-ID:\n%.300s", m.UID, body)
		}
		if _, dup := out[id]; dup {
			t.Fatalf("Message-ID %s twice in %s", id, mailbox)
		}
		out[id] = serverMsg{UID: m.UID, Flags: m.Flags, Body: body}
	}
	return out
}

var imapMessageIDRE = regexp.MustCompile(`(?mi)^Message-ID:\s*(<[^>\r\n]+>)`)

// messageID returns the Message-ID of a message ("" if none).
func messageID(msg []byte) string {
	if m := imapMessageIDRE.FindSubmatch(msg); m != nil {
		return string(m[1])
	}
	return ""
}

// mixedMessage makes message i of a mixed mailbox, with CRLF line endings:
// plain ASCII, UTF-8 headers (raw 8-bit and encoded words), or a multipart
// message with a base64 attachment, depending on i.
func mixedMessage(prefix string, i int) []byte {
	id := fmt.Sprintf("<%s-%d@example.org>", prefix, i)
	date := "Mon, 01 Jan 2024 10:00:00 +0000"
	var b strings.Builder
	switch i % 3 {
	case 0:
		fmt.Fprintf(&b, "From: Boris <boris@example.net>\r\nTo: anna@example.org\r\nSubject: plain %s %d\r\nMessage-ID: %s\r\nDate: %s\r\n\r\n", prefix, i, id, date)
		for l := 0; l < 5+i%7; l++ {
			fmt.Fprintf(&b, "Line %d of message %d: the quick brown fox jumps over the lazy dog.\r\n", l, i)
		}
	case 1:
		fmt.Fprintf(&b, "From: =?UTF-8?B?%s?= <vera@example.net>\r\nTo: Анна <anna@example.org>\r\nSubject: Привет, мир %s %d — ünïcödé 日本語\r\nMessage-ID: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
			base64.StdEncoding.EncodeToString([]byte("Вера Павлова")), prefix, i, id, date)
		fmt.Fprintf(&b, "Здравствуйте! Сообщение номер %d.\r\nGrüße aus Köln.\r\n", i)
	default:
		att := bytes.Repeat([]byte{byte(i), 0, 0xff, 'x', '\n'}, 300+i)
		fmt.Fprintf(&b, "From: Gleb <gleb@example.net>\r\nTo: anna@example.org\r\nSubject: attachment %s %d\r\nMessage-ID: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b-%d\"\r\n\r\n", prefix, i, id, date, i)
		fmt.Fprintf(&b, "--b-%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n--b-%d\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data-%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i, i, i)
		enc := base64.StdEncoding.EncodeToString(att)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
		fmt.Fprintf(&b, "--b-%d--\r\n", i)
	}
	return []byte(b.String())
}

// hasFlag reports whether flags holds f (case-insensitively).
func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// sameDecoded reports whether two copies of a message are the same but
// for how their header fields are encoded: raw UTF-8 in one, RFC 2047
// encoded words (and RFC 2231 parameters) in the other, as the server
// sends a message with UTF-8 headers to a client that did not enable
// UTF8=ACCEPT (RFC 6857). Field order, names, decoded values and the body
// must match exactly.
func sameDecoded(a, b []byte) bool {
	ha, ba := decodedHeader(a)
	hb, bb := decodedHeader(b)
	return slices.Equal(ha, hb) && bytes.Equal(ba, bb)
}

// decodedHeader splits a message into its header fields, unfolded and
// decoded ("name: value", whitespace runs as one space), and its body.
func decodedHeader(msg []byte) ([]string, []byte) {
	head, body := headerBlock(msg)
	var fields []string
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		if len(fields) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			fields[len(fields)-1] += line
			continue
		}
		fields = append(fields, line)
	}
	var dec mime.WordDecoder
	for i, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.Join(strings.Fields(value), " ")
		if name == "content-type" || name == "content-disposition" {
			if mt, params, err := mime.ParseMediaType(value); err == nil {
				keys := slices.Sorted(maps.Keys(params))
				value = mt
				for _, k := range keys {
					value += "; " + k + "=" + params[k]
				}
			}
		} else if d, err := dec.DecodeHeader(value); err == nil {
			value = strings.Join(strings.Fields(d), " ")
		}
		fields[i] = name + ": " + value
	}
	return fields, body
}

// utf8HeaderBytes reports whether a message's header has 8-bit bytes.
func utf8HeaderBytes(msg []byte) bool {
	head, _ := headerBlock(msg)
	for _, c := range head {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// headerBlock splits a message at its first empty line.
func headerBlock(msg []byte) (head, body []byte) {
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(msg, []byte(sep)); i >= 0 {
			return msg[:i], msg[i+len(sep):]
		}
	}
	return msg, nil
}
