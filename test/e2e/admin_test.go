package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAdminWhileServing runs the admin commands against a running server's
// store, and checks that accounts survive a restart.
func TestAdminWhileServing(t *testing.T) {
	t.Parallel()
	s := StartServer(t, "")
	out := s.Pochta(t, "user", "add", "anna@example.org")
	if !strings.Contains(out, "account anna@example.org added") || !strings.Contains(out, "password: ") {
		t.Fatalf("user add printed %q", out)
	}
	s.AddUser(t, "boris@example.org", "secret-boris-1")
	s.Pochta(t, "alias", "add", "team@example.org", "anna@example.org", "boris@example.org")
	s.Pochta(t, "user", "set", "boris@example.org", "--pop3=off", "--pop3-delete=keep")

	var users []struct {
		Address  string `json:"address"`
		Settings struct {
			POP3   bool   `json:"pop3"`
			IMAP   bool   `json:"imap"`
			Delete string `json:"pop3_delete"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(s.Pochta(t, "user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Address != "anna@example.org" || users[1].Address != "boris@example.org" {
		t.Fatalf("user list = %+v", users)
	}
	if users[1].Settings.POP3 || !users[1].Settings.IMAP || users[1].Settings.Delete != "keep" {
		t.Fatalf("boris's settings = %+v, want pop3 off, imap on, delete keep", users[1].Settings)
	}

	// Errors are clear and exit non-zero.
	if _, errOut, err := s.PochtaErr("user", "add", "x@unknown.example"); err == nil || !strings.Contains(errOut, "not a local domain") {
		t.Fatalf("user add in unknown domain: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := s.PochtaErr("user", "set", "boris@example.org", "--pop3=maybe"); err == nil || !strings.Contains(errOut, "want on or off") {
		t.Fatalf("bad --pop3 value: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := s.PochtaErr("domain", "remove", "example.org"); err == nil || !strings.Contains(errOut, "still has accounts") {
		t.Fatalf("remove busy domain: err %v, stderr %q", err, errOut)
	}

	s.Restart(t)
	out = s.Pochta(t, "alias", "list")
	if !strings.Contains(out, "team@example.org → anna@example.org, boris@example.org") {
		t.Fatalf("after restart, alias list = %q", out)
	}
	out = s.Pochta(t, "user", "show", "boris@example.org")
	if !strings.Contains(out, "pop3:           off") || !strings.Contains(out, "team@example.org") {
		t.Fatalf("after restart, user show = %q", out)
	}
}
