package imapd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// A raw DEFLATE (RFC 1951) stream decoder for COMPRESS=DEFLATE.
//
// compress/flate hands decoded bytes to its reader only at block
// boundaries (a sync flush) or when its window fills, so a client whose
// zlib uses Z_PARTIAL_FLUSH (mbsync does) leaves its command stuck in
// the server's decoder. This decoder never reads an input byte before it
// needs one of its bits, and Read returns what it has decoded as soon as
// decoding further would have to wait for the network.
//
// Decoding proceeds in small steps (a block header, one code length, one
// literal or length/distance pair, a run of stored bytes). A step peeks
// at bits without consuming them and commits only when it completes; a
// step that would have to block while output is pending is abandoned
// and retried on the next Read, the bits it already fetched staying in
// the bit buffer.

const (
	winSize  = 1 << 15 // the DEFLATE window
	winMask  = winSize - 1
	maxMatch = 258
	maxBits  = 15 // longest Huffman code
	fastBits = 9  // codes up to this length are found by table lookup
)

// errWouldBlock abandons a step that needs input not yet received while
// decoded output is waiting to be returned.
var errWouldBlock = errors.New("inflate: would block")

// Base values and extra-bit counts of length codes 257..285 and
// distance codes 0..29 (RFC 1951 section 3.2.5).
var (
	lenBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// Order in which code-length code lengths are sent (section 3.2.7).
	clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// huffman is a canonical Huffman code: how many codes of each length,
// the symbols sorted by (length, symbol), and a lookup table for short
// codes indexed by the next fastBits input bits.
type huffman struct {
	count [maxBits + 1]uint16
	sym   [288]uint16
	fast  [1 << fastBits]uint16 // length<<9 | symbol; 0: not a short code
	empty bool                  // no codes at all
}

// build sets up the code from per-symbol code lengths. Over-subscribed
// sets are always an error; an incomplete set only when allowIncomplete
// is false, except a single code of one bit, which RFC 1951 permits.
func (h *huffman) build(lens []uint8, allowIncomplete bool) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lens {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	codes := 0
	for l := 1; l <= maxBits; l++ {
		left <<= 1
		left -= int(h.count[l])
		codes += int(h.count[l])
		if left < 0 {
			return errors.New("inflate: over-subscribed Huffman code")
		}
	}
	h.empty = codes == 0
	if left > 0 && codes > 0 && !allowIncomplete && !(codes == 1 && h.count[1] == 1) {
		return errors.New("inflate: incomplete Huffman code")
	}
	var offs [maxBits + 2]uint16
	for l := 1; l <= maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for s, l := range lens {
		if l != 0 {
			h.sym[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	h.fast = [1 << fastBits]uint16{}
	code, i := 0, 0
	for l := 1; l <= fastBits; l++ {
		for n := 0; n < int(h.count[l]); n++ {
			// Codes are sent most significant bit first; the table is
			// indexed by input bits in arrival order.
			rev := 0
			for b := 0; b < l; b++ {
				rev |= (code >> b & 1) << (l - 1 - b)
			}
			entry := uint16(l<<9) | h.sym[i]
			for f := rev; f < 1<<fastBits; f += 1 << l {
				h.fast[f] = entry
			}
			code++
			i++
		}
		code <<= 1
	}
	return nil
}

// Decoder states between steps.
const (
	stHeader    = iota // next: a block header
	stStoredLen        // next: LEN and NLEN of a stored block
	stStored           // copying a stored block's bytes
	stDynHeader        // next: HLIT, HDIST, HCLEN
	stCodeLens         // reading the code-length code
	stLitLens          // reading literal/length and distance code lengths
	stData             // decoding symbols of a Huffman block
	stDone             // after the final block
)

// inflater decodes a raw DEFLATE stream read from a bufio.Reader.
type inflater struct {
	in    *bufio.Reader
	bits  uint64 // input bits not yet consumed, next bit lowest
	nbits uint
	used  uint // bits of the current step peeked so far
	err   error

	state  int
	final  bool // the current block is the last one
	stored int  // bytes left in the current stored block

	// Dynamic block header being read.
	nlit, ndist, nclen int
	idx                int
	lens               [286 + 30]uint8
	clens              [19]uint8

	lit, dist           huffman
	litFixed, distFixed huffman
	useFixed            bool

	hist    [winSize]byte
	wpos    int  // next write position in hist
	filled  bool // hist has wrapped at least once
	pending int  // decoded bytes not yet returned, ending at wpos
}

// newInflater returns a decoder reading compressed data from r.
func newInflater(r *bufio.Reader) *inflater {
	d := &inflater{in: r}
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	// The fixed codes are complete; distance codes 30 and 31 exist in the
	// code but are invalid when met.
	_ = d.litFixed.build(l[:], false)
	for i := 0; i < 32; i++ {
		l[i] = 5
	}
	_ = d.distFixed.build(l[:32], false)
	return d
}

// Read returns decoded bytes. It blocks only while nothing decoded is
// waiting to be returned.
func (d *inflater) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for d.err == nil && d.pending < len(p) && d.pending < winSize-maxMatch {
		err := d.step()
		if err == errWouldBlock {
			d.used = 0
			break
		}
		if err != nil {
			d.err = err
		}
	}
	if d.pending > 0 {
		n := d.pending
		if n > len(p) {
			n = len(p)
		}
		start := (d.wpos - d.pending) & winMask
		c := copy(p[:n], d.hist[start:])
		if c < n {
			copy(p[c:n], d.hist[:n-c])
		}
		d.pending -= n
		return n, nil
	}
	return 0, d.err
}

// need makes n more bits of the step available: from bytes already
// received when there are any, otherwise waiting for the next one
// unless decoded output is pending.
func (d *inflater) need(n uint) error {
	for d.nbits < d.used+n {
		if d.in.Buffered() == 0 && d.pending > 0 {
			return errWouldBlock
		}
		b, err := d.in.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("inflate: %w", err)
		}
		d.bits |= uint64(b) << d.nbits
		d.nbits += 8
	}
	return nil
}

// get returns the next n bits of the step (n <= 16), least significant
// first as RFC 1951 packs them.
func (d *inflater) get(n uint) (int, error) {
	if err := d.need(n); err != nil {
		return 0, err
	}
	v := int(d.bits>>d.used) & (1<<n - 1)
	d.used += n
	return v, nil
}

// commit consumes the bits the step has used.
func (d *inflater) commit() {
	d.bits >>= d.used
	d.nbits -= d.used
	d.used = 0
}

// decode reads one symbol of h.
func (d *inflater) decode(h *huffman) (int, error) {
	// Top up from bytes already received, which never blocks.
	for d.nbits <= 56 && d.in.Buffered() > 0 {
		b, _ := d.in.ReadByte()
		d.bits |= uint64(b) << d.nbits
		d.nbits += 8
	}
	if d.nbits-d.used >= fastBits {
		if e := h.fast[int(d.bits>>d.used)&(1<<fastBits-1)]; e != 0 {
			d.used += uint(e >> 9)
			return int(e & 511), nil
		}
	}
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		b, err := d.get(1)
		if err != nil {
			return 0, err
		}
		code |= b
		count := int(h.count[l])
		if code-first < count {
			return int(h.sym[index+code-first]), nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, errors.New("inflate: invalid Huffman code")
}

// put appends a decoded byte to the window.
func (d *inflater) put(b byte) {
	d.hist[d.wpos] = b
	d.wpos = (d.wpos + 1) & winMask
	if d.wpos == 0 {
		d.filled = true
	}
	d.pending++
}

// step decodes one unit of the stream.
func (d *inflater) step() error {
	switch d.state {
	case stDone:
		return io.EOF

	case stHeader:
		h, err := d.get(3)
		if err != nil {
			return err
		}
		d.commit()
		d.final = h&1 == 1
		switch h >> 1 {
		case 0:
			// Skip to the byte boundary: bits held are the rest of the
			// current byte plus whole bytes.
			d.used = d.nbits & 7
			d.commit()
			d.state = stStoredLen
		case 1:
			d.useFixed = true
			d.state = stData
		case 2:
			d.state = stDynHeader
		default:
			return errors.New("inflate: invalid block type")
		}
		return nil

	case stStoredLen:
		v, err := d.get(32)
		if err != nil {
			return err
		}
		n, nn := v&0xffff, v>>16
		if n != ^nn&0xffff {
			return errors.New("inflate: stored block length mismatch")
		}
		d.commit()
		d.stored = n
		d.state = stStored
		return d.endStored()

	case stStored:
		// Whole bytes left in the bit buffer come first.
		for d.stored > 0 && d.nbits >= 8 {
			d.put(byte(d.bits))
			d.used = 8
			d.commit()
			d.stored--
		}
		if d.stored > 0 {
			if d.in.Buffered() == 0 && d.pending > 0 {
				return errWouldBlock
			}
			n := d.stored
			if room := winSize - maxMatch - d.pending; n > room {
				n = room
			}
			if n > winSize-d.wpos {
				n = winSize - d.wpos
			}
			if n <= 0 {
				return nil
			}
			got, err := d.in.Read(d.hist[d.wpos : d.wpos+n])
			d.wpos = (d.wpos + got) & winMask
			if got > 0 && d.wpos == 0 {
				d.filled = true
			}
			d.pending += got
			d.stored -= got
			if err != nil && d.stored > 0 {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("inflate: %w", err)
			}
		}
		return d.endStored()

	case stDynHeader:
		v, err := d.get(14)
		if err != nil {
			return err
		}
		d.nlit = v&31 + 257
		d.ndist = v>>5&31 + 1
		d.nclen = v>>10 + 4
		if d.nlit > 286 || d.ndist > 30 {
			return errors.New("inflate: too many length or distance codes")
		}
		d.commit()
		d.clens = [19]uint8{}
		d.idx = 0
		d.state = stCodeLens
		return nil

	case stCodeLens:
		v, err := d.get(3)
		if err != nil {
			return err
		}
		d.commit()
		d.clens[clenOrder[d.idx]] = uint8(v)
		d.idx++
		if d.idx == d.nclen {
			if err := d.lit.build(d.clens[:], false); err != nil {
				return fmt.Errorf("inflate: code length code: %w", err)
			}
			d.idx = 0
			d.state = stLitLens
		}
		return nil

	case stLitLens:
		return d.codeLen()

	case stData:
		return d.symbol()
	}
	return errors.New("inflate: bad state")
}

// endStored moves on once a stored block is complete.
func (d *inflater) endStored() error {
	if d.stored == 0 {
		d.nextBlock()
	}
	return nil
}

// nextBlock moves on after a block ends.
func (d *inflater) nextBlock() {
	if d.final {
		d.state = stDone
	} else {
		d.state = stHeader
	}
}

// codeLen reads one code length (or a run of them) of a dynamic block;
// the code-length code is held in d.lit meanwhile.
func (d *inflater) codeLen() error {
	total := d.nlit + d.ndist
	sym, err := d.decode(&d.lit)
	if err != nil {
		return err
	}
	var val uint8
	var rep int
	switch {
	case sym < 16:
		d.commit()
		d.lens[d.idx] = uint8(sym)
		d.idx++
	default:
		switch sym {
		case 16:
			if d.idx == 0 {
				return errors.New("inflate: repeat with no previous code length")
			}
			val = d.lens[d.idx-1]
			v, err := d.get(2)
			if err != nil {
				return err
			}
			rep = 3 + v
		case 17:
			v, err := d.get(3)
			if err != nil {
				return err
			}
			rep = 3 + v
		default: // 18
			v, err := d.get(7)
			if err != nil {
				return err
			}
			rep = 11 + v
		}
		if d.idx+rep > total {
			return errors.New("inflate: code lengths overrun")
		}
		d.commit()
		for ; rep > 0; rep-- {
			d.lens[d.idx] = val
			d.idx++
		}
	}
	if d.idx < total {
		return nil
	}
	if d.lens[256] == 0 {
		return errors.New("inflate: no end-of-block code")
	}
	if err := d.lit.build(d.lens[:d.nlit], false); err != nil {
		return fmt.Errorf("inflate: literal/length code: %w", err)
	}
	if err := d.dist.build(d.lens[d.nlit:total], false); err != nil {
		return fmt.Errorf("inflate: distance code: %w", err)
	}
	d.useFixed = false
	d.state = stData
	return nil
}

// symbol decodes one literal, end of block, or length/distance pair.
func (d *inflater) symbol() error {
	lit, dist := &d.lit, &d.dist
	if d.useFixed {
		lit, dist = &d.litFixed, &d.distFixed
	}
	sym, err := d.decode(lit)
	if err != nil {
		return err
	}
	if sym < 256 {
		d.commit()
		d.put(byte(sym))
		return nil
	}
	if sym == 256 {
		d.commit()
		d.nextBlock()
		return nil
	}
	sym -= 257
	if sym >= 29 {
		return errors.New("inflate: invalid length code")
	}
	length := int(lenBase[sym])
	if n := uint(lenExtra[sym]); n > 0 {
		v, err := d.get(n)
		if err != nil {
			return err
		}
		length += v
	}
	if dist.empty {
		return errors.New("inflate: distance code used but none defined")
	}
	ds, err := d.decode(dist)
	if err != nil {
		return err
	}
	if ds >= 30 {
		return errors.New("inflate: invalid distance code")
	}
	distance := int(distBase[ds])
	if n := uint(distExtra[ds]); n > 0 {
		v, err := d.get(n)
		if err != nil {
			return err
		}
		distance += v
	}
	if !d.filled && distance > d.wpos {
		return errors.New("inflate: distance too far back")
	}
	d.commit()
	src := (d.wpos - distance) & winMask
	d.pending += length
	if d.wpos+length >= winSize {
		d.filled = true
	}
	if src+length <= d.wpos || (src >= d.wpos+length && src+length <= winSize) {
		// Source and destination neither overlap nor wrap.
		if d.wpos+length <= winSize {
			copy(d.hist[d.wpos:d.wpos+length], d.hist[src:src+length])
			d.wpos = (d.wpos + length) & winMask
			return nil
		}
	}
	for ; length > 0; length-- {
		d.hist[d.wpos] = d.hist[src]
		d.wpos = (d.wpos + 1) & winMask
		src = (src + 1) & winMask
	}
	return nil
}
