// Package dnsrecords lists the DNS records a mail domain served by pochta
// should publish: MX, SPF, DKIM, DMARC, the RFC 6186 service records,
// autoconfig names and MTA-STS. The command line (`pochta domain dns`) and
// the admin web page show the same list.
package dnsrecords

import (
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/msgauth"
)

// Record is one DNS record to publish.
type Record struct {
	// Name is the owner name without the final dot.
	Name string `json:"name"`
	// Type is the record type: MX, TXT, SRV or CNAME.
	Type string `json:"type"`
	// Value is the record data in zone-file syntax.
	Value string `json:"value"`
	// Zone is the whole record as a zone-file line.
	Zone string `json:"zone"`
	// Note says what the record is for; empty for the rest of a group.
	Note string `json:"note,omitempty"`
}

// Params describe the domain and the server.
type Params struct {
	// Domain is the mail domain (A-labels).
	Domain string
	// Host is the server's host name, the target of MX and SRV records.
	Host string
	// Keys are the domain's active DKIM keys.
	Keys []msgauth.Key
	// Ports maps the services of RFC 6186 and RFC 8314 ("submission",
	// "submissions", "imap", "imaps", "pop3", "pop3s") to the port the
	// server listens on; a service that is missing gets no SRV record.
	Ports map[string]string
	// MTASTSMode is the server's own MTA-STS policy mode; empty when it
	// publishes none.
	MTASTSMode string
}

// srvServices are the services with SRV records, in the order shown.
var srvServices = []string{"submission", "submissions", "imap", "imaps", "pop3", "pop3s"}

// For returns the records of a domain, in the order to show them.
func For(p Params) ([]Record, error) {
	var recs []Record
	add := func(name, typ, value, note string) error {
		r, err := record(name, typ, value, note)
		if err != nil {
			return err
		}
		recs = append(recs, r)
		return nil
	}
	host := p.Host + "."
	d := p.Domain
	if err := add(d, "MX", "10 "+host, "mail for the domain goes to this server"); err != nil {
		return nil, err
	}
	if err := add(d, "TXT", txtValue("v=spf1 mx -all"), "SPF: only the MX hosts send mail for the domain"); err != nil {
		return nil, err
	}
	dkim, err := DKIM(p.Keys)
	if err != nil {
		return nil, err
	}
	recs = append(recs, dkim...)
	if err := add("_dmarc."+d, "TXT", txtValue("v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@"+d), "DMARC policy"); err != nil {
		return nil, err
	}
	note := "RFC 6186: mail programs find the servers"
	for _, svc := range srvServices {
		port, ok := p.Ports[svc]
		if !ok {
			continue
		}
		if err := add("_"+svc+"._tcp."+d, "SRV", "0 1 "+port+" "+host, note); err != nil {
			return nil, err
		}
		note = ""
	}
	if err := add("autoconfig."+d, "CNAME", host, "Thunderbird autoconfig"); err != nil {
		return nil, err
	}
	if err := add("autodiscover."+d, "CNAME", host, "Outlook autodiscover"); err != nil {
		return nil, err
	}
	if mode := p.MTASTSMode; mode != "" {
		pol := msgauth.OwnSTSPolicy(mode, p.Host)
		if err := add("_mta-sts."+d, "TXT", txtValue(msgauth.STSRecord(pol.ID())), "MTA-STS ("+mode+"): the id changes with the policy"); err != nil {
			return nil, err
		}
		if err := add("mta-sts."+d, "CNAME", host, "MTA-STS: the web listener serves the policy; the certificate must name mta-sts."+d); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// DKIM returns the TXT records that publish DKIM keys.
func DKIM(keys []msgauth.Key) ([]Record, error) {
	recs := make([]Record, 0, len(keys))
	for _, k := range keys {
		rec, err := k.Record()
		if err != nil {
			return nil, err
		}
		r, err := record(k.RecordName(), "TXT", txtValue(rec), "DKIM key ("+k.Algorithm()+")")
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// record makes a Record, checking that it is valid zone-file syntax.
func record(name, typ, value, note string) (Record, error) {
	rr, err := dns.NewRR(fmt.Sprintf("%s. 3600 IN %s %s", name, typ, value))
	if err != nil {
		return Record{}, fmt.Errorf("record %s %s: %w", name, typ, err)
	}
	return Record{Name: name, Type: typ, Value: value, Zone: rr.String(), Note: note}, nil
}

// txtValue quotes a TXT value, split into strings of at most 255 bytes.
func txtValue(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

// Ports returns the port of each configured listener that offers a
// service of Params.Ports. The first listener of a service wins.
func Ports(ls []config.Listener) map[string]string {
	ports := map[string]string{}
	for _, l := range ls {
		if _, seen := ports[l.Name]; seen {
			continue
		}
		if _, port, err := net.SplitHostPort(l.Addr); err == nil {
			ports[l.Name] = port
		}
	}
	return ports
}
