package queue

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// maxMIMEDepth bounds the nesting of multiparts and attached messages.
const maxMIMEDepth = 20

// errUTF8Header is the failure to downgrade a message whose header has
// 8-bit bytes: only SMTPUTF8 carries those.
var errUTF8Header = errors.New("the header has 8-bit (UTF-8) text, which needs SMTPUTF8")

// downgrade7bit converts a message with 8-bit body parts to 7-bit MIME
// (RFC 6152 §3 leaves this to the sender): every part whose body has
// 8-bit bytes gets quoted-printable (base64 for binary non-text parts),
// multiparts and attached messages are walked, everything else is kept
// byte for byte. It fails when the message cannot be converted: 8-bit
// bytes in a header or in a part already declared as encoded.
func downgrade7bit(msg []byte) ([]byte, error) {
	return downgradeEntity(msg, 0, true)
}

// downgradeEntity converts one entity; message is set for a whole
// message (the top, or an attached message/rfc822) rather than a body
// part.
func downgradeEntity(data []byte, depth int, message bool) ([]byte, error) {
	if depth > maxMIMEDepth {
		return nil, errors.New("MIME nesting too deep")
	}
	head, body := splitEntity(data)
	if !has8bit(body) {
		if has8bit(head) {
			return nil, errUTF8Header
		}
		return data, nil
	}
	if has8bit(head) {
		return nil, errUTF8Header
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(append([]byte{}, head...), "\r\n"...)))).ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("bad header: %w", err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain" // RFC 2045 §5.2: the default
	}
	if message && h.Get("Mime-Version") == "" {
		// Plain 8-bit mail without MIME: it becomes MIME, its text
		// taken as UTF-8 when it is that.
		head = append(head[:len(head):len(head)], "MIME-Version: 1.0\r\n"...) // a copy: head shares data
		if h.Get("Content-Type") == "" && utf8.Valid(body) {
			head = append(head, "Content-Type: text/plain; charset=utf-8\r\n"...)
		}
	}
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		b := params["boundary"]
		if b == "" {
			return nil, fmt.Errorf("%s without a boundary", mt)
		}
		nb, err := downgradeMultipart(body, b, depth)
		if err != nil {
			return nil, err
		}
		return join(setCTE(head, cte, "7bit"), nb), nil
	case mt == "message/rfc822":
		nb, err := downgradeEntity(body, depth+1, true)
		if err != nil {
			return nil, err
		}
		return join(setCTE(head, cte, "7bit"), nb), nil
	case strings.HasPrefix(mt, "message/"):
		return nil, fmt.Errorf("8-bit data in a %s part", mt)
	}
	switch cte {
	case "", "7bit", "8bit", "binary":
	default:
		return nil, fmt.Errorf("8-bit data in a part declared as %s", cte)
	}
	var enc bytes.Buffer
	newCTE := "quoted-printable"
	if cte == "binary" && !strings.HasPrefix(mt, "text/") {
		newCTE = "base64"
		w := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: &enc})
		w.Write(body)
		w.Close()
		if !bytes.HasSuffix(enc.Bytes(), []byte("\r\n")) {
			enc.WriteString("\r\n")
		}
	} else {
		w := quotedprintable.NewWriter(&enc)
		w.Binary = cte == "binary"
		w.Write(body)
		w.Close()
		if !bytes.HasSuffix(enc.Bytes(), []byte("\r\n")) {
			// A soft line break: the content has no final newline.
			enc.WriteString("=\r\n")
		}
	}
	return join(setCTE(head, cte, newCTE), enc.Bytes()), nil
}

// downgradeMultipart converts each body part between the boundary
// lines, keeping the delimiters, preamble and epilogue.
func downgradeMultipart(body []byte, boundary string, depth int) ([]byte, error) {
	delim := []byte("--" + boundary)
	var out bytes.Buffer
	var part []byte
	inPart, done := false, false
	flush := func() error {
		if !inPart {
			if has8bit(part) {
				return errors.New("8-bit data in a multipart preamble")
			}
			out.Write(part)
			return nil
		}
		// The CRLF before a delimiter belongs to the delimiter.
		p := bytes.TrimSuffix(part, []byte("\r\n"))
		np, err := downgradeEntity(p, depth+1, false)
		if err != nil {
			return err
		}
		out.Write(np)
		if len(p) < len(part) {
			out.WriteString("\r\n")
		}
		return nil
	}
	for rest := body; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if done {
			part = append(part, line...)
			continue
		}
		trimmed := bytes.TrimRight(line, " \t\r\n")
		if bytes.HasPrefix(trimmed, delim) {
			tail := trimmed[len(delim):]
			if len(tail) == 0 || bytes.Equal(tail, []byte("--")) {
				if err := flush(); err != nil {
					return nil, err
				}
				out.Write(line)
				part = nil
				inPart = len(tail) == 0
				done = len(tail) != 0
				continue
			}
		}
		part = append(part, line...)
	}
	if done || !inPart {
		if has8bit(part) {
			return nil, errors.New("8-bit data outside the parts of a multipart")
		}
		out.Write(part)
		return out.Bytes(), nil
	}
	// No closing delimiter: convert the last part as it is.
	if err := flush(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// splitEntity splits an entity at the empty line after its header; the
// header keeps its final CRLF.
func splitEntity(data []byte) (head, body []byte) {
	if bytes.HasPrefix(data, []byte("\r\n")) {
		return nil, data[2:]
	}
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i+2], data[i+4:]
	}
	return data, nil
}

func join(head, body []byte) []byte {
	out := make([]byte, 0, len(head)+2+len(body))
	out = append(out, head...)
	out = append(out, "\r\n"...)
	return append(out, body...)
}

// setCTE replaces the Content-Transfer-Encoding field of a raw header
// (all of it, with its continuation lines) by one with value; a header
// without one that needs none (old is "" and value 7bit) is unchanged.
func setCTE(head []byte, old, value string) []byte {
	if old == "" && value == "7bit" {
		return head
	}
	var out []byte
	skipping := false
	for rest := head; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = false
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(strings.TrimSpace(string(name)), "Content-Transfer-Encoding") {
			skipping = true
			continue
		}
		out = append(out, line...)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, "\r\n"...)
	}
	return append(out, "Content-Transfer-Encoding: "+value+"\r\n"...)
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// lineWrapper breaks base64 output into 76-character lines.
type lineWrapper struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(76-l.n, len(p))
		l.w.Write(p[:k])
		l.n += k
		p = p[k:]
		if l.n == 76 {
			l.w.Write([]byte("\r\n"))
			l.n = 0
		}
	}
	return total, nil
}
