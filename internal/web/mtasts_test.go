package web

import (
	"io"
	"net/http"
	"testing"

	"github.com/pochta-mail/pochta/internal/msgauth"
)

func TestMTASTSPolicyServed(t *testing.T) {
	s := newSite(t, testListeners())
	get := func(host string) (int, string, string) {
		req, _ := http.NewRequest("GET", s.ts.URL+"/.well-known/mta-sts.txt", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	// Not published by default.
	if code, _, _ := get("mta-sts.example.org"); code != 404 {
		t.Errorf("served without mta_sts_policy: %d", code)
	}
	s.cfg.Queue.MTASTSPolicy = "enforce"
	code, ctype, body := get("MTA-STS.example.org:443")
	if code != 200 || ctype != "text/plain; charset=utf-8" {
		t.Fatalf("%d %s", code, ctype)
	}
	p, err := msgauth.ParseSTSPolicy([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != "enforce" || len(p.MX) != 1 || p.MX[0] != "mail.example.org" || !p.Matches("mail.example.org") {
		t.Errorf("policy %+v", p)
	}
	for _, host := range []string{"mta-sts.other.example", "example.org", "mta-sts."} {
		if code, _, _ := get(host); code != 404 {
			t.Errorf("%s: %d, want 404", host, code)
		}
	}
}
