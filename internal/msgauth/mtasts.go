package msgauth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MTA-STS policy modes (RFC 8461 §3.2).
const (
	STSModeEnforce = "enforce"
	STSModeTesting = "testing"
	STSModeNone    = "none"
)

// STSMaxAge is the longest max_age a policy may have (about a year).
const STSMaxAge = 31557600 * time.Second

// STSPolicy is an MTA-STS policy (RFC 8461 §3.2).
type STSPolicy struct {
	// Mode is STSModeEnforce, STSModeTesting or STSModeNone.
	Mode string
	// MX are the patterns of the allowed MX hosts: a name, or
	// "*.example.com" for any host one label below example.com.
	MX []string
	// MaxAge is how long the policy may be cached.
	MaxAge time.Duration
}

// ParseSTSPolicy parses the text of an MTA-STS policy file. Lines end in
// CRLF or LF; unknown keys are ignored; version, mode and max_age are
// required, and mx too unless the mode is none.
func ParseSTSPolicy(text []byte) (*STSPolicy, error) {
	p := &STSPolicy{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 64<<10)
	first := true
	var haveMode, haveAge bool
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("MTA-STS policy: line %q is not \"key: value\"", truncate(line, 40))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if first {
			if key != "version" || val != "STSv1" {
				return nil, errors.New("MTA-STS policy: does not start with \"version: STSv1\"")
			}
			first = false
			continue
		}
		switch key {
		case "version":
			return nil, errors.New("MTA-STS policy: version given twice")
		case "mode":
			if haveMode {
				return nil, errors.New("MTA-STS policy: mode given twice")
			}
			switch val {
			case STSModeEnforce, STSModeTesting, STSModeNone:
			default:
				return nil, fmt.Errorf("MTA-STS policy: unknown mode %q", truncate(val, 20))
			}
			p.Mode, haveMode = val, true
		case "max_age":
			if haveAge {
				return nil, errors.New("MTA-STS policy: max_age given twice")
			}
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil || len(val) > 10 {
				return nil, fmt.Errorf("MTA-STS policy: bad max_age %q", truncate(val, 20))
			}
			p.MaxAge, haveAge = time.Duration(min(n, uint64(STSMaxAge/time.Second)))*time.Second, true
		case "mx":
			if !validMXPattern(val) {
				return nil, fmt.Errorf("MTA-STS policy: bad mx %q", truncate(val, 60))
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(val, ".")))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("MTA-STS policy: %w", err)
	}
	switch {
	case first:
		return nil, errors.New("MTA-STS policy: empty")
	case !haveMode:
		return nil, errors.New("MTA-STS policy: no mode")
	case !haveAge:
		return nil, errors.New("MTA-STS policy: no max_age")
	case len(p.MX) == 0 && p.Mode != STSModeNone:
		return nil, errors.New("MTA-STS policy: no mx")
	}
	return p, nil
}

// validMXPattern reports whether s is a host name, or "*." and a host
// name.
func validMXPattern(s string) bool {
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Matches reports whether the MX host name matches one of the policy's
// patterns: equal, or for "*.example.com" exactly one more label
// (RFC 8461 §4.1).
func (p *STSPolicy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// String returns the policy as the text of a policy file (CRLF lines).
func (p *STSPolicy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	fmt.Fprintf(&b, "mode: %s\r\n", p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// ID returns an id for the _mta-sts TXT record that changes whenever the
// policy text does.
func (p *STSPolicy) ID() string {
	sum := sha256.Sum256([]byte(p.String()))
	return hex.EncodeToString(sum[:10])
}

// ParseSTSRecord parses the TXT record at _mta-sts.<domain> (RFC 8461
// §3.1) and returns its id.
func ParseSTSRecord(txt string) (id string, err error) {
	fields := strings.Split(txt, ";")
	v := strings.TrimSpace(fields[0])
	if v != "v=STSv1" {
		return "", errors.New("MTA-STS record: does not start with v=STSv1")
	}
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, val, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("MTA-STS record: bad field %q", truncate(f, 40))
		}
		if k == "id" {
			if id != "" {
				return "", errors.New("MTA-STS record: id given twice")
			}
			if len(val) < 1 || len(val) > 32 {
				return "", fmt.Errorf("MTA-STS record: bad id %q", truncate(val, 40))
			}
			for _, c := range []byte(val) {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
					return "", fmt.Errorf("MTA-STS record: bad id %q", truncate(val, 40))
				}
			}
			id = val
		}
	}
	if id == "" {
		return "", errors.New("MTA-STS record: no id")
	}
	return id, nil
}

// STSRecord returns the TXT record text announcing a policy with id.
func STSRecord(id string) string { return "v=STSv1; id=" + id }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// OwnSTSPolicy is the MTA-STS policy this server publishes for its
// domains: mail goes to hostname only, cached for a week.
func OwnSTSPolicy(mode, hostname string) *STSPolicy {
	return &STSPolicy{Mode: mode, MX: []string{strings.ToLower(strings.TrimSuffix(hostname, "."))}, MaxAge: 7 * 24 * time.Hour}
}
