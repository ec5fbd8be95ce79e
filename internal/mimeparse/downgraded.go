package mimeparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// MaxDowngradeHeader is the largest header block [Downgrade] rewrites;
// a larger one is served as it is.
const MaxDowngradeHeader = 1 << 20

// Downgraded is a message as RFC 6857 post-delivery downgrading presents
// it to a client without UTF-8 support: every header block (the message
// header, the MIME headers of body parts, the headers of attached
// messages) passed through [DowngradeHeader], bodies unchanged. It reads
// the stored message for everything outside the rewritten headers.
type Downgraded struct {
	// Message is the structure of the downgraded bytes: offsets, sizes
	// and line counts moved by the rewritten headers. Envelopes and
	// parameters are those of the stored message (see
	// [DowngradeEnvelope] and [DowngradeParams] for rendering them).
	Message *Message
	src     io.ReaderAt
	pieces  []piece
}

// piece is a stretch of the downgraded message: either replacement bytes
// or a range of the stored message.
type piece struct {
	off  int64 // offset in the downgraded message
	n    int64
	data []byte // replacement; nil: stored bytes from src
	src  int64
}

// edit replaces the stored range [start, end) by repl.
type edit struct {
	start, end int64
	repl       []byte
	lines      int64 // change in the number of LF bytes
}

// Downgrade reads the header blocks of the message m (as parsed) from r
// (the stored bytes, size octets) and returns the downgraded message, or
// nil when no header changes.
func Downgrade(m *Message, r io.ReaderAt, size int64) (*Downgraded, error) {
	if m == nil || m.Root == nil {
		return nil, nil
	}
	var edits []edit
	var buf []byte
	var walk func(p *Part, depth int) error
	walk = func(p *Part, depth int) error {
		if p == nil || depth > MaxDepth+2 {
			return nil
		}
		if n := p.BodyStart - p.HeaderStart; n > 0 && n <= MaxDowngradeHeader && p.BodyStart <= size {
			if cap(buf) < int(n) {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := r.ReadAt(buf, p.HeaderStart); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("downgrade: read header at %d: %w", p.HeaderStart, err)
			}
			if out := DowngradeHeader(buf); !bytes.Equal(out, buf) {
				edits = append(edits, edit{
					start: p.HeaderStart, end: p.BodyStart,
					repl:  bytes.Clone(out),
					lines: int64(bytes.Count(out, []byte{'\n'}) - bytes.Count(buf, []byte{'\n'})),
				})
			}
		}
		for _, c := range p.Parts {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return walk(p.Embedded, depth+1)
	}
	if err := walk(m.Root, 0); err != nil {
		return nil, err
	}
	if len(edits) == 0 {
		return nil, nil
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	// Header ranges never overlap; drop any that would (defensive).
	kept := edits[:1]
	for _, e := range edits[1:] {
		if e.start >= kept[len(kept)-1].end {
			kept = append(kept, e)
		}
	}
	edits = kept

	// Prefix sums of the size and line changes.
	delta := make([]int64, len(edits)+1)
	lines := make([]int64, len(edits)+1)
	for i, e := range edits {
		delta[i+1] = delta[i] + int64(len(e.repl)) - (e.end - e.start)
		lines[i+1] = lines[i] + e.lines
	}
	// mapOff moves a stored offset: by the edits that end at or before it.
	mapOff := func(o int64) int64 {
		i := sort.Search(len(edits), func(i int) bool { return edits[i].end > o })
		if i < len(edits) && edits[i].start < o {
			// Inside a rewritten header: clamp into its replacement.
			return edits[i].start + delta[i] + min(o-edits[i].start, int64(len(edits[i].repl)))
		}
		return o + delta[i]
	}
	// linesIn is the change in LF bytes of the edits within [a, b).
	linesIn := func(a, b int64) int64 {
		i := sort.Search(len(edits), func(i int) bool { return edits[i].start >= a })
		j := sort.Search(len(edits), func(i int) bool { return edits[i].end > b })
		if j <= i {
			return 0
		}
		return lines[j] - lines[i]
	}
	var clone func(p *Part, depth int) *Part
	clone = func(p *Part, depth int) *Part {
		if p == nil {
			return nil
		}
		c := *p
		c.HeaderStart, c.BodyStart, c.End = mapOff(p.HeaderStart), mapOff(p.BodyStart), mapOff(p.End)
		if p.Type == "text" || p.Type == "message" {
			c.Lines = p.Lines + linesIn(p.BodyStart, p.End)
		}
		if depth <= MaxDepth+2 {
			if p.Parts != nil {
				c.Parts = make([]*Part, len(p.Parts))
				for i, k := range p.Parts {
					c.Parts[i] = clone(k, depth+1)
				}
			}
			c.Embedded = clone(p.Embedded, depth+1)
		}
		return &c
	}
	nm := *m
	nm.Root = clone(m.Root, 0)
	nm.Size = size + delta[len(edits)]
	nm.Lines = m.Lines + lines[len(edits)]

	d := &Downgraded{Message: &nm, src: r}
	var cur, off int64
	for _, e := range edits {
		if e.start > cur {
			d.pieces = append(d.pieces, piece{off: off, n: e.start - cur, src: cur})
			off += e.start - cur
		}
		if len(e.repl) > 0 {
			d.pieces = append(d.pieces, piece{off: off, n: int64(len(e.repl)), data: e.repl})
			off += int64(len(e.repl))
		}
		cur = e.end
	}
	if size > cur {
		d.pieces = append(d.pieces, piece{off: off, n: size - cur, src: cur})
	}
	return d, nil
}

// MayNeedDowngrade reports whether the message m (as parsed) may have
// headers that [Downgrade] rewrites: its HeaderBytes says so, or, for a
// structure cached before HeaderBytes was recorded, some text the
// structure kept of the headers (envelope, MIME fields and parameters) is
// not ASCII. Callers that know the HeaderBytes of a stored message
// otherwise need not read its structure when it is [Headers7bit].
func MayNeedDowngrade(m *Message) bool {
	if m == nil {
		return false
	}
	switch m.HeaderBytes {
	case Headers7bit:
		return false
	case Headers8bit:
		return true
	}
	return partHas8bit(m.Root, 0)
}

// partHas8bit reports whether some header text kept in the structure of
// p or of a part inside it is not ASCII.
func partHas8bit(p *Part, depth int) bool {
	if p == nil || depth > MaxDepth+2 {
		return false
	}
	if e := p.Envelope; e != nil && DowngradeEnvelope(e) != e {
		return true
	}
	strs := []string{p.Description, p.ID, p.Location, p.MD5}
	for _, pr := range append(p.Params, p.DispositionParams...) {
		strs = append(strs, pr.Value)
	}
	for _, str := range strs {
		if !isASCII(str) {
			return true
		}
	}
	for _, c := range p.Parts {
		if partHas8bit(c, depth+1) {
			return true
		}
	}
	return partHas8bit(p.Embedded, depth+1)
}

// Size is the size of the downgraded message.
func (d *Downgraded) Size() int64 { return d.Message.Size }

// ReadAt reads the downgraded message.
func (d *Downgraded) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("mimeparse: negative offset")
	}
	n := 0
	i := sort.Search(len(d.pieces), func(i int) bool { return d.pieces[i].off+d.pieces[i].n > off })
	for ; i < len(d.pieces) && n < len(p); i++ {
		pc := d.pieces[i]
		in := off + int64(n) - pc.off
		want := min(int64(len(p)-n), pc.n-in)
		if pc.data != nil {
			n += copy(p[n:n+int(want)], pc.data[in:])
			continue
		}
		k, err := d.src.ReadAt(p[n:n+int(want)], pc.src+in)
		n += k
		if int64(k) < want {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
