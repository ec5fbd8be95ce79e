package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startPostfix runs a private Postfix instance (Debian package) that
// accepts mail for pf.example on a loopback port and stores it in
// Maildir folders under the returned mail folder. It skips the test when
// Postfix is not installed or the test is not root (Postfix starts as
// root and drops privileges). extra are more main.cf lines.
func startPostfix(t *testing.T, extra ...string) (addr, mailDir string) {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Skip("postfix is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix instance needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	w, err := os.MkdirTemp("", "pochta-postfix")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(w, 0o755)
	t.Cleanup(func() { os.RemoveAll(w) })
	d := filepath.Join(w, "etc")
	mailDir = filepath.Join(w, "mail")
	for _, p := range []string{d, filepath.Join(mailDir, "user"), filepath.Join(w, "queue"), filepath.Join(w, "data")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exec.Command("chown", "postfix", filepath.Join(w, "data")).Run()
	exec.Command("chown", "-R", "nobody:nogroup", mailDir).Run()
	writeSelfSigned(t, filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem"))
	os.WriteFile(filepath.Join(d, "vmailbox"), []byte("user@pf.example user/\n"), 0o644)
	port := strings.TrimPrefix(closedPort(t), "127.0.0.1:")
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
config_directory = %[1]s
queue_directory = %[2]s/queue
data_directory = %[2]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.pf.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
disable_dns_lookups = yes
smtp_dns_support_level = disabled
maillog_file = %[2]s/postfix.log
maillog_file_prefixes = %[2]s
smtpd_tls_cert_file = %[1]s/cert.pem
smtpd_tls_key_file = %[1]s/key.pem
smtpd_tls_security_level = may
smtputf8_enable = yes
virtual_mailbox_domains = pf.example
virtual_mailbox_base = %[3]s
virtual_mailbox_maps = texthash:%[1]s/vmailbox
virtual_uid_maps = static:%[4]s
virtual_gid_maps = static:%[5]s
virtual_minimum_uid = 1
local_recipient_maps =
biff = no
`, d, w, mailDir, nobody.Uid, nobody.Gid) + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(d, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	dist, err := os.ReadFile("/usr/share/postfix/master.cf.dist")
	if err != nil {
		t.Skip("no /usr/share/postfix/master.cf.dist")
	}
	var master []string
	for _, l := range strings.Split(string(dist), "\n") {
		f := strings.Fields(l)
		if strings.HasPrefix(l, "#") || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") || len(f) < 8 {
			master = append(master, l)
			continue
		}
		if f[0] == "smtp" && f[1] == "inet" {
			f[0] = "127.0.0.1:" + port
		}
		if f[4] == "y" || f[4] == "-" {
			f[4] = "n" // no chroot
		}
		master = append(master, strings.Join(f, " "))
	}
	os.WriteFile(filepath.Join(d, "master.cf"), []byte(strings.Join(master, "\n")), 0o644)
	for _, verb := range []string{"check", "start"} {
		if out, err := exec.Command("script", "-qec", "postfix -c '"+d+"' "+verb, "/dev/null").CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(w, "postfix.log"))
			t.Fatalf("postfix %s: %v\n%s\n%s", verb, err, out, log)
		}
	}
	t.Cleanup(func() { exec.Command("postfix", "-c", d, "stop").Run() })
	addr = "127.0.0.1:" + port
	waitFor(t, 15*time.Second, "postfix to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, mailDir
}

// writeSelfSigned writes a throwaway certificate and key.
func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "postfix.pf.example"},
		DNSNames: []string{"postfix.pf.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

func TestQueueDeliversToPostfix(t *testing.T) {
	t.Parallel()
	pfAddr, mailDir := startPostfix(t)
	d := startDNS(t)
	a := StartServer(t, dnsConfig(d)+fmt.Sprintf("\n[queue.routes]\n%q = %q\n", "pf.example", pfAddr))
	a.Pochta(t, "domain", "add", "a.example")
	a.AddUser(t, "alice@a.example", "alice-secret-1")
	msg := simpleMessage("alice@a.example", "user@pf.example", "to Postfix", "Привет, Postfix.")
	if r := submit(t, a, "alice@a.example", "alice-secret-1", "alice@a.example", []string{"user@pf.example"}, msg); r.Code != 250 {
		t.Fatalf("submit: %v", r)
	}
	var files []string
	waitFor(t, 60*time.Second, "the message in Postfix's Maildir", func() bool {
		files, _ = filepath.Glob(filepath.Join(mailDir, "user", "new", "*"))
		return len(files) > 0
	})
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"Return-Path: <alice@a.example>", "DKIM-Signature: a=ed25519-sha256", "d=a.example",
		"by postfix.pf.example (Postfix) with ESMTPS", "Subject: to Postfix", "Привет, Postfix."} {
		if !strings.Contains(got, want) {
			t.Errorf("Postfix stored no %q:\n%s", want, got)
		}
	}
	if len(files) != 1 {
		t.Errorf("Postfix stored %d messages", len(files))
	}
	waitFor(t, 10*time.Second, "A's queue to empty", func() bool { return queueLen(t, a) == 0 })
}
