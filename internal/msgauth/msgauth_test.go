package msgauth

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func fakeDNS(t *testing.T, records ...string) *net.Resolver {
	t.Helper()
	zone := map[string][]dns.RR{}
	for _, l := range records {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		n := strings.ToLower(rr.Header().Name)
		zone[n] = append(zone[n], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Skip("no TCP port next to the UDP one:", err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		rrs, ok := zone[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncate(512)
		}
		w.WriteMsg(m)
	})
	us, ts := &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return NewResolver(pc.LocalAddr().String())
}

// zoneLine quotes a TXT value in 255-byte strings.
func zoneLine(name, txt string) string {
	var parts []string
	for len(txt) > 255 {
		parts = append(parts, `"`+txt[:255]+`"`)
		txt = txt[255:]
	}
	parts = append(parts, `"`+txt+`"`)
	return name + ". 300 IN TXT " + strings.Join(parts, " ")
}

const testMsg = "From: Ann <ann@signed.example>\r\nTo: bob@b.example\r\nSubject: hi\r\n\r\nHello.\r\n"

func TestSignVerifyAndDMARC(t *testing.T) {
	kd := newTestKeys(t)
	keys, err := kd.Generate(t.Context(), "Signed.Example", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Selector != "e202611" || keys[1].Selector != "r202611" || keys[0].Algorithm() != "ed25519" || keys[1].Algorithm() != "rsa" {
		t.Fatalf("keys = %+v", keys)
	}
	again, err := kd.Generate(t.Context(), "signed.example", time.Now())
	if err != nil || len(again) != 2 {
		t.Fatalf("second Generate made new keys: %v %d", err, len(again))
	}
	records := []string{
		`signed.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.signed.example. 300 IN TXT "v=DMARC1; p=reject"`,
	}
	for _, k := range keys {
		rec, err := k.Record()
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, zoneLine(k.RecordName(), rec))
	}
	c := &Checker{DNS: fakeDNS(t, records...), Hostname: "mx.b.example"}
	sig, err := kd.Sign(context.Background(), "signed.example", strings.NewReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	in := Input{IP: netip.MustParseAddr("192.0.2.1"), Helo: "peer.example", MailFrom: "ann@signed.example"}

	in.Message = strings.NewReader(string(sig) + testMsg)
	res := c.Check(context.Background(), in)
	if res.DKIM != "pass" || res.SPF != "fail" || res.DMARC != "pass" || res.Action != Accept {
		t.Errorf("signed: %+v\n%s", res, res.Header)
	}
	if h := string(res.Header); !strings.HasPrefix(h, "Authentication-Results: mx.b.example;") || !strings.HasSuffix(h, "\r\n") || !strings.Contains(h, "header.d=signed.example") {
		t.Errorf("header = %q", h)
	}

	// A changed body breaks the signatures: SPF fails too, p=reject.
	in.Message = strings.NewReader(string(sig) + strings.Replace(testMsg, "Hello", "Hullo", 1))
	res = c.Check(context.Background(), in)
	if res.DKIM != "fail" || res.DMARC != "fail" || res.Action != Reject || !strings.Contains(res.Reason, "signed.example") {
		t.Errorf("tampered: %+v", res)
	}
}

func TestStripForged(t *testing.T) {
	head := "Received: x\r\nAuthentication-Results: MX.B.example;\r\n dkim=pass\r\nAuthentication-Results: other.example; spf=pass\r\nSubject: s\r\n\r\nbody\r\n"
	got := string(StripForged([]byte(head), "mx.b.example"))
	want := "Received: x\r\nAuthentication-Results: other.example; spf=pass\r\nSubject: s\r\n\r\nbody\r\n"
	if got != want {
		t.Errorf("StripForged = %q, want %q", got, want)
	}
}

func TestHeaderEnd(t *testing.T) {
	for in, want := range map[string]int{
		"A: b\r\n\r\nbody": 8, "A: b\n\nbody": 6, "\r\nbody": 2, "A: b\r\n": 6, "A: b\n\nx\r\n\r\n": 6,
	} {
		if got := HeaderEnd([]byte(in)); got != want {
			t.Errorf("HeaderEnd(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{"a.b.example": "b.example", "B.Example.": "b.example", "example": "example"} {
		if got := orgDomain(in); got != want {
			t.Errorf("orgDomain(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := headerFromDomain([]byte("From: a@x.example\r\nFrom: b@y.example\r\n\r\n")); err == nil {
		t.Error("two From fields accepted")
	}
	if d, err := headerFromDomain(bytes.NewBufferString("from: \"A, B\" <a@X.example>\r\n\r\n").Bytes()); err != nil || d != "x.example" {
		t.Errorf("headerFromDomain = %q, %v", d, err)
	}
}

func TestOrgDomainPublicSuffixList(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.co.uk": "example.co.uk", "example.co.uk": "example.co.uk", "co.uk": "co.uk",
		"a.b.example.com.br": "example.com.br", "x.y.example.com": "example.com",
	} {
		if got := orgDomain(in); got != want {
			t.Errorf("orgDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDMARCRelaxedAlignmentUnderPublicSuffix: a signature of a
// subdomain aligns; one of another domain under the same public suffix
// (co.uk) does not, though the last two labels are equal.
func TestDMARCRelaxedAlignmentUnderPublicSuffix(t *testing.T) {
	kd := newTestKeys(t)
	records := []string{`_dmarc.example.co.uk. 300 IN TXT "v=DMARC1; p=reject; adkim=r"`}
	for _, d := range []string{"mail.example.co.uk", "evil.co.uk"} {
		keys, err := kd.Generate(t.Context(), d, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			rec, _ := k.Record()
			records = append(records, zoneLine(k.RecordName(), rec))
		}
	}
	c := &Checker{DNS: fakeDNS(t, records...), Hostname: "mx.b.example"}
	msg := "From: ann@example.co.uk\r\nTo: b@b.example\r\nSubject: s\r\n\r\nHello.\r\n"
	for signer, want := range map[string]string{"mail.example.co.uk": "pass", "evil.co.uk": "fail"} {
		sig, err := kd.Sign(context.Background(), signer, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		res := c.Check(context.Background(), Input{IP: netip.MustParseAddr("192.0.2.1"), Helo: "peer.example",
			MailFrom: "bounce@" + signer, Message: strings.NewReader(string(sig) + msg)})
		if res.DKIM != "pass" || string(res.DMARC) != want {
			t.Errorf("signed by %s: dkim=%s dmarc=%s, want dmarc=%s", signer, res.DKIM, res.DMARC, want)
		}
	}
}

// TestKeysOfIDNDomain checks that an internationalised domain's keys are
// kept, found and used (d=, record name) in the A-label form, whichever
// form the domain is given in.
func TestKeysOfIDNDomain(t *testing.T) {
	kd := newTestKeys(t)
	made, err := kd.Generate(t.Context(), "Пример.РФ", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(made) != 2 {
		t.Fatalf("Generate: %d keys, %v", len(made), err)
	}
	for _, name := range []string{"пример.рф", "xn--e1afmkfd.xn--p1ai"} {
		keys, err := kd.Keys(t.Context(), name)
		if err != nil || len(keys) != 2 {
			t.Fatalf("Keys(%s): %d keys, %v", name, len(keys), err)
		}
		for _, k := range keys {
			if k.Domain != "xn--e1afmkfd.xn--p1ai" || !strings.HasSuffix(k.RecordName(), "._domainkey.xn--e1afmkfd.xn--p1ai") {
				t.Errorf("Keys(%s): domain %q, record %q; want A-labels", name, k.Domain, k.RecordName())
			}
		}
	}
	sig, err := kd.Sign(context.Background(), "пример.рф", strings.NewReader("From: a@пример.рф\r\nSubject: x\r\n\r\nbody\r\n"))
	if err != nil || !bytes.Contains(sig, []byte("d=xn--e1afmkfd.xn--p1ai;")) {
		t.Errorf("Sign: %q, %v; want d=xn--e1afmkfd.xn--p1ai", sig, err)
	}
	if d, err := FromDomain([]byte("From: Анна <anna@Пример.РФ>\r\n\r\n")); err != nil || d != "xn--e1afmkfd.xn--p1ai" {
		t.Errorf("FromDomain = %q, %v; want xn--e1afmkfd.xn--p1ai", d, err)
	}
}
