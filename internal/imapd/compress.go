package imapd

import (
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"net"
)

// COMPRESS=DEFLATE (RFC 4978).
//
// After a successful COMPRESS DEFLATE both directions are raw DEFLATE
// (RFC 1951, no zlib header) inside whatever the connection already was
// (TCP or TLS). Every write the session's bufio.Writer hands down — each
// flush at the end of a response burst, or a full buffer in the middle
// of a large one — is compressed and sync-flushed at once, so the client
// always has every byte the server has produced.
//
// Memory: Go's flate.Writer allocates about 1.2 MB (its hash tables are
// fixed arrays), far too much to keep for every idle connection. A
// session therefore borrows a writer from the server's pool for each
// write and returns it afterwards; each write starts a fresh block
// sequence that refers only to its own bytes (still a valid continuation
// of the stream for the client's inflater), trading the dictionary
// across bursts for memory. What a compressed connection keeps for its
// whole life is the inflater (inflate.go): about 43 KB (the 32 KB window
// the client's stream refers to, which also holds decoded bytes not yet
// read, about 7 KB of Huffman tables, and a 4 KB read buffer).
//
// The inflater is our own rather than compress/flate's, which delivers
// decoded bytes only at a sync flush or a full window: clients that
// flush with zlib's Z_PARTIAL_FLUSH (mbsync) would wait forever for the
// answer to a command the server never saw.

// deflateConn is a connection whose traffic is DEFLATE-compressed.
type deflateConn struct {
	net.Conn
	zr  *inflater
	srv *Server
}

func newDeflateConn(c net.Conn, srv *Server) *deflateConn {
	return &deflateConn{Conn: c, zr: newInflater(bufio.NewReaderSize(c, 4096)), srv: srv}
}

// Read returns decompressed client data.
func (c *deflateConn) Read(p []byte) (int, error) {
	return c.zr.Read(p)
}

// Write compresses p and flushes it to the connection.
func (c *deflateConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w, _ := c.srv.deflaters.Get().(*flate.Writer)
	if w == nil {
		// BestSpeed: cheap to reset between writes, and fast.
		var err error
		if w, err = flate.NewWriter(c.Conn, flate.BestSpeed); err != nil {
			return 0, fmt.Errorf("compress: %w", err)
		}
	} else {
		w.Reset(c.Conn)
	}
	_, err := w.Write(p)
	if err == nil {
		err = w.Flush()
	}
	w.Reset(io.Discard) // drop the reference to the connection
	c.srv.deflaters.Put(w)
	if err != nil {
		return 0, fmt.Errorf("compress: %w", err)
	}
	return len(p), nil
}

func cmdCompress(s *session, tag string) (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	mech, err := s.r.keyword()
	if err != nil {
		return "", err
	}
	if err := s.r.end(); err != nil {
		return "", err
	}
	if _, ok := s.conn.(*deflateConn); ok {
		return "", errNo("COMPRESSIONACTIVE", "DEFLATE is already active")
	}
	if mech != "DEFLATE" {
		return "", errBad("Unknown compression mechanism %s", mech)
	}
	if s.br.Buffered() > 0 {
		// The client must wait for the answer before compressing; what
		// it sent meanwhile cannot be told apart from compressed data.
		s.writef("* BYE COMPRESS must be the last command sent before the answer\r\n")
		return "", errLogout
	}
	s.writef("%s OK DEFLATE active\r\n", tag)
	if err := s.bw.Flush(); err != nil {
		return "", err
	}
	s.setConn(newDeflateConn(s.conn, s.srv))
	return "", errAnswered
}
