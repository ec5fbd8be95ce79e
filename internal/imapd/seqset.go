package imapd

import (
	"slices"
	"strconv"
	"strings"
)

// seqRange is lo:hi of a sequence set; 0 stands for "*".
type seqRange struct{ lo, hi uint32 }

// seqSet is a parsed sequence set. saved is true for "$" (SEARCHRES).
type seqSet struct {
	ranges []seqRange
	saved  bool
}

// parseSeqSet parses "1:4,7,*", "3:*" or "$".
func parseSeqSet(s string) (seqSet, error) {
	if s == "$" {
		return seqSet{saved: true}, nil
	}
	var set seqSet
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := parseSeqNum(lo)
		if err != nil {
			return seqSet{}, err
		}
		b := a
		if isRange {
			if b, err = parseSeqNum(hi); err != nil {
				return seqSet{}, err
			}
		}
		set.ranges = append(set.ranges, seqRange{a, b})
	}
	return set, nil
}

func parseSeqNum(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	if s == "" || s[0] == '0' {
		return 0, errSyntax("bad number %q in sequence set", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errSyntax("bad number %q in sequence set", s)
	}
	return uint32(n), nil
}

// String formats the set back (for tests and logs).
func (s seqSet) String() string {
	if s.saved {
		return "$"
	}
	var b strings.Builder
	num := func(n uint32) {
		if n == 0 {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, r := range s.ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		num(r.lo)
		if r.lo != r.hi {
			b.WriteByte(':')
			num(r.hi)
		}
	}
	return b.String()
}

// contains reports whether n is in the set when "*" means star.
func (s seqSet) contains(n, star uint32) bool {
	for _, r := range s.ranges {
		lo, hi := r.lo, r.hi
		if lo == 0 {
			lo = star
		}
		if hi == 0 {
			hi = star
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// resolveUIDs returns the indexes into uids (sorted ascending) of the UIDs
// in the set, ascending and without duplicates. "*" is the highest UID.
func (s seqSet) resolveUIDs(uids []uint32) []int {
	if len(uids) == 0 {
		return nil
	}
	star := uids[len(uids)-1]
	var out []int
	for _, r := range s.ranges {
		lo, hi := r.lo, r.hi
		if lo == 0 {
			lo = star
		}
		if hi == 0 {
			hi = star
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		i, _ := slices.BinarySearch(uids, lo)
		for ; i < len(uids) && uids[i] <= hi; i++ {
			out = append(out, i)
		}
	}
	return sortUniqueInts(out, len(s.ranges) > 1)
}

// resolveSeqs returns the 0-based indexes of the sequence numbers in the
// set for a mailbox of n messages. ok is false when a number is beyond n.
func (s seqSet) resolveSeqs(n int) (idx []int, ok bool) {
	star := uint32(n)
	for _, r := range s.ranges {
		lo, hi := r.lo, r.hi
		if lo == 0 {
			lo = star
		}
		if hi == 0 {
			hi = star
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if hi > star {
			return nil, false
		}
		if lo == 0 { // "*" in an empty mailbox
			continue
		}
		for i := lo; i <= hi; i++ {
			idx = append(idx, int(i-1))
		}
	}
	return sortUniqueInts(idx, len(s.ranges) > 1), true
}

func sortUniqueInts(v []int, needSort bool) []int {
	if needSort {
		slices.Sort(v)
		v = slices.Compact(v)
	}
	return v
}

// formatUIDs formats sorted UIDs compactly: "1:3,7,9:10".
func formatUIDs(uids []uint32) string {
	var b strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// formatUIDList formats UIDs in the order given (for COPYUID, whose two
// sets must correspond element by element): runs are only joined when
// ascending by one.
func formatUIDList(uids []uint32) string {
	return formatUIDs(uids)
}
