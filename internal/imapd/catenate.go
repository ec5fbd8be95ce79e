package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// CATENATE (RFC 4469) builds an APPENDed message from parts: TEXT literals
// sent by the client and URL parts naming a message or a section of one.
// The subset served:
//
//   - URLs of the logged-in account only: "/mailbox[;UIDVALIDITY=n]/;UID=n"
//     optionally followed by "/;SECTION=s" and ";PARTIAL=o[.n]"; the same
//     with an "imap://[user@]host[:port]" prefix, whose user (if given)
//     must be the logged-in account (the host is not checked); or
//     ";UID=n[/;SECTION=s]" relative to the selected mailbox.
//   - Mailbox names in URLs are percent-encoded UTF-8 (RFC 5092).
//   - URLAUTH (";EXPIRE=", ";URLAUTH=", RFC 4467) is not offered: such URLs
//     answer NO [BADURL].
//   - Anything that names no message or section answers NO [BADURL url].
//
// Parts are streamed one after the other into the store: a TEXT literal
// is asked for (or read) only when the store has taken the part before it.

// catenator reads the parts of one CATENATE list as the message body.
type catenator struct {
	s     *session
	first bool
	done  bool
	err   error
	size  int64

	cur      io.Reader
	curClose io.Closer
	curText  bool // cur is a TEXT literal: the command line continues after it
}

func newCatenator(s *session) *catenator { return &catenator{s: s, first: true} }

// Read implements io.Reader.
func (c *catenator) Read(p []byte) (int, error) {
	for {
		if c.err != nil {
			return 0, c.err
		}
		if c.cur != nil {
			n, err := c.cur.Read(p)
			c.size += int64(n)
			if c.size > c.s.srv.opts.AppendLimit {
				c.fail(errNo("TOOBIG", "Message is larger than the limit of %d bytes", c.s.srv.opts.AppendLimit))
				return 0, c.err
			}
			if err == io.EOF {
				c.endPart()
				err = nil
			}
			if err != nil {
				c.fail(fmt.Errorf("catenate: %w", err))
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.nextPart(); err != nil {
			c.fail(err)
		}
	}
}

func (c *catenator) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.closePart()
}

func (c *catenator) closePart() {
	if c.curClose != nil {
		c.curClose.Close()
		c.curClose = nil
	}
	c.cur = nil
}

// endPart finishes the current part; after a TEXT literal the command's
// next line is read.
func (c *catenator) endPart() {
	text := c.curText
	c.closePart()
	c.curText = false
	if text {
		c.s.r.literalPending = false
		if err := c.s.r.readLine(); err != nil {
			c.fail(err)
		}
	}
}

// nextPart parses the next cat-part, or the closing parenthesis.
func (c *catenator) nextPart() error {
	r := c.s.r
	if !c.first {
		if r.consume(')') {
			c.done = true
			return nil
		}
		if err := r.sp(); err != nil {
			return err
		}
	}
	c.first = false
	kw, err := r.keyword()
	if err != nil {
		return err
	}
	if err := r.sp(); err != nil {
		return err
	}
	switch kw {
	case "TEXT":
		n, sync, _, err := r.literalHeader(true)
		if err != nil {
			return err
		}
		if c.size+n > c.s.srv.opts.AppendLimit {
			return errNo("TOOBIG", "Message is larger than the limit of %d bytes", c.s.srv.opts.AppendLimit)
		}
		if sync {
			if err := r.cont(); err != nil {
				return err
			}
		}
		c.cur, c.curText = io.LimitReader(c.s.br, n), true
		return nil
	case "URL":
		u, err := r.astring()
		if err != nil {
			return err
		}
		rd, cl, err := c.s.openURL(u)
		if err != nil {
			return err
		}
		c.cur, c.curClose = rd, cl
		return nil
	}
	return errSyntax("expected TEXT or URL in CATENATE, not %s", kw)
}

// badURL is the NO [BADURL] answer for a URL.
func badURL(u, why string) error {
	code := "BADURL"
	if !strings.ContainsAny(u, "]\r\n") && len(u) < 1000 {
		code += " " + u
	}
	return errNo(code, "%s", why)
}

// openURL opens the data an IMAP URL of this account names.
func (s *session) openURL(raw string) (io.Reader, io.Closer, error) {
	rest := raw
	if len(rest) > 7 && strings.EqualFold(rest[:7], "imap://") {
		rest = rest[7:]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return nil, nil, badURL(raw, "URL names no message")
		}
		authority := rest[:i]
		rest = rest[i:]
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			user, _, _ := strings.Cut(authority[:at], ";")
			user, err := url.PathUnescape(user)
			if err != nil || !s.isOwnLogin(user) {
				return nil, nil, badURL(raw, "URL names another account")
			}
		}
	}
	var f store.Folder
	switch {
	case strings.HasPrefix(rest, "/"):
		rest = rest[1:]
		i := strings.Index(rest, "/;")
		if i < 0 {
			return nil, nil, badURL(raw, "URL names no message")
		}
		boxPart := rest[:i]
		rest = rest[i+1:]
		box, params, _ := strings.Cut(boxPart, ";")
		name, err := url.PathUnescape(box)
		if err != nil || name == "" {
			return nil, nil, badURL(raw, "Bad mailbox in URL")
		}
		if f, err = s.srv.opts.Store.Folder(s.ctx, s.acct.ID, canonicalMailbox(name)); errors.Is(err, store.ErrNotFound) {
			return nil, nil, badURL(raw, "No such mailbox")
		} else if err != nil {
			return nil, nil, fmt.Errorf("catenate: %w", err)
		}
		if params != "" {
			k, v, _ := strings.Cut(params, "=")
			if !strings.EqualFold(k, "UIDVALIDITY") || v != strconv.FormatUint(uint64(f.UIDValidity), 10) {
				return nil, nil, badURL(raw, "UIDVALIDITY does not match")
			}
		}
	case strings.HasPrefix(rest, ";"):
		if s.sel == nil {
			return nil, nil, badURL(raw, "Relative URL without a selected mailbox")
		}
		f = s.sel.folder
	default:
		return nil, nil, badURL(raw, "Unsupported URL")
	}
	// rest: ;UID=n[/;SECTION=s][;PARTIAL=o[.n]]
	var uid uint32
	var secText string
	partial := false
	var pStart, pLen int64 = 0, -1
	for _, seg := range strings.Split(rest, "/") {
		for j, param := range strings.Split(seg, ";") {
			if j == 0 {
				// Every segment after the mailbox starts with ';'.
				if param != "" {
					return nil, nil, badURL(raw, "Unsupported URL")
				}
				continue
			}
			k, v, _ := strings.Cut(param, "=")
			switch strings.ToUpper(k) {
			case "UID":
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n == 0 {
					return nil, nil, badURL(raw, "Bad UID in URL")
				}
				uid = uint32(n)
			case "SECTION":
				sv, err := url.PathUnescape(v)
				if err != nil {
					return nil, nil, badURL(raw, "Bad section in URL")
				}
				secText = sv
			case "PARTIAL":
				a, b, hasLen := strings.Cut(v, ".")
				st, err := strconv.ParseInt(a, 10, 64)
				if err != nil || st < 0 {
					return nil, nil, badURL(raw, "Bad PARTIAL in URL")
				}
				pStart, partial = st, true
				if hasLen {
					if pLen, err = strconv.ParseInt(b, 10, 64); err != nil || pLen <= 0 {
						return nil, nil, badURL(raw, "Bad PARTIAL in URL")
					}
				}
			default:
				return nil, nil, badURL(raw, "Unsupported URL ("+strings.ToUpper(k)+")")
			}
		}
	}
	if uid == 0 {
		return nil, nil, badURL(raw, "URL names no message")
	}
	ms, err := s.srv.opts.Store.MessagesByUID(s.ctx, f.ID, []uint32{uid})
	if err != nil {
		return nil, nil, fmt.Errorf("catenate: %w", err)
	}
	if len(ms) == 0 {
		return nil, nil, badURL(raw, "No such message")
	}
	m := ms[0]
	var sec section
	if secText != "" {
		sr := newReader(bufio.NewReader(strings.NewReader("")), func() error { return errors.New("no literals") })
		sr.line = []byte("[" + secText + "]")
		if sec, err = parseSection(sr); err != nil || !sr.atEnd() {
			return nil, nil, badURL(raw, "Bad section in URL")
		}
	}
	body, err := s.srv.opts.Store.OpenBody(s.ctx, m)
	if err != nil {
		return nil, nil, fmt.Errorf("catenate: %w", err)
	}
	start, end := int64(0), body.Size()
	if len(sec.path) > 0 || sec.specifier != "" {
		st, err := s.srv.opts.Store.Structure(s.ctx, m)
		if err != nil {
			body.Close()
			return nil, nil, fmt.Errorf("catenate: %w", err)
		}
		var ok bool
		if start, end, ok = sectionRange(st, sec); !ok {
			body.Close()
			return nil, nil, badURL(raw, "No such section")
		}
	}
	end = min(end, body.Size())
	start = min(start, end)
	var rd io.Reader = io.NewSectionReader(body, start, end-start)
	size := end - start
	if strings.HasPrefix(sec.specifier, "HEADER.FIELDS") {
		hdr, err := io.ReadAll(io.LimitReader(rd, 8<<20))
		if err != nil {
			body.Close()
			return nil, nil, fmt.Errorf("catenate: %w", err)
		}
		hdr = filterHeader(hdr, sec.fields, sec.specifier == "HEADER.FIELDS.NOT")
		rd, size = bytes.NewReader(hdr), int64(len(hdr))
	}
	if partial {
		off := min(pStart, size)
		n := size - off
		if pLen >= 0 {
			n = min(n, pLen)
		}
		if _, err := io.CopyN(io.Discard, rd, off); err != nil {
			body.Close()
			return nil, nil, fmt.Errorf("catenate: %w", err)
		}
		rd = io.LimitReader(rd, n)
	}
	return rd, body, nil
}

// isOwnLogin reports whether a URL's user names the logged-in account.
func (s *session) isOwnLogin(user string) bool {
	addr := s.acct.Address
	if strings.EqualFold(user, addr) {
		return true
	}
	local, _, _ := strings.Cut(addr, "@")
	return strings.EqualFold(user, local)
}
