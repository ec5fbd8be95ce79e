// Package tlsutil provides the server's TLS certificate and the single
// *tls.Config shared by every listener.
//
// The certificate comes from PEM files named in the configuration or, when
// none are configured, from a self-signed ECDSA P-256 certificate that is
// generated on first start, kept in <data_dir>/tls/ and reused on later
// starts. Handshakes ask the Manager for the certificate (GetCertificate),
// so certificates can be replaced at run time with Reload, and another
// source such as an ACME client can be plugged in through CertSource.
package tlsutil

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
)

// CertSource supplies the certificate for a TLS handshake. It has the
// signature of tls.Config.GetCertificate. The Manager is itself a
// CertSource; an ACME client can implement it and be passed in
// Options.Source.
type CertSource interface {
	GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Options says where the certificate comes from.
type Options struct {
	// Hostname is the server name put into a self-signed certificate
	// (besides "localhost", 127.0.0.1 and ::1). Empty means "localhost".
	// A self-signed certificate that does not cover Hostname is replaced.
	Hostname string

	// DataDir is the data directory; the self-signed certificate lives in
	// DataDir/tls/. Required when no certificate files are given.
	DataDir string

	// CertFile and KeyFile name a PEM certificate chain (leaf first) and
	// its PEM private key. Set both or neither; with neither, a self-signed
	// certificate is used.
	CertFile string
	KeyFile  string

	// MinVersion is the lowest accepted TLS version, tls.VersionTLS12 or
	// tls.VersionTLS13. 0 means tls.VersionTLS12; lower versions are
	// raised to TLS 1.2.
	MinVersion uint16

	// Source, if set, supplies certificates instead of CertFile/KeyFile
	// and the self-signed certificate (the seam for ACME). The Manager's
	// certificate accessors (Certificate, CertPEM, Fingerprint, ...) then
	// return zero values.
	Source CertSource
}

// OptionsFromConfig returns the Options described by a configuration.
func OptionsFromConfig(c *config.Config) Options {
	return Options{
		Hostname:   c.Hostname,
		DataDir:    c.DataDir,
		CertFile:   c.TLS.CertFile,
		KeyFile:    c.TLS.KeyFile,
		MinVersion: c.TLS.MinTLSVersion(),
	}
}

// Manager owns the current certificate and the shared *tls.Config. It is
// safe for concurrent use.
type Manager struct {
	opts Options
	cur  atomic.Pointer[state]
	tls  *tls.Config
}

// state is one loaded certificate; it is replaced as a whole by Reload.
type state struct {
	source     CertSource
	cert       *tls.Certificate // nil with Options.Source
	certPEM    []byte
	certFile   string
	keyFile    string
	selfSigned bool
}

// staticSource serves one certificate for every handshake.
type staticSource struct{ cert *tls.Certificate }

func (s staticSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert, nil
}

// Load loads the certificate described by opts (creating or renewing the
// self-signed certificate if needed) and returns a Manager serving it.
func Load(opts Options) (*Manager, error) {
	switch {
	case opts.MinVersion == 0 || opts.MinVersion < tls.VersionTLS12:
		opts.MinVersion = tls.VersionTLS12
	case opts.MinVersion > tls.VersionTLS13:
		return nil, fmt.Errorf("tls: unsupported minimum version %#x", opts.MinVersion)
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	m := &Manager{opts: opts}
	st, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cur.Store(st)
	m.tls = &tls.Config{
		MinVersion:     opts.MinVersion,
		GetCertificate: m.GetCertificate,
	}
	return m, nil
}

func (m *Manager) load() (*state, error) {
	o := m.opts
	switch {
	case o.Source != nil:
		return &state{source: o.Source}, nil
	case o.CertFile != "" && o.KeyFile != "":
		cert, certPEM, err := loadFiles(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		return &state{source: staticSource{cert}, cert: cert, certPEM: certPEM, certFile: o.CertFile, keyFile: o.KeyFile}, nil
	case o.CertFile != "" || o.KeyFile != "":
		return nil, errors.New("tls: cert_file and key_file must be set together")
	case o.DataDir == "":
		return nil, errors.New("tls: no certificate files and no data directory for a self-signed certificate")
	}
	certFile, keyFile := SelfSignedPaths(o.DataDir)
	cert, certPEM, err := loadOrCreateSelfSigned(o.DataDir, o.Hostname, time.Now())
	if err != nil {
		return nil, err
	}
	return &state{source: staticSource{cert}, cert: cert, certPEM: certPEM, certFile: certFile, keyFile: keyFile, selfSigned: true}, nil
}

// loadFiles reads a PEM certificate chain and key and checks they match.
func loadFiles(certFile, keyFile string) (*tls.Certificate, []byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load tls certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load tls key %s: %w", keyFile, err)
	}
	cert, err := keyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("load tls certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, encodeChain(cert), nil
}

// keyPair parses a PEM certificate chain and key and fills in Leaf.
func keyPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
	}
	return &cert, nil
}

// encodeChain returns the certificate chain of cert as PEM.
func encodeChain(cert *tls.Certificate) []byte {
	var b bytes.Buffer
	for _, der := range cert.Certificate {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes()
}

// TLSConfig returns the *tls.Config shared by every listener; every call
// returns the same pointer. Do not modify it: use Clone to set per-listener
// fields such as NextProtos (the clone keeps using this Manager's
// certificates).
func (m *Manager) TLSConfig() *tls.Config { return m.tls }

// GetCertificate returns the certificate for a handshake. It implements
// CertSource and is installed as the shared config's GetCertificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.cur.Load().source.GetCertificate(hello)
}

// Reload loads the certificate again (re-reading the files, or renewing the
// self-signed certificate if it expired or the hostname changed) and uses
// it for new handshakes. On error the current certificate stays in use.
func (m *Manager) Reload() error {
	st, err := m.load()
	if err != nil {
		return err
	}
	m.cur.Store(st)
	return nil
}

// Certificate returns the current certificate, with Leaf set; nil when
// certificates come from Options.Source.
func (m *Manager) Certificate() *tls.Certificate { return m.cur.Load().cert }

// Leaf returns the parsed leaf of the current certificate, or nil.
func (m *Manager) Leaf() *x509.Certificate {
	if c := m.Certificate(); c != nil {
		return c.Leaf
	}
	return nil
}

// CertPEM returns the current certificate chain as PEM, leaf first. For the
// self-signed certificate it is the one certificate clients need to trust
// (or pin).
func (m *Manager) CertPEM() []byte { return bytes.Clone(m.cur.Load().certPEM) }

// CertFile returns the path of the PEM certificate file in use: the
// configured cert_file or <data_dir>/tls/selfsigned.crt.
func (m *Manager) CertFile() string { return m.cur.Load().certFile }

// KeyFile returns the path of the PEM private key file in use.
func (m *Manager) KeyFile() string { return m.cur.Load().keyFile }

// SelfSigned reports whether the generated self-signed certificate is in
// use.
func (m *Manager) SelfSigned() bool { return m.cur.Load().selfSigned }

// Fingerprint returns the SHA-256 fingerprint of the current leaf
// certificate (see Fingerprint), or "" if there is none.
func (m *Manager) Fingerprint() string {
	if l := m.Leaf(); l != nil {
		return Fingerprint(l)
	}
	return ""
}

// CertPool returns a pool holding only the current leaf certificate, for
// clients that trust exactly this certificate (tests, pinning).
func (m *Manager) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	if l := m.Leaf(); l != nil {
		p.AddCert(l)
	}
	return p
}

// Fingerprint returns the SHA-256 fingerprint of a certificate's DER
// encoding as colon-separated upper-case hex, the format printed by
// "openssl x509 -noout -fingerprint -sha256".
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
