// Package msgauth authenticates mail both ways: DKIM keys and signing of
// outgoing mail from local domains, and SPF, DKIM and DMARC evaluation of
// incoming mail with the Authentication-Results header field.
//
// DKIM private keys live in files, data_dir/dkim/<domain>/<selector>.key
// (PKCS#8 PEM, mode 0600), one file per selector; every key of a domain
// signs. They belong in the store eventually (see KeyDir).
package msgauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Key is one DKIM key of a domain.
type Key struct {
	// Domain is the signing domain (d=).
	Domain string
	// Selector is the selector (s=), the key file's name.
	Selector string
	// Signer is an ed25519.PrivateKey or *rsa.PrivateKey.
	Signer crypto.Signer
}

// Algorithm is "ed25519" or "rsa", as in the k= tag.
func (k Key) Algorithm() string {
	if _, ok := k.Signer.(ed25519.PrivateKey); ok {
		return "ed25519"
	}
	return "rsa"
}

// RecordName is the DNS name of the key's TXT record.
func (k Key) RecordName() string {
	return k.Selector + "._domainkey." + k.Domain
}

// Record is the TXT record text publishing the public key.
func (k Key) Record() (string, error) {
	var p []byte
	switch pk := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		p = pk
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pk)
		if err != nil {
			return "", fmt.Errorf("dkim record for %s: %w", k.RecordName(), err)
		}
		p = der
	default:
		return "", fmt.Errorf("dkim record for %s: unsupported key type %T", k.RecordName(), pk)
	}
	return "v=DKIM1; k=" + k.Algorithm() + "; p=" + base64.StdEncoding.EncodeToString(p), nil
}

// KeyDir manages the DKIM key files under a folder (data_dir/dkim).
//
// The keys should move into the store (a table of domain, selector,
// algorithm, PEM, created, active) so that every node of a cluster signs
// with the same keys; KeyDir's methods are the interface that needs.
type KeyDir struct {
	// Dir is the folder holding one sub-folder per domain.
	Dir string
}

// cleanDomain gives the folder name of a domain's keys: the domain in
// A-labels (an internationalised domain given in Unicode finds the keys
// made for its A-label form, which is also DKIM's d=).
func cleanDomain(domain string) (string, error) {
	d := asciiDomain(domain)
	if d == "" || strings.ContainsAny(d, "/\\") || d == "." || d == ".." {
		return "", fmt.Errorf("bad domain %q", domain)
	}
	return d, nil
}

// Generate makes a new ed25519 key and a new RSA-2048 key for domain,
// with selectors named after the current month ("e202611", "r202611"),
// unless the domain has keys already. It returns the domain's keys.
func (kd KeyDir) Generate(domain string, now time.Time) ([]Key, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	if keys, err := kd.Keys(d); err != nil {
		return nil, err
	} else if len(keys) > 0 {
		return keys, nil
	}
	dir := filepath.Join(kd.Dir, d)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	month := now.UTC().Format("200601")
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	for sel, k := range map[string]any{"e" + month: edKey, "r" + month: rsaKey} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("dkim key %s for %s: %w", sel, d, err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, sel+".key"), data, 0o600); err != nil {
			return nil, fmt.Errorf("dkim key %s for %s: %w", sel, d, err)
		}
	}
	return kd.Keys(d)
}

// Keys returns the keys of domain, sorted by selector; none is not an
// error.
func (kd KeyDir) Keys(domain string) ([]Key, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	dir := filepath.Join(kd.Dir, d)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	var keys []Key
	for _, e := range entries {
		sel, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("dkim key %s for %s: %w", sel, d, err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("dkim key %s for %s: no PEM block", sel, d)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("dkim key %s for %s: %w", sel, d, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("dkim key %s for %s: unsupported key type %T", sel, d, k)
		}
		if pk, ok := s.(*ed25519.PrivateKey); ok {
			s = *pk
		}
		keys = append(keys, Key{Domain: d, Selector: sel, Signer: s})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Selector < keys[j].Selector })
	return keys, nil
}

// signedHeaders are the fields a signature covers (From twice would
// prevent adding one; that is done for From only).
var signedHeaders = []string{"From", "From", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "Reply-To", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post"}

// Sign reads a whole message and returns the DKIM-Signature fields (each
// CRLF-terminated, concatenated) of every key of domain, to be put in front
// of the message. It returns nil when the domain has no keys.
func (kd KeyDir) Sign(ctx context.Context, domain string, msg io.Reader) ([]byte, error) {
	keys, err := kd.Keys(domain)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	signers := make([]*dkim.Signer, 0, len(keys))
	writers := make([]io.Writer, 0, len(keys))
	for _, k := range keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim sign for %s: %w", domain, err)
		}
		signers = append(signers, s)
		writers = append(writers, s)
	}
	_, err = io.Copy(io.MultiWriter(writers...), ctxReader{ctx, msg})
	var out []byte
	for _, s := range signers {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			out = append(out, s.Signature()...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dkim sign for %s: %w", domain, err)
	}
	return out, nil
}

// ctxReader stops reading when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
