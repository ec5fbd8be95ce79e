package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	// selfSignedValidity is how long a generated certificate is valid.
	// 825 days is the longest Apple platforms accept for TLS server
	// certificates, even ones the user trusts explicitly.
	selfSignedValidity = 825 * 24 * time.Hour
	// selfSignedRenewBefore: a certificate expiring within this period is
	// replaced at the next Load or Reload.
	selfSignedRenewBefore = 7 * 24 * time.Hour
)

// SelfSignedPaths returns where the self-signed certificate and key are
// kept: <dataDir>/tls/selfsigned.crt and <dataDir>/tls/selfsigned.key.
func SelfSignedPaths(dataDir string) (certFile, keyFile string) {
	dir := filepath.Join(dataDir, "tls")
	return filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
}

// loadOrCreateSelfSigned returns the stored self-signed certificate if it
// is readable, matches its key, covers hostname and is not (about to be)
// expired; otherwise it generates and stores a new one.
func loadOrCreateSelfSigned(dataDir, hostname string, now time.Time) (*tls.Certificate, []byte, error) {
	certFile, keyFile := SelfSignedPaths(dataDir)
	dir := filepath.Dir(certFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create tls directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("restrict tls directory %s: %w", dir, err)
	}

	if cert, certPEM, err := loadFiles(certFile, keyFile); err == nil && selfSignedUsable(cert.Leaf, hostname, now) {
		if err := os.Chmod(keyFile, 0o600); err != nil {
			return nil, nil, fmt.Errorf("restrict tls key %s: %w", keyFile, err)
		}
		return cert, certPEM, nil
	}

	certPEM, keyPEM, err := newSelfSigned(hostname, now.Add(-time.Hour), now.Add(selfSignedValidity))
	if err != nil {
		return nil, nil, err
	}
	// Key first: if writing the certificate fails, the pair does not match
	// and the next start generates a fresh one.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write tls key %s: %w", keyFile, err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return nil, nil, fmt.Errorf("write tls certificate %s: %w", certFile, err)
	}
	cert, err := keyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("load generated tls certificate: %w", err)
	}
	return cert, certPEM, nil
}

// selfSignedUsable reports whether a stored self-signed certificate can be
// reused for hostname at time now.
func selfSignedUsable(leaf *x509.Certificate, hostname string, now time.Time) bool {
	return leaf != nil &&
		!now.Before(leaf.NotBefore) &&
		now.Add(selfSignedRenewBefore).Before(leaf.NotAfter) &&
		leaf.Subject.CommonName == hostname &&
		leaf.VerifyHostname(hostname) == nil
}

// newSelfSigned creates a self-signed ECDSA P-256 server certificate for
// hostname, "localhost", 127.0.0.1 and ::1, valid from notBefore to
// notAfter, and returns it and its PKCS #8 key as PEM.
func newSelfSigned(hostname string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate tls key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generate certificate serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   hostname,
			Organization: []string{"pochta self-signed"},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(hostname); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.DNSNames = []string{hostname}
		if hostname != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, "localhost")
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode tls key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes data to a temporary file with the given mode in
// the same directory and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
