package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestThreadLoopInReferences is Dovecot imaptest's "thread" case: the
// references form a loop, which must be broken, and expunging a message
// turns it into a dummy that is pruned.
func TestThreadLoopInReferences(t *testing.T) {
	day := func(h, m, s int) time.Time { return time.Date(2008, 2, 22, h, m, s, 0, time.UTC) }
	_, c := sortEnv(t, []string{
		"Message-ID: <a@b>\n\nbody\n",
		"Message-Id: <b@b>\nReferences: <c@b> <a@b>\n\nbody\n",
		"Message-Id: <c@b>\nReferences: <b@b>\n\nbody\n",
	}, []time.Time{day(17, 6, 23), day(15, 6, 23), day(16, 6, 25)})
	mustHave(t, c.ok("CAPABILITY"), "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT")
	if got := only(t, c.ok("THREAD REFERENCES US-ASCII ALL"), "* THREAD"); got != "* THREAD (3 1 2)" {
		t.Errorf("THREAD: %q, want (3 1 2)", got)
	}
	c.ok(`STORE 1 +FLAGS (\Deleted)`)
	c.ok("EXPUNGE")
	if got := only(t, c.ok("THREAD REFERENCES US-ASCII ALL"), "* THREAD"); got != "* THREAD (2 1)" {
		t.Errorf("THREAD after expunge: %q, want (2 1)", got)
	}
}

// threadMessages exercise REFERENCES: nested replies, a missing parent
// with two and then three children (a dummy kept at the top), a missing
// parent in the middle of a chain (pruned), a parent found through
// In-Reply-To, a duplicate Message-ID, a reference loop, and subject
// merges of every kind (a reply under the original, a message under a
// dummy, two originals under a new dummy).
func threadMessages() []string {
	type m struct{ id, refs, irt, subj string }
	list := []m{
		{"<1@x>", "", "", "Party"},                         // 1
		{"<2@x>", "<1@x>", "", "Re: Party"},                // 2: reply to 1
		{"<3@x>", "<1@x> <2@x>", "", "Re: Party"},          // 3: reply to 2
		{"<4@x>", "<1@x>", "", "Re: Party"},                // 4: reply to 1
		{"<5@x>", "<gone@x>", "", "Lost"},                  // 5: parent missing
		{"<6@x>", "<gone@x>", "", "Re: Lost"},              // 6: same missing parent
		{"<7@x>", "", "", "Re: Party"},                     // 7: reply by subject only
		{"<8@x>", "", "", "Lost"},                          // 8: joins the dummy by subject
		{"<9@x>", "", "", "Meeting"},                       // 9
		{"<10@x>", "", "", "Meeting"},                      // 10: same subject, not a reply
		{"<11@x>", "", "<9@x>", "Re: Meeting"},             // 11: In-Reply-To 9
		{"<1@x>", "", "", "Other"},                         // 12: duplicate Message-ID
		{"<13@x>", "<14@x>", "", "Loop"},                   // 13
		{"<14@x>", "<13@x>", "", "Re: Loop"},               // 14: loop with 13
		{"<15@x>", "<1@x>\n <missing@x>", "", "Re: Party"}, // 15: middle missing
	}
	var out []string
	for i, x := range list {
		h := fmt.Sprintf("From: someone@example.org\nSubject: %s\nMessage-ID: %s\nDate: %s\n",
			x.subj, x.id, time.Date(2024, 1, i+1, 10, 0, 0, 0, time.UTC).Format(time.RFC1123Z))
		if x.refs != "" {
			h += "References: " + x.refs + "\n"
		}
		if x.irt != "" {
			h += "In-Reply-To: " + x.irt + "\n"
		}
		out = append(out, h+"\nbody\n")
	}
	return out
}

func TestThreadReferences(t *testing.T) {
	_, c := sortEnv(t, threadMessages(), nil)
	const want = "* THREAD (1 (2 3)(4)(7)(15))((5)(6)(8))((9 11)(10))(12)(14 13)"
	if got := only(t, c.ok("THREAD REFERENCES UTF-8 ALL"), "* THREAD"); got != want {
		t.Errorf("THREAD REFERENCES:\n got %q\nwant %q", got, want)
	}
	// UID THREAD: the same shape in UIDs (sequence number + 1 here).
	const wantUID = "* THREAD (2 (3 4)(5)(8)(16))((6)(7)(9))((10 12)(11))(13)(15 14)"
	if got := only(t, c.ok("UID THREAD REFERENCES UTF-8 ALL"), "* THREAD"); got != wantUID {
		t.Errorf("UID THREAD REFERENCES:\n got %q\nwant %q", got, wantUID)
	}
	// Threading a subset: 1 and 2 are left out, so message 12, whose
	// Message-ID duplicates 1's, now takes its place as the parent of 3
	// (through missing 2), 4 and 15.
	const wantSubset = "* THREAD ((5)(6)(8))(7)((9 11)(10))(12 (3)(4)(15))(14 13)"
	if got := only(t, c.ok("THREAD REFERENCES UTF-8 NOT 1:2"), "* THREAD"); got != wantSubset {
		t.Errorf("THREAD REFERENCES of a subset:\n got %q\nwant %q", got, wantSubset)
	}
	if got := only(t, c.ok("THREAD REFERENCES UTF-8 SUBJECT meeting"), "* THREAD"); got != "* THREAD ((9 11)(10))" {
		t.Errorf("THREAD with a search: %q", got)
	}
	if got := only(t, c.ok("THREAD REFERENCES UTF-8 FROM nobody"), "* THREAD"); got != "* THREAD" {
		t.Errorf("empty THREAD: %q", got)
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	_, c := sortEnv(t, threadMessages(), nil)
	const want = "* THREAD (1 (2)(3)(4)(7)(15))(5 (6)(8))(9 (10)(11))(12)(13 14)"
	if got := only(t, c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL"), "* THREAD"); got != want {
		t.Errorf("THREAD ORDEREDSUBJECT:\n got %q\nwant %q", got, want)
	}
	if got := only(t, c.ok("UID THREAD ORDEREDSUBJECT US-ASCII 9:11"), "* THREAD"); got != "* THREAD (10 (11)(12))" {
		t.Errorf("UID THREAD ORDEREDSUBJECT: %q", got)
	}
	if got := only(t, c.ok("THREAD ORDEREDSUBJECT UTF-8 4,7"), "* THREAD"); got != "* THREAD (4 7)" {
		t.Errorf("two-message thread: %q", got)
	}
}

func TestThreadErrors(t *testing.T) {
	_, c := sortEnv(t, threadMessages(), nil)
	for _, tt := range []struct{ cmd, want string }{
		{"THREAD FOO UTF-8 ALL", "BAD"},
		{"THREAD REFERENCES KOI8-R ALL", "NO [BADCHARSET (UTF-8 US-ASCII)]"},
		{"THREAD REFERENCES UTF-8", "BAD"},
		{"THREAD REFERENCES", "BAD"},
		{"THREAD (REFERENCES) UTF-8 ALL", "BAD"},
		{"THREAD REFERENCES UTF-8 ALL)", "BAD"},
	} {
		c.expect(tt.cmd, tt.want)
	}
	c.ok("THREAD REFERENCES UTF-8 ALL")
}

// threadShape renders threads of synthetic messages for algorithm tests
// that need no server.
func threadShape(roots []*threadNode) string {
	return string(appendThreads(nil, roots, false))
}

func synth(specs ...[3]string) []sortMsg {
	var msgs []sortMsg
	for i, s := range specs {
		base, reply := baseSubject(s[2])
		msgs = append(msgs, sortMsg{seq: uint32(i + 1), uid: uint32(i + 1), msgID: firstMsgID(s[0]), refs: msgIDs(s[1], maxReferences),
			subject: casemap(base), reply: reply, sent: time.Date(2024, 1, 1, 0, i, 0, 0, time.UTC)})
	}
	return msgs
}

// TestThreadReferencesRules covers RFC 5256 §3 rules that the dialogue
// tests do not reach.
func TestThreadReferencesRules(t *testing.T) {
	for _, tt := range []struct {
		name string
		msgs []sortMsg
		want string
	}{
		{"reply sorts before its parent by date but stays under it",
			synth([3]string{"<b@x>", "<a@x>", "Re: s"}, [3]string{"<a@x>", "", "s"}), "(2 1)"},
		{"a reply by subject goes under the original even if older",
			synth([3]string{"<b@x>", "", "Re: s"}, [3]string{"<a@x>", "", "s"}), "(2 1)"},
		{"two replies by subject only: a dummy",
			synth([3]string{"<b@x>", "", "Re: s"}, [3]string{"<a@x>", "", "Re: s"}), "((1)(2))"},
		{"empty subjects are never merged",
			synth([3]string{"<a@x>", "", ""}, [3]string{"<b@x>", "", "Re:"}), "(1)(2)"},
		{"own ID in References is ignored",
			synth([3]string{"<a@x>", "<a@x>", "s"}), "(1)"},
		{"two dummies with one subject merge their children",
			synth([3]string{"<a@x>", "<p@x>", "s"}, [3]string{"<b@x>", "<p@x>", "s"},
				[3]string{"<c@x>", "<q@x>", "Re: s"}, [3]string{"<d@x>", "<q@x>", "s"}), "((1)(2)(3)(4))"},
		{"an earlier message's References are overridden by the message's own",
			synth([3]string{"<c@x>", "<a@x> <b@x>", "c"}, [3]string{"<b@x>", "", "b"}, [3]string{"<a@x>", "", "a"}), "(2 1)(3)"},
		{"a message without Message-ID",
			synth([3]string{"", "", "x"}, [3]string{"", "", "y"}), "(1)(2)"},
		{"IDs without @ are not IDs",
			synth([3]string{"<a@x>", "", "a"}, [3]string{"<b@x>", "<junk> <a@x>", "b"}), "(1 2)"},
	} {
		if got := threadShape(threadReferences(tt.msgs)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMsgIDs(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"<a@b> <c@d>", []string{"a@b", "c@d"}},
		{"<a@b>\r\n\t<c@\r\n d>", []string{"a@b", "c@d"}},
		{"junk <x <y@z>> (comment <p@q>)", []string{"y@z", "p@q"}},
		{"<@b> <a@> <ab> <>", nil},
		{"<a@b", nil},
	} {
		if got := msgIDs(tt.in, maxReferences); !slices.Equal(got, tt.want) {
			t.Errorf("msgIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var long []string
	for i := range 300 {
		long = append(long, fmt.Sprintf("<%d@x>", i))
	}
	got := msgIDs(strings.Join(long, " "), 10)
	if len(got) != 10 || got[0] != "0@x" || got[1] != "291@x" || got[9] != "299@x" {
		t.Errorf("long References kept %q", got)
	}
}

// FuzzThread threads arbitrary reference graphs: no panic, no endless
// loop, and every message appears exactly once in the answer.
func FuzzThread(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0, 2, 1, 3, 3, 2, 0})
	f.Add([]byte{5, 5, 5, 5, 1, 2, 3, 4, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 600 {
			return
		}
		var msgs []sortMsg
		for i := 0; i+2 < len(data); i += 3 {
			id, ref1, ref2 := data[i]%16, data[i+1]%16, data[i+2]
			m := sortMsg{seq: uint32(len(msgs) + 1), uid: uint32(len(msgs) + 1),
				sent: time.Unix(int64(ref2%4), 0), subject: []string{"", "A", "B", "A"}[ref2%4], reply: ref2&8 != 0}
			if id != 0 {
				m.msgID = fmt.Sprintf("%d@x", id)
			}
			if ref1 != 0 {
				m.refs = append(m.refs, fmt.Sprintf("%d@x", ref1))
			}
			if ref2&16 != 0 {
				m.refs = append(m.refs, fmt.Sprintf("%d@x", ref2>>5))
			}
			msgs = append(msgs, m)
		}
		for _, roots := range [][]*threadNode{threadReferences(msgs), threadOrderedSubject(msgs)} {
			out := threadShape(roots)
			seen := map[string]int{}
			for _, f := range strings.FieldsFunc(out, func(r rune) bool { return r == '(' || r == ')' || r == ' ' }) {
				seen[f]++
			}
			for _, m := range msgs {
				if n := seen[fmt.Sprint(m.seq)]; n != 1 {
					t.Fatalf("message %d appears %d times in %q", m.seq, n, out)
				}
			}
			if len(seen) != len(msgs) {
				t.Fatalf("%d messages, %d numbers in %q", len(msgs), len(seen), out)
			}
			if strings.Contains(out, "()") || strings.Contains(out, "( ") || strings.Contains(out, " )") {
				t.Fatalf("malformed %q", out)
			}
		}
	})
}
