// Package msgauth authenticates mail both ways: DKIM keys and signing of
// outgoing mail from local domains, and SPF, DKIM and DMARC evaluation of
// incoming mail with the Authentication-Results header field.
//
// DKIM private keys live in the store (StoreKeys), sealed with the server
// key, so that every node sharing the store signs with the same keys.
// Earlier versions kept them in files, data_dir/dkim/<domain>/<selector>.key
// (PKCS#8 PEM); KeyDir reads those for the import into the store.
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
	// Created is when the key was made.
	Created time.Time
	// Active keys sign; retired ones only stay published.
	Active bool
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

// KeyDir reads the DKIM key files of earlier versions under a folder
// (data_dir/dkim): one sub-folder per domain, one PKCS#8 PEM file per
// selector. StoreKeys.Import moves them into the store.
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

// Domains lists the domains that have a folder; a missing Dir has none.
func (kd KeyDir) Domains() ([]string, error) {
	entries, err := os.ReadDir(kd.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dkim key folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Keys returns the keys of domain, sorted by selector, all active, with
// the files' modification times as Created; none is not an error.
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
		k, err := ParseKeyPEM(d, sel, data)
		if err != nil {
			return nil, err
		}
		if info, err := e.Info(); err == nil {
			k.Created = info.ModTime().UTC().Truncate(time.Second)
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Selector < keys[j].Selector })
	return keys, nil
}

// ParseKeyPEM reads one private key in PKCS#8 PEM as an active key of
// domain with selector.
func ParseKeyPEM(domain, selector string, data []byte) (Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("dkim key %s for %s: no PEM block", selector, domain)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("dkim key %s for %s: %w", selector, domain, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("dkim key %s for %s: unsupported key type %T", selector, domain, k)
	}
	if pk, ok := s.(*ed25519.PrivateKey); ok {
		s = *pk
	}
	switch s.(type) {
	case ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return Key{}, fmt.Errorf("dkim key %s for %s: unsupported key type %T", selector, domain, s)
	}
	return Key{Domain: domain, Selector: selector, Signer: s, Active: true}, nil
}

// MarshalPEM is the private key in PKCS#8 PEM.
func (k Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s for %s: %w", k.Selector, k.Domain, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewKeys makes a new ed25519 key and a new RSA-2048 key for domain, with
// selectors named after the month of now ("e202611", "r202611").
func NewKeys(domain string, now time.Time) ([]Key, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	month := now.UTC().Format("200601")
	created := now.UTC().Truncate(time.Second)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("dkim keys for %s: %w", d, err)
	}
	return []Key{
		{Domain: d, Selector: "e" + month, Signer: edKey, Created: created, Active: true},
		{Domain: d, Selector: "r" + month, Signer: rsaKey, Created: created, Active: true},
	}, nil
}

// signedHeaders are the fields a signature covers (From twice would
// prevent adding one; that is done for From only).
var signedHeaders = []string{"From", "From", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "Reply-To", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post"}

// Signer signs outgoing mail with the DKIM keys of local domains.
// StoreKeys is the server's.
type Signer interface {
	// Keys returns the active keys of domain, sorted by selector; none
	// is not an error.
	Keys(ctx context.Context, domain string) ([]Key, error)
	// Sign reads a whole message and returns the DKIM-Signature fields
	// (each CRLF-terminated, concatenated) of every active key of
	// domain, to be put in front of the message. It returns nil when the
	// domain has no keys.
	Sign(ctx context.Context, domain string, msg io.Reader) ([]byte, error)
}

// SignWith reads a whole message and returns the DKIM-Signature fields
// (each CRLF-terminated, concatenated) of keys, to be put in front of the
// message; nil for no keys.
func SignWith(ctx context.Context, keys []Key, msg io.Reader) ([]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	domain := keys[0].Domain
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
	_, err := io.Copy(io.MultiWriter(writers...), ctxReader{ctx, msg})
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
