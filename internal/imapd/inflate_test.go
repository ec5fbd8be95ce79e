package imapd

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// textData returns n bytes of IMAP-like text lines.
func textData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"UID", "FETCH", "FLAGS", "(\\Seen", "\\Answered)", "BODY.PEEK[HEADER]",
		"INBOX", "Subject:", "Re:", "meeting", "tomorrow", "from", "joe@example.org", "1:*"}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "a%d", i)
		for k := r.IntN(12); k >= 0; k-- {
			b.WriteByte(' ')
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()[:n]
}

// deflate compresses data with compress/flate, flushing after each of
// the given offsets.
func deflate(t testing.TB, data []byte, level int, flushes ...int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	prev := 0
	for _, f := range flushes {
		if f < prev || f > len(data) {
			continue
		}
		w.Write(data[prev:f])
		w.Flush()
		prev = f
	}
	w.Write(data[prev:])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func inflateAll(r io.Reader) ([]byte, error) {
	return io.ReadAll(newInflater(bufio.NewReader(r)))
}

func TestInflateRoundTrip(t *testing.T) {
	random := make([]byte, 300<<10)
	rr := rand.New(rand.NewPCG(7, 7))
	for i := range random {
		random[i] = byte(rr.Uint32())
	}
	// Mostly-repetitive data with random bytes mixed in.
	mixed := textData(200<<10, 3)
	for i := 0; i < len(mixed); i += 97 {
		mixed[i] = byte(rr.Uint32())
	}
	inputs := map[string][]byte{
		"empty":  nil,
		"one":    []byte("x"),
		"text":   textData(500<<10, 1),
		"random": random,
		"mixed":  mixed,
		"zeros":  make([]byte, 100<<10),
	}
	for name, data := range inputs {
		for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, 5, flate.BestCompression} {
			flushes := []int{1, 100, 5000, 5001, 70000, 200000}
			comp := deflate(t, data, level, flushes...)
			t.Run(fmt.Sprintf("%s/level%d", name, level), func(t *testing.T) {
				// Input all at once, input a byte at a time (so the decoder
				// keeps finding nothing buffered), and output read in small
				// pieces.
				readers := map[string]func() ([]byte, error){
					"whole": func() ([]byte, error) { return inflateAll(bytes.NewReader(comp)) },
					"bytewise": func() ([]byte, error) {
						return inflateAll(iotest.OneByteReader(bytes.NewReader(comp)))
					},
					"halfreads": func() ([]byte, error) {
						return io.ReadAll(iotest.OneByteReader(newInflater(bufio.NewReader(iotest.HalfReader(bytes.NewReader(comp))))))
					},
				}
				for how, read := range readers {
					got, err := read()
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("%s: got %d bytes, differs from the %d bytes compressed", how, len(got), len(data))
					}
				}
			})
		}
	}
}

// TestInflatePartialFlush feeds zlib output (as mbsync produces it)
// through a pipe that stays open: after each flush, everything written
// so far must be readable without more input.
func TestInflatePartialFlush(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	chunks := [][]byte{
		textData(5000, 11), []byte("a1 NOOP\r\n"), textData(7000, 12), []byte("x"),
		textData(20000, 13), []byte("a2 UID FETCH 1:* (FLAGS)\r\n"), textData(3000, 14),
		textData(40000, 15), []byte("a3 LOGOUT\r\n"),
	}
	// Python compresses chunk i and flushes it, alternately with
	// Z_PARTIAL_FLUSH and Z_SYNC_FLUSH, printing each piece in hex.
	const script = `
import sys, zlib
c = zlib.compressobj(6, zlib.DEFLATED, -15)
for i, chunk in enumerate(sys.stdin.buffer.read().split(b"\0")):
    mode = zlib.Z_PARTIAL_FLUSH if i % 3 != 1 else zlib.Z_SYNC_FLUSH
    print((c.compress(chunk) + c.flush(mode)).hex())
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = bytes.NewReader(bytes.Join(chunks, []byte{0}))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(chunks) {
		t.Fatalf("python3 gave %d pieces for %d chunks", len(lines), len(chunks))
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	d := newInflater(bufio.NewReaderSize(pr, 4096))
	buf := make([]byte, 64<<10)
	for i, line := range lines {
		piece, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pw.Write(piece); err != nil {
			t.Fatal(err)
		}
		// A decoder that waits for input the client has not sent fails
		// with this deadline's error instead of hanging the test.
		pr.SetReadDeadline(time.Now().Add(20 * time.Second))
		var got []byte
		for len(got) < len(chunks[i]) {
			n, err := d.Read(buf)
			if err != nil {
				t.Fatalf("chunk %d: after %d of %d bytes: %v", i, len(got), len(chunks[i]), err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, chunks[i]) {
			t.Fatalf("chunk %d: decoded bytes differ", i)
		}
	}
}

// bitWriter builds hand-made DEFLATE streams.
type bitWriter struct {
	out   []byte
	acc   uint32
	nbits uint
}

// bits writes v in n bits, least significant first (header fields,
// extra bits).
func (w *bitWriter) bits(v uint32, n uint) *bitWriter {
	for i := uint(0); i < n; i++ {
		w.acc |= (v >> i & 1) << w.nbits
		w.nbits++
		if w.nbits == 8 {
			w.out = append(w.out, byte(w.acc))
			w.acc, w.nbits = 0, 0
		}
	}
	return w
}

// code writes a Huffman code of n bits, most significant first.
func (w *bitWriter) code(v uint32, n uint) *bitWriter {
	for i := n; i > 0; i-- {
		w.bits(v>>(i-1)&1, 1)
	}
	return w
}

func (w *bitWriter) bytes() []byte {
	if w.nbits > 0 {
		return append(w.out, byte(w.acc))
	}
	return w.out
}

func TestInflateCorrupt(t *testing.T) {
	fixed := func() *bitWriter { return new(bitWriter).bits(1, 1).bits(1, 2) }
	dynamic := func(hclen uint32) *bitWriter {
		return new(bitWriter).bits(1, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(hclen-4, 4)
	}
	valid := deflate(t, textData(10000, 5), 6)
	cases := map[string][]byte{
		"reserved block type":  {0x07},
		"stored length check":  {0x01, 0x05, 0x00, 0x00, 0x00},
		"truncated stored":     {0x01, 0x05, 0x00, 0xfa, 0xff, 'a', 'b'},
		"truncated stream":     valid[:len(valid)/2],
		"empty input":          {},
		"no final block":       {0x00, 0x00, 0x00, 0xff, 0xff},
		"distance before data": fixed().code(1, 7).code(0, 5).bytes(),                    // length 3, distance 1
		"distance too far":     fixed().code(0x30+'a', 8).code(1, 7).code(1, 5).bytes(),  // distance 2 after 1 byte
		"length code 286":      fixed().code(0xc0+6, 8).bytes(),                          // 286 = 11000110
		"distance code 30":     fixed().code(0x30+'a', 8).code(1, 7).code(30, 5).bytes(), // distance code 30
		"too many lit codes":   new(bitWriter).bits(1, 1).bits(2, 2).bits(30, 5).bytes(), // HLIT 287
		"too many dist codes":  new(bitWriter).bits(1, 1).bits(2, 2).bits(0, 5).bits(30, 5).bytes(),
		"over-subscribed clen": dynamic(19).bits(1, 3*19).bytes(),
		"incomplete clen":      dynamic(4).bits(2, 3*3).bits(0, 3).bytes(), // three codes of length 2
		"repeat first":         dynamic(4).bits(1, 3).bits(1, 3).bits(0, 6).code(0, 1).bits(0, 2).bytes(),
		"lengths overrun":      dynamic(4).bits(0, 3).bits(1, 3).bits(1, 3).bits(0, 3).code(1, 1).bits(127, 7).code(1, 1).bits(127, 7).bytes(),
		"no end-of-block code": dynamic(4).bits(0, 3).bits(1, 3).bits(1, 3).bits(0, 3).code(1, 1).bits(127, 7).code(1, 1).bits(109, 7).bytes(),
	}
	for name, in := range cases {
		got, err := inflateAll(bytes.NewReader(in))
		if err == nil {
			t.Errorf("%s: no error, decoded %q", name, got)
		}
	}
	// Sanity: the hand-made streams are built right, so a correct one
	// decodes: literal 'a', then length 3 distance 1, then end of block.
	ok := fixed().code(0x30+'a', 8).code(1, 7).code(0, 5).code(0, 7).bytes()
	got, err := inflateAll(bytes.NewReader(ok))
	if err != nil || string(got) != "aaaa" {
		t.Fatalf("hand-made stream: %q, %v", got, err)
	}
}

// FuzzInflate checks the decoder against compress/flate: on data
// compressed by compress/flate, and on arbitrary input, where whatever
// compress/flate decodes without error must decode the same here. No
// input may make it panic.
func FuzzInflate(f *testing.F) {
	f.Add(deflate(f, textData(3000, 1), 6, 100))
	f.Add(deflate(f, []byte("a1 LOGIN joe secret\r\n"), 1))
	f.Add(deflate(f, textData(500, 2), 0))
	f.Add(deflate(f, textData(2000, 3), flate.HuffmanOnly, 1000))
	f.Add([]byte{0x07})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 20
		// data as plain text.
		if len(data) > 0 {
			level := int(data[0])%12 - 2
			comp := deflate(t, data, level, len(data)/3)
			got, err := inflateAll(iotest.HalfReader(bytes.NewReader(comp)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round trip at level %d: %v", level, err)
			}
		}
		// data as a compressed stream.
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), limit))
		got, err := io.ReadAll(io.LimitReader(newInflater(bufio.NewReader(iotest.HalfReader(bytes.NewReader(data)))), limit))
		if werr == nil {
			if err != nil {
				t.Fatalf("compress/flate decodes it, we fail: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes, compress/flate %d, different", len(got), len(want))
			}
		}
		if err != nil && errors.Is(err, errWouldBlock) {
			t.Fatal("internal would-block error escaped")
		}
	})
}

func BenchmarkInflate(b *testing.B) {
	data := textData(10<<20, 9)
	comp := deflate(b, data, 6)
	b.SetBytes(int64(len(data)))
	buf := make([]byte, 16<<10)
	b.ResetTimer()
	for range b.N {
		d := newInflater(bufio.NewReaderSize(bytes.NewReader(comp), 4096))
		n := 0
		for {
			k, err := d.Read(buf)
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != len(data) {
			b.Fatalf("decoded %d bytes", n)
		}
	}
}

func BenchmarkInflateStdlib(b *testing.B) {
	data := textData(10<<20, 9)
	comp := deflate(b, data, 6)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		n, err := io.Copy(io.Discard, flate.NewReader(bytes.NewReader(comp)))
		if err != nil || n != int64(len(data)) {
			b.Fatal(n, err)
		}
	}
}
