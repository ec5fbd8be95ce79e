package config

import (
	"strings"
	"testing"
	"time"
)

func TestQueueRoutes(t *testing.T) {
	doc := `hostname = "mail.a.example"
[queue]
retry_initial = "1s"
[queue.routes]
"B.example" = "127.0.0.1:2525"
"*" = { host = "smart.example:587", username = "u", password = "p", require_tls = true }
[dns]
resolver = "127.0.0.1:5353"
`
	c, err := Parse([]byte(doc), "pochta.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.RetryInitial.Duration() != time.Second || c.DNS.Resolver != "127.0.0.1:5353" {
		t.Errorf("queue = %+v, dns = %+v", c.Queue, c.DNS)
	}
	if r, ok := c.Queue.Routes.Lookup("b.example."); !ok || r.Host != "127.0.0.1:2525" || r.RequireTLS {
		t.Errorf("b.example route = %+v %v", r, ok)
	}
	if r, ok := c.Queue.Routes.Lookup("other.example"); !ok || r.Host != "smart.example:587" || r.Username != "u" || r.Password != "p" || !r.RequireTLS {
		t.Errorf("* route = %+v %v", r, ok)
	}
}

func TestQueueErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[queue.routes]\n\"b.example\" = 25\n", `expected a "host:port" string or a table`},
		{"[queue.routes]\n\"b.example\" = { hots = \"x\" }\n", `unknown key "hots"`},
		{"[queue.routes]\n\"b.example\" = { username = \"x\" }\n", "host is required"},
		{"[queue.routes]\n\"b.example\" = \"bad host:99999\"\n", "route \"b.example\""},
		{"[queue]\nretry_initial = \"1h\"\nretry_max = \"1m\"\n", "queue.retry_max: must be at least 1h0m0s"},
		{"[queue]\nconcurrency = 2\nconcurrency_per_domain = 3\n", "queue.concurrency_per_domain"},
		{"[dns]\nresolver = \"127.0.0.1\"\n", "dns.resolver: bad address"},
	} {
		_, err := Parse([]byte("hostname = \"a.example\"\n"+tc.doc), "pochta.toml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}
