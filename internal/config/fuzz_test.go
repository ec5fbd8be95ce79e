package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary documents to the config parser: it must never
// panic, every error must name the file, and an accepted config must
// validate again on its own.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../pochta.example.toml")
	if err == nil {
		f.Add(string(example))
	}
	f.Add("hostname = \"mail.example.org\"\n[listen]\nsmtp = \":25\"\n")
	f.Add("[listen]\nsmpt = \":25\"\n")
	f.Add("[pop3]\ninactivity_timeout = \"1m\"\n")
	f.Add("[smtp]\nmax_message_size = \"30MiB\"\nblocked_extensions = [\"exe\"]\n")
	f.Add("x = [1, \"a\"]\n[[listen]]\n")
	f.Fuzz(func(t *testing.T, doc string) {
		watchdog := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("Parse takes more than 3s on %q", doc)) })
		cfg, err := Parse([]byte(doc), "fuzz.toml")
		watchdog.Stop()
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) && !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config fails validation: %v", err)
		}
	})
}
