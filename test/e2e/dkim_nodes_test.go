package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDKIMKeysSharedByNodes: the DKIM keys live in the shared store. A
// key made by the admin command of node 1 signs mail that node 2 (its
// own data folder, with only the shared server key copied in, node 1
// stopped) sends, and the receiving server verifies the signatures with
// the DNS records that node 1's `domain dns` printed.
func TestDKIMKeysSharedByNodes(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t)
	d := startDNS(t)
	b := StartServer(t, dnsConfig(d))
	b.Pochta(t, "domain", "add", "b.example")
	b.AddUser(t, "bob@b.example", "bob-secret-1")

	extra := fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\n\n%s\n[queue.routes]\n%q = %q\n",
		dsn, dnsConfig(d), "b.example", b.Addr("smtp"))
	n1 := StartServer(t, extra)
	n1.Pochta(t, "domain", "add", "a.example")
	n1.AddUser(t, "alice@a.example", "alice-secret-1")
	zone := n1.Pochta(t, "domain", "dns", "a.example")
	d.AddZoneText(t, zone)
	d.Add(t, "mail.example.org. 300 IN A 127.0.0.1")
	n1.Stop(t)

	n2 := startNode(t, extra, n1)
	if _, err := os.Stat(filepath.Join(n2.Dir, "data", "dkim")); err == nil {
		t.Fatal("node 2 has a DKIM key folder")
	}
	msg := simpleMessage("Alice <alice@a.example>", "bob@b.example", "signed on node 2", "Hello Bob.")
	if r := submit(t, n2, "alice@a.example", "alice-secret-1", "alice@a.example", []string{"bob@b.example"}, msg); r.Code != 250 {
		t.Fatalf("submit on node 2: %v", r)
	}
	var got []string
	waitFor(t, 30*time.Second, "the message in bob's inbox", func() bool {
		got = inbox(t, b, "bob@b.example")
		return len(got) > 0
	})
	head := got[0][:strings.Index(got[0], "\r\n\r\n")]
	for _, want := range []string{"dkim=pass", "header.d=a.example", "dmarc=pass", "a=ed25519-sha256", "a=rsa-sha256"} {
		if !strings.Contains(head, want) {
			t.Errorf("received header lacks %q:\n%s", want, head)
		}
	}
	if strings.Contains(head, "dkim=fail") {
		t.Errorf("a signature of node 2 failed:\n%s", head)
	}
	// Both nodes print the same records.
	if z2 := n2.Pochta(t, "domain", "dns", "a.example"); z2 != zone {
		t.Errorf("node 2's DNS records differ from node 1's:\n%s\n---\n%s", z2, zone)
	}
}
