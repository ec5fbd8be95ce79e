package web

import (
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// Thunderbird autoconfig (config-v1.1.xml), as Thunderbird reads it.
type tbConfig struct {
	XMLName  xml.Name   `xml:"clientConfig"`
	Version  string     `xml:"version,attr"`
	Provider tbProvider `xml:"emailProvider"`
}

type tbProvider struct {
	ID          string     `xml:"id,attr"`
	Domains     []string   `xml:"domain"`
	DisplayName string     `xml:"displayName"`
	ShortName   string     `xml:"displayShortName"`
	Incoming    []tbServer `xml:"incomingServer"`
	Outgoing    []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           string `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// socketType is Thunderbird's name of a listener's TLS mode.
func socketType(implicit bool) string {
	if implicit {
		return "SSL"
	}
	return "STARTTLS"
}

// domainFor returns the local domain of an address, or an error when it
// is not served here.
func (s *Server) domainFor(ctx context.Context, email string) (string, error) {
	_, domain, ok := strings.Cut(strings.TrimSpace(email), "@")
	if !ok || domain == "" {
		return "", store.ErrNotFound
	}
	d, err := s.o.Store.Domain(ctx, domain)
	if err != nil {
		return "", fmt.Errorf("autoconfig domain %q: %w", domain, err)
	}
	return d.Name, nil
}

// autoconfig serves Thunderbird's config-v1.1.xml: for the domain of
// ?emailaddress= when given, else for every local domain.
func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("emailaddress")
	var domains []string
	username := "%EMAILADDRESS%"
	if email != "" {
		d, err := s.domainFor(r.Context(), email)
		if errors.Is(err, store.ErrNotFound) {
			http.NotFound(w, r)
			return
		} else if err != nil {
			s.internal(w, r, err)
			return
		}
		domains = []string{d}
	} else {
		all, err := s.o.Store.Domains(r.Context())
		if err != nil {
			s.internal(w, r, fmt.Errorf("autoconfig: %w", err))
			return
		}
		for _, d := range all {
			domains = append(domains, d.Name)
		}
		if len(domains) == 0 {
			http.NotFound(w, r)
			return
		}
	}
	c := tbConfig{Version: "1.1", Provider: tbProvider{ID: domains[0], Domains: domains,
		DisplayName: domains[0], ShortName: domains[0]}}
	for _, row := range s.clientListeners() {
		srv := tbServer{Type: row.Kind, Hostname: row.Host, Port: row.Port, SocketType: socketType(row.Implicit),
			Authentication: "password-cleartext", Username: username}
		if row.Kind == "smtp" {
			c.Provider.Outgoing = append(c.Provider.Outgoing, srv)
		} else {
			c.Provider.Incoming = append(c.Provider.Incoming, srv)
		}
	}
	writeXML(w, "application/xml", c)
}

func writeXML(w http.ResponseWriter, ctype string, v any) {
	w.Header().Set("Content-Type", ctype+"; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	enc.Encode(v)
	io.WriteString(w, "\n")
}

// Outlook Autodiscover (POX).
type adRequest struct {
	Request struct {
		EMailAddress string `xml:"EMailAddress"`
	} `xml:"Request"`
}

type adResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adInner  `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

type adInner struct {
	Account adAccount `xml:"Account"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocols   []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           string `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
}

// autodiscover answers Outlook's POX Autodiscover request with the first
// (most secure) listener of each kind.
func (s *Server) autodiscover(w http.ResponseWriter, r *http.Request) {
	var email string
	if r.Method == http.MethodPost {
		var req adRequest
		if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad autodiscover request", http.StatusBadRequest)
			return
		}
		email = req.Request.EMailAddress
	} else {
		email = r.URL.Query().Get("emailaddress")
	}
	if _, err := s.domainFor(r.Context(), email); errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	resp := adResponse{Response: adInner{Account: adAccount{AccountType: "email", Action: "settings"}}}
	seen := map[string]bool{}
	for _, row := range s.clientListeners() {
		if seen[row.Kind] {
			continue
		}
		seen[row.Kind] = true
		p := adProtocol{Type: strings.ToUpper(row.Kind), Server: row.Host, Port: row.Port, DomainRequired: "off",
			LoginName: strings.TrimSpace(email), SPA: "off", SSL: "on", Encryption: "TLS", AuthRequired: "on"}
		if row.Implicit {
			p.Encryption = "SSL"
		}
		resp.Response.Account.Protocols = append(resp.Response.Account.Protocols, p)
	}
	writeXML(w, "application/xml", resp)
}

// mobileconfig serves an Apple configuration profile for the signed-in
// account: IMAP if it may use IMAP, else POP3; the most secure listener.
func (s *Server) mobileconfig(w http.ResponseWriter, r *http.Request, q *req) {
	a := q.account
	var in, out *setupRow
	rows := s.setupFor(a)
	for _, kind := range []string{"imap", "pop3"} {
		for i := range rows {
			if in == nil && rows[i].Kind == kind && !rows[i].Off {
				in = &rows[i]
			}
		}
	}
	for i := range rows {
		if out == nil && rows[i].Kind == "smtp" {
			out = &rows[i]
		}
	}
	if in == nil || out == nil {
		s.fail(w, r, http.StatusNotFound, "setup.none")
		return
	}
	host := s.o.Config.Hostname
	rev := reverseDNS(host)
	uuid := func(salt string) string {
		h := sha256.Sum256([]byte(salt + "\x00" + a.Address + "\x00" + host))
		return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	typ := "EmailTypeIMAP"
	if in.Kind == "pop3" {
		typ = "EmailTypePOP"
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n")
	kv := func(indent, k, tag, v string) {
		fmt.Fprintf(&b, "%s<key>%s</key>\n%s<%s>%s</%s>\n", indent, xmlEscape(k), indent, tag, xmlEscape(v), tag)
	}
	flag := func(indent, k string, v bool) {
		t := "false"
		if v {
			t = "true"
		}
		fmt.Fprintf(&b, "%s<key>%s</key>\n%s<%s/>\n", indent, k, indent, t)
	}
	b.WriteString("<key>PayloadContent</key>\n<array>\n<dict>\n")
	const i2 = " "
	kv(i2, "EmailAccountDescription", "string", a.Address)
	kv(i2, "EmailAccountName", "string", a.Address)
	kv(i2, "EmailAccountType", "string", typ)
	kv(i2, "EmailAddress", "string", a.Address)
	kv(i2, "IncomingMailServerAuthentication", "string", "EmailAuthPassword")
	kv(i2, "IncomingMailServerHostName", "string", in.Host)
	kv(i2, "IncomingMailServerPortNumber", "integer", in.Port)
	flag(i2, "IncomingMailServerUseSSL", true)
	kv(i2, "IncomingMailServerUsername", "string", a.Address)
	kv(i2, "OutgoingMailServerAuthentication", "string", "EmailAuthPassword")
	kv(i2, "OutgoingMailServerHostName", "string", out.Host)
	kv(i2, "OutgoingMailServerPortNumber", "integer", out.Port)
	flag(i2, "OutgoingMailServerUseSSL", true)
	kv(i2, "OutgoingMailServerUsername", "string", a.Address)
	flag(i2, "OutgoingPasswordSameAsIncomingPassword", true)
	kv(i2, "PayloadDescription", "string", a.Address)
	kv(i2, "PayloadDisplayName", "string", a.Address)
	kv(i2, "PayloadIdentifier", "string", rev+".mail.account")
	kv(i2, "PayloadType", "string", "com.apple.mail.managed")
	kv(i2, "PayloadUUID", "string", uuid("account"))
	kv(i2, "PayloadVersion", "integer", "1")
	b.WriteString("</dict>\n</array>\n")
	kv("", "PayloadDisplayName", "string", a.Address)
	kv("", "PayloadIdentifier", "string", rev+".mail")
	kv("", "PayloadOrganization", "string", host)
	flag("", "PayloadRemovalDisallowed", false)
	kv("", "PayloadType", "string", "Configuration")
	kv("", "PayloadUUID", "string", uuid("profile"))
	kv("", "PayloadVersion", "integer", "1")
	b.WriteString("</dict>\n</plist>\n")
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="mail.mobileconfig"`)
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, b.String())
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// reverseDNS turns mail.example.org into org.example.mail.
func reverseDNS(host string) string {
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}
