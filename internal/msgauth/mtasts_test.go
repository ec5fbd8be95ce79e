package msgauth

import (
	"strings"
	"testing"
	"time"
)

func TestParseSTSPolicy(t *testing.T) {
	p, err := ParseSTSPolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\nmx: *.example.net\r\nmax_age: 604800\r\nfuture: ignored\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != STSModeEnforce || p.MaxAge != 7*24*time.Hour || len(p.MX) != 2 {
		t.Fatalf("policy = %+v", p)
	}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "mx1.example.net": true,
		"example.net": false, "a.b.example.net": false, "other.example.com": false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
	back, err := ParseSTSPolicy([]byte(p.String()))
	if err != nil || back.String() != p.String() {
		t.Errorf("round trip: %v\n%s", err, p.String())
	}
	if p.ID() == "" || len(p.ID()) > 32 {
		t.Errorf("id %q", p.ID())
	}

	for _, bad := range []string{
		"",
		"mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nno colon\n",
		"<html>not a policy</html>",
	} {
		if _, err := ParseSTSPolicy([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// mode none needs no mx; a huge max_age is capped.
	p, err = ParseSTSPolicy([]byte("version: STSv1\nmode: none\nmax_age: 9999999999\n"))
	if err != nil || p.MaxAge != STSMaxAge {
		t.Errorf("none policy: %+v, %v", p, err)
	}
}

func TestParseSTSRecord(t *testing.T) {
	for txt, want := range map[string]string{
		"v=STSv1; id=20160831085700Z;": "20160831085700Z",
		"v=STSv1;id=abc":               "abc",
		"v=STSv1; ext=1; id=X1 ":       "X1",
	} {
		if got, err := ParseSTSRecord(txt); err != nil || got != want {
			t.Errorf("ParseSTSRecord(%q) = %q, %v", txt, got, err)
		}
	}
	for _, bad := range []string{"", "v=STSv2; id=1", "v=STSv1", "v=STSv1; id=", "v=STSv1; id=a-b",
		"v=STSv1; id=" + strings.Repeat("a", 33), "v=STSv1; id=1; id=2", "id=1; v=STSv1"} {
		if _, err := ParseSTSRecord(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseSTSPolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseSTSPolicy(data)
		if err != nil {
			return
		}
		// What parses must print as a policy that parses the same.
		back, err := ParseSTSPolicy([]byte(p.String()))
		if err != nil || back.String() != p.String() {
			t.Fatalf("round trip of %q: %v", data, err)
		}
		p.Matches("mx.example.com")
	})
}

func FuzzParseSTSRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;x=y")
	f.Fuzz(func(t *testing.T, txt string) {
		id, err := ParseSTSRecord(txt)
		if err != nil {
			return
		}
		if got, err := ParseSTSRecord(STSRecord(id)); err != nil || got != id {
			t.Fatalf("round trip of %q: %q, %v", txt, got, err)
		}
	})
}
