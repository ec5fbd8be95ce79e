package mimeparse

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// readBufSize is the size of the read buffer; lines longer than this are
// delivered in several chunks.
const readBufSize = 64 << 10

// chunk is a piece of input as returned by scanner.next: a whole line
// including its line ending, or part of a line longer than the buffer.
// b is only valid until the next call to next.
type chunk struct {
	b     []byte
	start int64 // offset of b[0]
	// atStart reports whether the chunk begins a line.
	atStart bool
	// complete reports whether the chunk ends a line (with LF, or
	// because the input ends).
	complete bool
	// lfBefore is the number of LF bytes before start.
	lfBefore int64
	// prevEOL and prevContent describe the line before this chunk (only
	// meaningful when atStart): the length of its line ending (1 or 2,
	// 0 if there is none) and whether it had bytes before its ending.
	prevEOL     int
	prevContent bool
}

// scanner reads the input line by line, tracking offsets and line counts,
// without allocating per line.
type scanner struct {
	br      *bufio.Reader
	off     int64 // offset of the next byte to read
	lf      int64 // number of LF bytes before off
	atStart bool  // the next chunk begins a line
	curLen  int64 // length of the current, unfinished line so far
	prevCR  bool  // the last chunk ended in CR without finishing the line
	// prevEOL and prevContent describe the last finished line.
	prevEOL     int
	prevContent bool
	last        byte // last byte read
	eof         bool
	err         error // read error other than io.EOF
}

// readers recycles read buffers between Parse calls: most messages are
// small, and the buffer would dominate their allocations.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

func newScanner(r io.Reader) *scanner {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &scanner{br: br, atStart: true}
}

// release returns the read buffer to the pool; s must not be used after.
func (s *scanner) release() {
	s.br.Reset(nil)
	readers.Put(s.br)
	s.br = nil
}

// next returns the next chunk, or false at the end of the input or after
// a read error (see s.err).
func (s *scanner) next() (chunk, bool) {
	if s.eof || s.err != nil {
		return chunk{}, false
	}
	b, err := s.br.ReadSlice('\n')
	switch {
	case err == nil, errors.Is(err, bufio.ErrBufferFull):
	case errors.Is(err, io.EOF):
		s.eof = true
	default:
		s.err = err
	}
	if len(b) == 0 {
		return chunk{}, false
	}
	c := chunk{
		b:           b,
		start:       s.off,
		atStart:     s.atStart,
		lfBefore:    s.lf,
		prevEOL:     s.prevEOL,
		prevContent: s.prevContent,
	}
	s.off += int64(len(b))
	s.last = b[len(b)-1]
	if s.last == '\n' {
		eol := 1
		if len(b) >= 2 && b[len(b)-2] == '\r' || len(b) == 1 && !c.atStart && s.prevCR {
			eol = 2
		}
		s.prevEOL = eol
		s.prevContent = s.curLen+int64(len(b)) > int64(eol)
		s.curLen = 0
		s.lf++
		s.atStart = true
		s.prevCR = false
		c.complete = true
	} else {
		s.curLen += int64(len(b))
		s.atStart = false
		s.prevCR = s.last == '\r'
		c.complete = s.eof
	}
	return c, true
}

// more reports whether there is at least one more byte of input.
func (s *scanner) more() bool {
	if s.eof || s.err != nil {
		return false
	}
	b, err := s.br.Peek(1)
	if len(b) > 0 {
		return true
	}
	if errors.Is(err, io.EOF) || err == nil {
		s.eof = true
	} else {
		s.err = err
	}
	return false
}

// isBlankLine reports whether a line chunk is an empty line.
func isBlankLine(c chunk) bool {
	if !c.atStart {
		return false
	}
	b := c.b
	return len(b) == 1 && b[0] == '\n' || len(b) == 2 && b[0] == '\r' && b[1] == '\n'
}
