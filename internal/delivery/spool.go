package delivery

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// DefaultSpoolMemory is how much of a message a Spool keeps in memory
// before it moves to a temporary file.
const DefaultSpoolMemory = 1 << 20

// Spool holds one incoming message so that it can be read several times
// (one copy per recipient, the header checks). Small messages stay in
// memory; larger ones go to a temporary file, so a 30 MB message is never
// held in memory. The spool is not durable: the durable copies are the
// store's and the queue's.
type Spool struct {
	dir      string
	memLimit int
	buf      bytes.Buffer
	f        *os.File
	size     int64
	err      error
}

// NewSpool makes a spool that switches to a file in dir (os.TempDir()
// when "") after memLimit bytes (DefaultSpoolMemory when <= 0).
func NewSpool(dir string, memLimit int) *Spool {
	if memLimit <= 0 {
		memLimit = DefaultSpoolMemory
	}
	return &Spool{dir: dir, memLimit: memLimit}
}

// Write implements io.Writer.
func (s *Spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil && s.buf.Len()+len(p) > s.memLimit {
		f, err := os.CreateTemp(s.dir, "spool-*")
		if err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return 0, s.err
		}
		// Unlink at once: the open file stays readable and nothing is
		// left behind by a crash.
		os.Remove(f.Name())
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			f.Close()
			s.err = fmt.Errorf("spool: %w", err)
			return 0, s.err
		}
		s.buf = bytes.Buffer{}
		s.f = f
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
		if err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			err = s.err
		}
	} else {
		n, _ = s.buf.Write(p)
	}
	s.size += int64(n)
	return n, err
}

// Size is the number of bytes written.
func (s *Spool) Size() int64 { return s.size }

// InMemory reports whether the spool has not needed a file.
func (s *Spool) InMemory() bool { return s.f == nil }

// NewReader returns a reader over everything written so far. Readers are
// independent and may be used concurrently.
func (s *Spool) NewReader() io.Reader {
	return io.NewSectionReader(s.ReaderAt(), 0, s.size)
}

// ReaderAt returns the content as an io.ReaderAt of Size bytes.
func (s *Spool) ReaderAt() io.ReaderAt {
	if s.f != nil {
		return s.f
	}
	return bytes.NewReader(s.buf.Bytes())
}

// Prefix returns up to n bytes from the start.
func (s *Spool) Prefix(n int) ([]byte, error) {
	if int64(n) > s.size {
		n = int(s.size)
	}
	if s.f == nil {
		return s.buf.Bytes()[:n], nil
	}
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return b, nil
}

// Close releases the spool's file.
func (s *Spool) Close() error {
	s.buf = bytes.Buffer{}
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}
