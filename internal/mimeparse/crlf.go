package mimeparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// crlfChunk is the amount of input converted per write to the destination.
const crlfChunk = 16 << 10

// errWriteAfterClose is returned by the writer of NormalizeCRLF when it is
// used after Close.
var errWriteAfterClose = errors.New("mimeparse: write to closed CRLF normalizer")

// NormalizeCRLF returns a writer that copies what is written to it to dst,
// turning every bare LF and every bare CR into CRLF; CRLF pairs are left
// alone. It streams with a small fixed buffer, and pairs are recognised
// across Write calls: a CR at the end of one Write followed by an LF at
// the start of the next gives a single CRLF. Because of that, a trailing
// CR is held back until the next Write or Close.
//
// Only line endings are changed: no CRLF is appended when the data does
// not end with a line ending, and nothing else is altered. The result is
// idempotent: normalizing normalized data gives the same bytes.
//
// Close must be called to flush a held-back CR; it does not close dst.
// Write and Close return an error only when writing to dst fails (the
// error is sticky) or after Close.
func NormalizeCRLF(dst io.Writer) io.WriteCloser {
	return &crlfWriter{dst: dst}
}

type crlfWriter struct {
	dst    io.Writer
	cr     bool // the last byte seen is a CR not yet written
	closed bool
	err    error
	buf    []byte
}

// Write implements io.Writer.
func (w *crlfWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errWriteAfterClose
	}
	n := 0
	for n < len(p) {
		in := p[n:]
		if len(in) > crlfChunk {
			in = in[:crlfChunk]
		}
		out := w.convert(w.buf[:0], in)
		w.buf = out
		if err := w.flush(out); err != nil {
			return n, err
		}
		n += len(in)
	}
	return n, nil
}

// convert appends the normalized form of in to out, updating w.cr.
func (w *crlfWriter) convert(out, in []byte) []byte {
	for len(in) > 0 {
		if w.cr {
			w.cr = false
			out = append(out, '\r', '\n')
			if in[0] == '\n' {
				in = in[1:]
				continue
			}
		}
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			return append(out, in...)
		}
		out = append(out, in[:i]...)
		if in[i] == '\r' {
			w.cr = true
		} else {
			out = append(out, '\r', '\n')
		}
		in = in[i+1:]
	}
	return out
}

func (w *crlfWriter) flush(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	if _, err := w.dst.Write(out); err != nil {
		w.err = fmt.Errorf("mimeparse: writing normalized data: %w", err)
		return w.err
	}
	return nil
}

// Close writes a held-back trailing CR as CRLF. It does not close the
// destination writer.
func (w *crlfWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if w.cr {
		w.cr = false
		return w.flush([]byte("\r\n"))
	}
	return nil
}
