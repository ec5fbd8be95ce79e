package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
)

func mustLoad(t *testing.T, o Options) *Manager {
	t.Helper()
	m, err := Load(o)
	if err != nil {
		t.Fatalf("Load(%+v): %v", o, err)
	}
	return m
}

func TestSelfSignedCreatedAndReused(t *testing.T) {
	dir := t.TempDir()
	m1 := mustLoad(t, Options{Hostname: "mail.example.test", DataDir: dir})
	if !m1.SelfSigned() {
		t.Fatal("SelfSigned() = false")
	}
	certFile, keyFile := SelfSignedPaths(dir)
	if m1.CertFile() != certFile || m1.KeyFile() != keyFile {
		t.Errorf("paths %s %s, want %s %s", m1.CertFile(), m1.KeyFile(), certFile, keyFile)
	}
	if certFile != filepath.Join(dir, "tls", "selfsigned.crt") || keyFile != filepath.Join(dir, "tls", "selfsigned.key") {
		t.Errorf("unexpected paths %s %s", certFile, keyFile)
	}
	for path, want := range map[string]os.FileMode{keyFile: 0o600, filepath.Join(dir, "tls"): 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	onDisk, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, m1.CertPEM()) {
		t.Error("CertPEM differs from the certificate file")
	}

	leaf := m1.Leaf()
	if leaf.Subject.CommonName != "mail.example.test" ||
		!slices.Equal(leaf.DNSNames, []string{"mail.example.test", "localhost"}) ||
		len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("names: CN=%s DNS=%v IP=%v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.IsCA || leaf.NotAfter.Before(time.Now().Add(365*24*time.Hour)) {
		t.Errorf("IsCA=%v NotAfter=%v", leaf.IsCA, leaf.NotAfter)
	}
	sum := sha256.Sum256(leaf.Raw)
	if got := strings.ReplaceAll(m1.Fingerprint(), ":", ""); got != strings.ToUpper(hex.EncodeToString(sum[:])) || len(m1.Fingerprint()) != 95 {
		t.Errorf("Fingerprint = %s", m1.Fingerprint())
	}

	// Second start: same certificate.
	os.Chmod(keyFile, 0o644)
	m2 := mustLoad(t, Options{Hostname: "mail.example.test", DataDir: dir})
	if m2.Fingerprint() != m1.Fingerprint() {
		t.Errorf("certificate not reused: %s != %s", m2.Fingerprint(), m1.Fingerprint())
	}
	if fi, _ := os.Stat(keyFile); fi.Mode() != 0o600 {
		t.Errorf("key mode not restored: %v", fi.Mode())
	}
}

func TestSelfSignedRegenerated(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := SelfSignedPaths(dir)
	m1 := mustLoad(t, Options{Hostname: "a.example.test", DataDir: dir})

	// Hostname change.
	m2 := mustLoad(t, Options{Hostname: "b.example.test", DataDir: dir})
	if m2.Fingerprint() == m1.Fingerprint() || m2.Leaf().Subject.CommonName != "b.example.test" {
		t.Errorf("not regenerated after hostname change")
	}
	// ... also to a name the old certificate covered.
	m3 := mustLoad(t, Options{Hostname: "localhost", DataDir: dir})
	if m3.Fingerprint() == m2.Fingerprint() || !slices.Equal(m3.Leaf().DNSNames, []string{"localhost"}) {
		t.Errorf("not regenerated for localhost: %v", m3.Leaf().DNSNames)
	}

	// Expired.
	now := time.Now()
	certPEM, keyPEM, err := newSelfSigned("localhost", now.Add(-48*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, certPEM, 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)
	m4 := mustLoad(t, Options{Hostname: "localhost", DataDir: dir})
	if m4.Leaf().NotAfter.Before(now) {
		t.Errorf("expired certificate reused")
	}

	// Corrupt or mismatched files.
	os.WriteFile(certFile, []byte("garbage"), 0o644)
	m5 := mustLoad(t, Options{Hostname: "localhost", DataDir: dir})
	if m5.Fingerprint() == m4.Fingerprint() || m5.Fingerprint() == "" {
		t.Error("corrupt certificate not replaced")
	}
	os.WriteFile(keyFile, keyPEM, 0o600) // key of the expired certificate
	m6 := mustLoad(t, Options{Hostname: "localhost", DataDir: dir})
	if m6.Fingerprint() == m5.Fingerprint() {
		t.Error("mismatched pair not replaced")
	}
}

// writePair writes a fresh certificate for host to dir/name.crt and .key.
func writePair(t *testing.T, dir, name, host string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := newSelfSigned(host, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "a", "mail.example.test")
	m := mustLoad(t, Options{CertFile: certFile, KeyFile: keyFile, DataDir: filepath.Join(dir, "data")})
	if m.SelfSigned() || m.CertFile() != certFile || m.KeyFile() != keyFile {
		t.Errorf("SelfSigned=%v CertFile=%s KeyFile=%s", m.SelfSigned(), m.CertFile(), m.KeyFile())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Error("data dir touched although certificate files are configured")
	}
	want, _ := os.ReadFile(certFile)
	if !bytes.Equal(m.CertPEM(), want) {
		t.Error("CertPEM differs from the file")
	}
	block, _ := pem.Decode(want)
	leaf, _ := x509.ParseCertificate(block.Bytes)
	if m.Fingerprint() != Fingerprint(leaf) {
		t.Error("fingerprint mismatch")
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a", "a.example.test")
	_, keyB := writePair(t, dir, "b", "b.example.test")

	_, err := Load(Options{CertFile: certA, KeyFile: keyB})
	if err == nil || !strings.Contains(err.Error(), certA) || !strings.Contains(err.Error(), keyB) ||
		!strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched pair: %v", err)
	}

	missing := filepath.Join(dir, "missing.key")
	_, err = Load(Options{CertFile: certA, KeyFile: missing})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "load tls key "+missing) {
		t.Errorf("missing key: %v", err)
	}
	_, err = Load(Options{CertFile: keyA, KeyFile: keyA})
	if err == nil {
		t.Error("key as certificate accepted")
	}
	if _, err = Load(Options{CertFile: certA}); err == nil {
		t.Error("cert without key accepted")
	}
	if _, err = Load(Options{}); err == nil {
		t.Error("no files and no data dir accepted")
	}
}

// handshake runs a TLS handshake over a loopback TCP connection (net.Pipe
// is unbuffered, so the TLS 1.3 server's session tickets would stall the
// handshake) and returns both sides' errors and the client's connection
// state.
func handshake(t *testing.T, server, client *tls.Config) (clientErr, serverErr error, st tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c1, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	deadline := time.Now().Add(10 * time.Second)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)
	srv := tls.Server(c1, server)
	cli := tls.Client(c2, client)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err != nil {
			srv.Close()
		}
		done <- err
	}()
	clientErr = cli.Handshake()
	if clientErr != nil {
		cli.Close()
	}
	serverErr = <-done
	st = cli.ConnectionState()
	cli.Close()
	srv.Close()
	return clientErr, serverErr, st
}

func TestHandshake(t *testing.T) {
	m := mustLoad(t, Options{Hostname: "mail.example.test", DataDir: t.TempDir()})
	if m.TLSConfig() != m.TLSConfig() {
		t.Error("TLSConfig() is not shared")
	}
	if m.TLSConfig().MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %#x", m.TLSConfig().MinVersion)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(m.CertPEM()) {
		t.Fatal("CertPEM not usable")
	}
	for _, name := range []string{"mail.example.test", "localhost"} {
		cerr, serr, st := handshake(t, m.TLSConfig(), &tls.Config{RootCAs: pool, ServerName: name})
		if cerr != nil || serr != nil {
			t.Fatalf("%s: client %v, server %v", name, cerr, serr)
		}
		if st.Version < tls.VersionTLS12 || Fingerprint(st.PeerCertificates[0]) != m.Fingerprint() {
			t.Errorf("%s: version %#x", name, st.Version)
		}
	}
	// Cloned configs (per-listener NextProtos) use the same certificate.
	clone := m.TLSConfig().Clone()
	clone.NextProtos = []string{"h2"}
	if cerr, _, _ := handshake(t, clone, &tls.Config{RootCAs: m.CertPool(), ServerName: "localhost"}); cerr != nil {
		t.Errorf("clone: %v", cerr)
	}

	// Wrong server name.
	cerr, _, _ := handshake(t, m.TLSConfig(), &tls.Config{RootCAs: pool, ServerName: "other.example.test"})
	var hostErr x509.HostnameError
	if !errors.As(cerr, &hostErr) {
		t.Errorf("wrong name: got %v, want x509.HostnameError", cerr)
	}
	// A client that does not trust the certificate.
	cerr, _, _ = handshake(t, m.TLSConfig(), &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "mail.example.test"})
	var authErr x509.UnknownAuthorityError
	if !errors.As(cerr, &authErr) {
		t.Errorf("untrusted: got %v, want x509.UnknownAuthorityError", cerr)
	}
}

func TestOldVersionsRefused(t *testing.T) {
	dir := t.TempDir()
	m := mustLoad(t, Options{Hostname: "localhost", DataDir: dir})
	old := &tls.Config{RootCAs: m.CertPool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	cerr, serr, _ := handshake(t, m.TLSConfig(), old)
	if cerr == nil || serr == nil || !strings.Contains(cerr.Error(), "protocol version") {
		t.Errorf("TLS 1.1 client: client %v, server %v", cerr, serr)
	}

	m13 := mustLoad(t, Options{Hostname: "localhost", DataDir: dir, MinVersion: tls.VersionTLS13})
	tls12 := &tls.Config{RootCAs: m13.CertPool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12}
	if cerr, _, _ := handshake(t, m13.TLSConfig(), tls12); cerr == nil {
		t.Error("TLS 1.2 client accepted with min_version 1.3")
	}
	cerr, _, st := handshake(t, m13.TLSConfig(), &tls.Config{RootCAs: m13.CertPool(), ServerName: "localhost"})
	if cerr != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3 client: %v, version %#x", cerr, st.Version)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "a", "localhost")
	m := mustLoad(t, Options{CertFile: certFile, KeyFile: keyFile})
	before := m.Fingerprint()

	// Replace the files, as a renewal would, and reload.
	newCert, newKey := writePair(t, dir, "b", "localhost")
	os.Rename(newCert, certFile)
	os.Rename(newKey, keyFile)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if m.Fingerprint() == before {
		t.Fatal("Reload kept the old certificate")
	}
	_, _, st := handshake(t, m.TLSConfig(), &tls.Config{RootCAs: m.CertPool(), ServerName: "localhost"})
	if len(st.PeerCertificates) == 0 || Fingerprint(st.PeerCertificates[0]) != m.Fingerprint() {
		t.Error("handshake does not serve the reloaded certificate")
	}

	// A failed reload keeps the current certificate.
	os.WriteFile(keyFile, []byte("broken"), 0o600)
	if err := m.Reload(); err == nil {
		t.Fatal("Reload with a broken key succeeded")
	}
	if cerr, _, _ := handshake(t, m.TLSConfig(), &tls.Config{RootCAs: m.CertPool(), ServerName: "localhost"}); cerr != nil {
		t.Errorf("after failed reload: %v", cerr)
	}
}

type countingSource struct {
	cert  *tls.Certificate
	calls int
}

func (s *countingSource) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.calls++
	return s.cert, nil
}

func TestSource(t *testing.T) {
	base := mustLoad(t, Options{Hostname: "localhost", DataDir: t.TempDir()})
	src := &countingSource{cert: base.Certificate()}
	m := mustLoad(t, Options{Source: src})
	if m.Certificate() != nil || m.Fingerprint() != "" || m.CertPEM() != nil {
		t.Error("accessors should be empty with an external source")
	}
	if cerr, _, _ := handshake(t, m.TLSConfig(), &tls.Config{RootCAs: base.CertPool(), ServerName: "localhost"}); cerr != nil || src.calls != 1 {
		t.Errorf("handshake: %v, calls %d", cerr, src.calls)
	}
}

func TestOptionsFromConfig(t *testing.T) {
	c := config.Default()
	c.Hostname, c.DataDir = "mx.example.test", "/srv/pochta"
	c.TLS = config.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", MinVersion: "1.3"}
	got := OptionsFromConfig(c)
	want := Options{Hostname: "mx.example.test", DataDir: "/srv/pochta", CertFile: "c.pem", KeyFile: "k.pem", MinVersion: tls.VersionTLS13}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
