package imapd

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// Buffer sizes of a busy session. An idle session (waiting for a command,
// or in IDLE) holds neither buffer: both are borrowed from the server's
// pools while there is something to read or write, so that thousands of
// idle connections cost little memory.
const (
	readBufSize  = 16 << 10
	writeBufSize = 32 << 10
)

// bufPools holds the idle read and write buffers of a server's sessions.
type bufPools struct {
	readers sync.Pool // *bufio.Reader of readBufSize
	writers sync.Pool // *bufio.Writer of writeBufSize
}

func (p *bufPools) getReader(r io.Reader) *bufio.Reader {
	if br, ok := p.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, readBufSize)
}

func (p *bufPools) putReader(br *bufio.Reader) {
	br.Reset(nil)
	p.readers.Put(br)
}

// lazyWriter is a bufio.Writer whose buffer is borrowed from the pool at
// the first write and given back by every successful Flush.
type lazyWriter struct {
	dst   io.Writer
	pools *bufPools
	bw    *bufio.Writer
}

func (w *lazyWriter) buf() *bufio.Writer {
	if w.bw == nil {
		if bw, ok := w.pools.writers.Get().(*bufio.Writer); ok {
			bw.Reset(w.dst)
			w.bw = bw
		} else {
			w.bw = bufio.NewWriterSize(w.dst, writeBufSize)
		}
	}
	return w.bw
}

// Write implements io.Writer.
func (w *lazyWriter) Write(p []byte) (int, error) { return w.buf().Write(p) }

// WriteString writes a string.
func (w *lazyWriter) WriteString(s string) (int, error) { return w.buf().WriteString(s) }

// ReadFrom implements io.ReaderFrom (io.Copy into the writer uses the
// buffer, not a buffer of its own).
func (w *lazyWriter) ReadFrom(r io.Reader) (int64, error) { return w.buf().ReadFrom(r) }

// Buffered returns how many bytes wait to be flushed.
func (w *lazyWriter) Buffered() int {
	if w.bw == nil {
		return 0
	}
	return w.bw.Buffered()
}

// Flush writes the buffered bytes and gives the buffer back. After a
// failed write the buffer is kept, with its error, as bufio.Writer does.
func (w *lazyWriter) Flush() error {
	if w.bw == nil {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	w.bw.Reset(nil)
	w.pools.writers.Put(w.bw)
	w.bw = nil
	return nil
}

// firstByteConn is what a session's read buffer reads from: the byte that
// awaitInput read without a buffer, then the connection.
type firstByteConn struct {
	c   net.Conn
	b   [1]byte
	has bool
}

// Read implements io.Reader.
func (f *firstByteConn) Read(p []byte) (int, error) {
	if f.has && len(p) > 0 {
		p[0] = f.b[0]
		f.has = false
		return 1, nil
	}
	return f.c.Read(p)
}

// awaitInput blocks until the client has sent something, holding no read
// buffer meanwhile: when nothing is buffered, the session's reader goes
// back to the pool and one byte is read straight from the connection;
// then a reader is borrowed again. Call it only between commands (no
// literal reader may hold s.br).
func (s *session) awaitInput() error {
	if s.br != nil && s.br.Buffered() > 0 {
		return nil
	}
	s.releaseReader()
	if _, err := io.ReadFull(s.in.c, s.in.b[:]); err != nil {
		return err
	}
	s.in.has = true
	s.br = s.srv.bufs.getReader(&s.in)
	s.r.br = s.br
	return nil
}

// releaseReader gives the read buffer back when it holds nothing.
func (s *session) releaseReader() {
	if s.br == nil || s.br.Buffered() > 0 || s.in.has {
		return
	}
	s.srv.bufs.putReader(s.br)
	s.br = nil
	s.r.br = nil
	// A long command line leaves a large line buffer: drop it too.
	if cap(s.r.line) > 1<<10 {
		s.r.line = nil
	}
}
