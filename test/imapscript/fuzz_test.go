package imapscript

import "testing"

// FuzzParseArgs feeds arbitrary response text to the argument parser: it
// must return arguments or an error, never panic.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{`1 FETCH (UID 5 FLAGS (\Seen))`, `OK [UIDNEXT 5] x`, "LIST () \"/\" {3}\r\nabc", `("a" NIL (b)) ~{2}` + "\r\nxy", `((((`, `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseArgs(s)
	})
}

// FuzzParseScript feeds arbitrary scripts to the script parser.
func FuzzParseScript(f *testing.F) {
	f.Add("messages: 2\n\nok fetch 1 uid\n* 1 fetch (uid $u)\n")
	f.Add("connections: 2\n\n1 tag1 noop\n1 tag1 ok\n2 ok append $mailbox {{{\nSubject: x\n\nbody\n}}}\n")
	f.Add("!ifenv X\nok noop\n!else\nbad noop\n!endif\n")
	f.Fuzz(func(t *testing.T, s string) {
		ParseScript("fuzz", s, func(string) bool { return false })
	})
}
