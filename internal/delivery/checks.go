package delivery

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/pochta-mail/pochta/internal/mimeparse"
)

// Header check failures. Test with errors.Is.
var (
	// ErrNotOwned reports a From: address the submitting account does
	// not own.
	ErrNotOwned = errors.New("sender address not owned")
	// ErrBlockedAttachment reports an attachment whose type is refused.
	ErrBlockedAttachment = errors.New("attachment type not allowed")
)

// Limits of the attachment scan: archives bigger than this (decoded) are
// not opened, and archives inside archives only this deep.
const (
	maxZipScan  = 32 << 20
	maxZipDepth = 3
)

// Inspect parses a message for the checks below. It fails only when
// reading fails: bad MIME degrades (see mimeparse.Parse).
func Inspect(body io.ReaderAt, size int64) (*mimeparse.Message, error) {
	m, err := mimeparse.Parse(io.NewSectionReader(body, 0, size))
	if err != nil {
		return nil, fmt.Errorf("inspect message: %w", err)
	}
	return m, nil
}

// CheckFromOwned checks that every address in the From: field(s) is one
// owns accepts. A message without From: passes (there is nothing to
// forge); an unparseable or domain-less address fails.
func CheckFromOwned(m *mimeparse.Message, owns func(addr string) bool) error {
	if m == nil || m.Root == nil || m.Root.Envelope == nil {
		return nil
	}
	for _, a := range m.Root.Envelope.From {
		if a.GroupStart || a.GroupEnd {
			continue
		}
		addr := a.Mailbox + "@" + a.Host
		if a.Mailbox == "" || a.Host == "" {
			return fmt.Errorf("%w: From: %q", ErrNotOwned, addr)
		}
		if !owns(addr) {
			return fmt.Errorf("%w: From: %s", ErrNotOwned, addr)
		}
	}
	return nil
}

// FindBlockedAttachment walks the parts of a message (and of attached
// messages) and returns ErrBlockedAttachment, naming the file, for the
// first attachment whose file name blocked refuses, also looking at the
// names inside zip archives (and zips in those, a few levels deep).
func FindBlockedAttachment(m *mimeparse.Message, body io.ReaderAt, blocked func(name string) bool) error {
	if m == nil || m.Root == nil {
		return nil
	}
	return walkParts(m.Root, body, blocked, 0)
}

func walkParts(p *mimeparse.Part, body io.ReaderAt, blocked func(string) bool, depth int) error {
	if depth > mimeparse.MaxDepth+1 {
		return nil
	}
	for _, c := range p.Parts {
		if err := walkParts(c, body, blocked, depth+1); err != nil {
			return err
		}
	}
	if p.Embedded != nil {
		if err := walkParts(p.Embedded, body, blocked, depth+1); err != nil {
			return err
		}
	}
	if p.IsMultipart() {
		return nil
	}
	name := partFilename(p)
	if name != "" && blocked(name) {
		return fmt.Errorf("%w: %q", ErrBlockedAttachment, name)
	}
	if isZip(p, name) {
		data, ok := decodePart(p, body)
		if ok {
			if inner := scanZip(data, blocked, 1); inner != "" {
				return fmt.Errorf("%w: %q in %q", ErrBlockedAttachment, inner, name)
			}
		}
	}
	return nil
}

// partFilename is the attachment's file name: Content-Disposition
// filename, else Content-Type name, with RFC 2047 encoded-words decoded.
func partFilename(p *mimeparse.Part) string {
	name, ok := p.DispositionParam("filename")
	if !ok || name == "" {
		name, _ = p.Param("name")
	}
	if strings.Contains(name, "=?") {
		if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = dec
		}
	}
	return strings.TrimRight(strings.TrimSpace(name), ". ")
}

func isZip(p *mimeparse.Part, name string) bool {
	if p.Type == "application" {
		switch p.Subtype {
		case "zip", "x-zip", "x-zip-compressed":
			return true
		}
	}
	return strings.HasSuffix(strings.ToLower(name), ".zip")
}

// decodePart returns the decoded body of a part, or false when it is too
// big or cannot be read.
func decodePart(p *mimeparse.Part, body io.ReaderAt) ([]byte, bool) {
	if p.End <= p.BodyStart || p.End-p.BodyStart > maxZipScan*4/3+(1<<20) {
		return nil, false
	}
	var r io.Reader = io.NewSectionReader(body, p.BodyStart, p.End-p.BodyStart)
	switch strings.ToLower(strings.TrimSpace(p.Encoding)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &lineStripper{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxZipScan+1))
	if len(data) > maxZipScan || (err != nil && len(data) == 0) {
		return nil, false
	}
	return data, true
}

// scanZip returns the first blocked name in a zip archive, or "".
// Archives that do not open are not judged: the scan looks for names, it
// is not a virus scanner.
func scanZip(data []byte, blocked func(string) bool, depth int) string {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return ""
	}
	for _, f := range zr.File {
		name := f.Name
		if i := strings.LastIndexAny(name, `/\`); i >= 0 {
			name = name[i+1:]
		}
		name = strings.TrimRight(name, ". ")
		if name != "" && blocked(name) {
			return f.Name
		}
		if depth < maxZipDepth && strings.HasSuffix(strings.ToLower(name), ".zip") && f.UncompressedSize64 <= maxZipScan {
			rc, err := f.Open()
			if err != nil {
				continue
			}
			inner, err := io.ReadAll(io.LimitReader(rc, maxZipScan+1))
			rc.Close()
			if err != nil || len(inner) > maxZipScan {
				continue
			}
			if n := scanZip(inner, blocked, depth+1); n != "" {
				return f.Name + "/" + n
			}
		}
	}
	return ""
}

// lineStripper drops CR, LF, spaces and tabs so base64 of any line length
// decodes.
type lineStripper struct{ r io.Reader }

func (l *lineStripper) Read(p []byte) (int, error) {
	for {
		n, err := l.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
