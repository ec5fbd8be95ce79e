package dnsrecords

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/msgauth"
)

func TestRecords(t *testing.T) {
	keys, err := msgauth.NewKeys("example.org", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	ports := Ports([]config.Listener{
		{Name: "smtp", Addr: ":25"}, {Name: "imaps", Addr: "127.0.0.1:10993"},
		{Name: "imaps", Addr: ":993"}, {Name: "submission", Addr: "[::1]:587"},
	})
	recs, err := For(Params{Domain: "example.org", Host: "mail.example.org", Keys: keys, Ports: ports, MTASTSMode: "enforce"})
	if err != nil {
		t.Fatal(err)
	}
	var zone strings.Builder
	types := map[string]int{}
	for _, r := range recs {
		// Every line parses back as the record it describes.
		rr, err := dns.NewRR(r.Zone)
		if err != nil {
			t.Fatalf("%q: %v", r.Zone, err)
		}
		if got := rr.Header().Name; got != r.Name+"." {
			t.Errorf("%q: owner %s, want %s.", r.Zone, got, r.Name)
		}
		types[r.Type]++
		zone.WriteString(r.Zone + "\n")
	}
	z := zone.String()
	for _, want := range []string{
		"example.org.\t3600\tIN\tMX\t10 mail.example.org.",
		"\"v=spf1 mx -all\"",
		"_dmarc.example.org.\t3600\tIN\tTXT\t\"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@example.org\"",
		// The first imaps listener's port; only listening services.
		"_imaps._tcp.example.org.\t3600\tIN\tSRV\t0 1 10993 mail.example.org.",
		"_submission._tcp.example.org.\t3600\tIN\tSRV\t0 1 587 mail.example.org.",
		"_mta-sts.example.org.\t3600\tIN\tTXT\t\"v=STSv1; id=",
		"autoconfig.example.org.\t3600\tIN\tCNAME\tmail.example.org.",
	} {
		if !strings.Contains(z, want) {
			t.Errorf("records lack %q:\n%s", want, z)
		}
	}
	if types["SRV"] != 2 || strings.Contains(z, "_pop3") {
		t.Errorf("SRV records for services without a listener:\n%s", z)
	}
	// The RSA key's record is longer than one TXT string and is split.
	var rsa *Record
	for i := range recs {
		if strings.Contains(recs[i].Value, "k=rsa") {
			rsa = &recs[i]
		}
	}
	if rsa == nil || !strings.Contains(rsa.Value, `" "`) {
		t.Fatalf("RSA key record not split into strings: %+v", rsa)
	}
	rr, _ := dns.NewRR(rsa.Zone)
	txt := strings.Join(rr.(*dns.TXT).Txt, "")
	var want string
	for _, k := range keys {
		if k.Algorithm() == "rsa" {
			want, _ = k.Record()
		}
	}
	if txt != want {
		t.Errorf("RSA TXT joins to %q, want %q", txt, want)
	}
}
