// Package testzone runs a test in a chosen local time zone. Code that stamps
// times in the server's local zone (time.Local) cannot be checked on a
// machine whose zone is UTC, which is where CI runs: a zone offset of zero
// is indistinguishable from "zone ignored". Go fixes time.Local when the
// process starts, so InZone runs the test again in a child process with TZ
// set and reports the child's outcome as its own.
//
// It is for tests only.
package testzone

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	// The zone must exist where the tests run, with or without the
	// system's tzdata.
	_ "time/tzdata"
)

// env marks the child process so that InZone runs the test body there.
const env = "POCHTA_TESTZONE"

// InZone reports whether the calling test should go on in this process:
// true in the child, which runs with TZ=zone. In the parent it runs the
// current test (t.Name(), anchored) again in a child process of the same
// test binary with TZ=zone, fails t with the child's output unless the child
// ran the test and passed, and returns false: the caller returns at once.
//
//	if !testzone.InZone(t, "America/St_Johns") {
//		return
//	}
func InZone(t *testing.T, zone string) bool {
	t.Helper()
	if os.Getenv(env) == zone && os.Getenv("TZ") == zone {
		return true
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TZ="+zone, env+"="+zone)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in TZ=%s failed: %v\n%s", t.Name(), zone, err, out)
	}
	// The child must have run this very test (a pattern that matched
	// nothing also exits 0).
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" (") {
		t.Fatalf("%s in TZ=%s did not run:\n%s", t.Name(), zone, out)
	}
	return false
}
