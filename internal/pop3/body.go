package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// bodyReadBuffer is the read buffer for streaming a message; lines longer
// than it are streamed in pieces.
const bodyReadBuffer = 32 << 10

// allLines asks writeMessage for the whole message.
const allLines = -1

// writeMessage streams a stored message to w as the body of a multi-line
// response: lines starting with "." get another "." in front (RFC 1939
// byte-stuffing), a missing final CRLF is added, and the terminating
// ".\r\n" is written. With bodyLines >= 0 only the header, the blank line
// after it and the first bodyLines lines of the body are sent (TOP).
// The message is read in pieces; it is never held in memory whole. It
// returns the number of message octets sent (without stuffing and
// termination).
func writeMessage(w *bufio.Writer, body io.Reader, bodyLines int) (int64, error) {
	r := bufio.NewReaderSize(body, bodyReadBuffer)
	var sent int64
	atLineStart := true // the next byte starts a line
	inHeader := true
	lastLF := true // the last byte written ends a line (an empty message needs no CRLF)
	left := bodyLines
	for {
		if !inHeader && bodyLines >= 0 && left <= 0 && atLineStart {
			break
		}
		frag, err := r.ReadSlice('\n')
		if len(frag) > 0 {
			if atLineStart && frag[0] == '.' {
				if err := w.WriteByte('.'); err != nil {
					return sent, fmt.Errorf("send message: %w", err)
				}
			}
			// A blank line seen from its start ends the header.
			blank := atLineStart && (string(frag) == "\r\n" || string(frag) == "\n")
			if _, werr := w.Write(frag); werr != nil {
				return sent, fmt.Errorf("send message: %w", werr)
			}
			sent += int64(len(frag))
			lastLF = frag[len(frag)-1] == '\n'
			if lastLF {
				if inHeader {
					if blank {
						inHeader = false
					}
				} else if bodyLines >= 0 {
					left--
				}
			}
			atLineStart = lastLF
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sent, fmt.Errorf("read message: %w", err)
		}
	}
	if !lastLF {
		if _, err := w.WriteString("\r\n"); err != nil {
			return sent, fmt.Errorf("send message: %w", err)
		}
	}
	if _, err := w.WriteString(".\r\n"); err != nil {
		return sent, fmt.Errorf("send message: %w", err)
	}
	return sent, nil
}
