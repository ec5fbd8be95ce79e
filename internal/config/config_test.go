package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const examplePath = "../../pochta.example.toml"

func TestDefaultValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.Hostname == "" || c.DataDir != "./pochta-data" || c.Listen.SMTP != ":25" ||
		c.SMTP.MaxMessageSize != 31457280 || c.Quota.DefaultBytes != 10737418240 ||
		c.POP3.InactivityTimeout.Duration() != 10*time.Minute || c.Store.Backend != "sqlite" {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestParseEmptyGivesDefaults(t *testing.T) {
	c, err := Parse(nil, "empty.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	c.src = nil
	if !reflect.DeepEqual(c, d) {
		t.Errorf("Parse(empty) = %+v, want %+v", c, d)
	}
}

func TestExampleLoads(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(example): %v", err)
	}
	if c.Hostname != "mail.example.org" || c.DataDir != "/var/lib/pochta" {
		t.Errorf("hostname/data_dir = %q/%q", c.Hostname, c.DataDir)
	}
	// Apart from the site-specific hostname and data_dir, the example
	// shows the defaults.
	d := Default()
	d.Hostname, d.DataDir = c.Hostname, c.DataDir
	d.Listen.SubmissionExtra, d.SMTP.BlockedExtensions = []string{}, []string{}
	c.src = nil
	if !reflect.DeepEqual(c, d) {
		t.Errorf("example differs from defaults:\n got %+v\nwant %+v", c, d)
	}
}

// Every field of Config must be documented in the example file, and the
// example must not contain anything Config does not have (Load checks the
// latter).
func TestExampleHasEveryField(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		t.Fatal(err)
	}
	keys := rootSchema().leafKeys("")
	if len(keys) < 40 {
		t.Fatalf("schema has only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !md.IsDefined(strings.Split(k, ".")...) {
			t.Errorf("example file does not set %q", k)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"top level", "hostname = \"a.example\"\n\nhostnme = \"x\"\n",
			`pochta.toml:3: unknown key "hostnme" (did you mean "hostname"?)`},
		{"in a table", "# comment\n[listen]\nsmtp = \":25\"\n\n\nsmpt = \":2525\"\n",
			`pochta.toml:6: unknown key "listen.smpt" (did you mean "listen.smtp"?)`},
		{"unknown table", "data_dir = \"x\"\n[nope]\na = 1\n",
			`pochta.toml:2: unknown key "nope"`},
		{"nested table", "[listen]\nsmtp = \":25\"\n[listen.more]\nx = 1\n",
			`pochta.toml:3: unknown key "listen.more"`},
		{"dotted key", "\n\nsmtp.max_size = 3\n",
			`pochta.toml:3: unknown key "smtp.max_size"`},
		{"inline table", "listen = {\n  smtp = \":25\", bogus = \":1\" }\n",
			`pochta.toml:2: unknown key "listen.bogus"`},
		{"quoted key", "[listen]\n\"imap s\" = \"x\"\n",
			`pochta.toml:2: unknown key "listen.\"imap s\"" (did you mean "listen.imaps"?)`},
		{"wrong case", "[TLS]\nmin_version = \"1.2\"\n",
			`pochta.toml:1: unknown key "TLS" (did you mean "tls"?)`},
		{"after multiline string", "[store]\ndsn = \"\"\"\n[x]\nfoo = 1\n\"\"\"\nbackend = \"postgres\"\nbogus = 1\n",
			`pochta.toml:7: unknown key "store.bogus"`},
		{"after multiline array", "[smtp]\nblocked_extensions = [\n  \"exe\", # ]\n  'bat',\n]\nmax = 1\n",
			`pochta.toml:6: unknown key "smtp.max"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "pochta.toml")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got error %v\nwant       %s", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line == 0 || ce.Key == "" {
				t.Errorf("error is not a positioned *Error: %#v", err)
			}
		})
	}
}

func TestSeveralErrorsInFileOrder(t *testing.T) {
	doc := "[listen]\nimap = \"localhost:99999\"\nbogus = 1\n[pop3]\ninactivity_timeout = \"5m\"\n"
	_, err := Parse([]byte(doc), "p.toml")
	if err == nil {
		t.Fatal("no error")
	}
	// Unknown keys are reported before values are checked.
	if got, want := err.Error(), `p.toml:3: unknown key "listen.bogus"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	doc = strings.Replace(doc, "bogus = 1\n", "", 1)
	_, err = Parse([]byte(doc), "p.toml")
	want := "p.toml:2: listen.imap: bad address \"localhost:99999\": port out of range\n" +
		"p.toml:4: pop3.inactivity_timeout: must be at least 10m0s, not 5m0s"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"port out of range", "hostname = \"x.example\"\n[listen]\n\n\n\n\nimap = \"localhost:99999\"\n",
			`pochta.toml:7: listen.imap: bad address "localhost:99999": port out of range`},
		{"missing port", "[listen]\nsmtp = \"25\"\n",
			`pochta.toml:2: listen.smtp: bad address "25": missing port in address (use host:port, e.g. ":25" or "127.0.0.1:8080")`},
		{"named port", "[listen]\nsmtp = \":smtp\"\n",
			`pochta.toml:2: listen.smtp: bad address ":smtp": port "smtp" is not a number`},
		{"bad host", "[listen]\nhttp = \"bad_host:80\"\n",
			`pochta.toml:2: listen.http: bad address "bad_host:80": invalid host "bad_host"`},
		{"extra", "[listen]\nsubmission_extra = [\":2525\", \":70000\"]\n",
			`pochta.toml:2: listen.submission_extra[1]: bad address ":70000": port out of range`},
		{"bad duration", "[auth]\nfailed_login_delay = \"2 secs\"\n",
			`pochta.toml:2: auth.failed_login_delay: bad duration "2 secs" (use Go duration syntax such as "90s", "15m" or "720h")`},
		{"integer duration", "[pop3]\ninactivity_timeout = 600\n",
			`pochta.toml:2: pop3.inactivity_timeout: expected a duration string such as "15m", got an integer (600)`},
		{"negative duration", "[retention]\ntrash = \"-1h\"\n",
			`pochta.toml:2: retention.trash: must not be negative, not -1h0m0s`},
		{"wrong type", "[listen]\nsmtp = 25\n",
			`pochta.toml:2: listen.smtp: expected a string, got an integer (25)`},
		{"table expected", "listen = \":25\"\n",
			`pochta.toml:1: listen: expected a table, got a string (":25")`},
		{"array element", "[smtp]\nblocked_extensions = [\"exe\", 3]\n",
			`pochta.toml:2: smtp.blocked_extensions: element 1: expected a string, got an integer (3)`},
		{"bad size", "[smtp]\nmax_message_size = \"30 MeB\"\n",
			`pochta.toml:2: smtp.max_message_size: bad size "30 MeB": unknown unit "MeB" (use bytes or a unit such as "512KiB", "30MiB", "10GiB")`},
		{"hostname", "hostname = \"-bad-.example\"\n",
			`pochta.toml:1: hostname: "-bad-.example" is not a valid domain name (label "-bad-" starts or ends with '-')`},
		{"backend", "[store]\nbackend = \"mysql\"\n",
			`pochta.toml:2: store.backend: unknown backend "mysql" (use "sqlite" or "postgres")`},
		{"dsn missing: line of table", "\n[store]\nbackend = \"postgres\"\n",
			`pochta.toml:2: store.dsn: required when store.backend = "postgres"`},
		{"min version", "[tls]\nmin_version = \"1.1\"\n",
			`pochta.toml:2: tls.min_version: must be "1.2" or "1.3", not "1.1"`},
		{"cert without key", "[tls]\ncert_file = \"/etc/ssl/a.crt\"\n",
			`pochta.toml:1: tls.key_file: must be set when tls.cert_file is set (set both, or neither for a self-signed certificate)`},
		{"key without cert", "[tls]\nkey_file = \"/etc/ssl/a.key\"\n",
			`pochta.toml:1: tls.cert_file: must be set when tls.key_file is set (set both, or neither for a self-signed certificate)`},
		{"duplicate listener", "[listen]\nimap = \":143\"\nimaps = \":143\"\n",
			`pochta.toml:3: listen.imaps: address ":143" collides with listen.imap (":143")`},
		{"wildcard collides", "[listen]\nhttp = \"127.0.0.1:8080\"\nmetrics = \"0.0.0.0:8080\"\n",
			`pochta.toml:3: listen.metrics: address "0.0.0.0:8080" collides with listen.http ("127.0.0.1:8080")`},
		{"extra collides", "[listen]\nsubmission_extra = [\":587\"]\n",
			`pochta.toml:2: listen.submission_extra[0]: address ":587" collides with listen.submission (":587")`},
		{"plus separator", "[smtp]\nplus_separator = \"@\"\n",
			`pochta.toml:2: smtp.plus_separator: '@' cannot be a separator (use characters such as "+" or "-")`},
		{"per ip", "[limits]\nmax_connections = 10\nmax_connections_per_ip = 11\n",
			`pochta.toml:3: limits.max_connections_per_ip: 11 is more than limits.max_connections (10)`},
		{"syntax", "hostname = \"a.example\"\n[listen\nsmtp = \":25\"\n",
			`pochta.toml:2: syntax error: expected '.' or ']' to end table name, but got '\n' instead`},
		{"syntax at EOF", "x = 1\n[smtp]\nmax_recipients = [1,\n",
			`pochta.toml:3: syntax error: unexpected EOF; expected value`},
		{"syntax two values", "x = 1 2\n",
			`pochta.toml:1: syntax error: expected a top-level item to end with a newline, comment, or EOF, but got '2' instead`},
		{"syntax unterminated string", "\n\nhostname = \"a.example\n",
			`pochta.toml:3: syntax error: strings cannot contain newlines`},
		{"duplicate key", "[smtp]\nmax_recipients = 1\nmax_recipients = 2\n",
			`pochta.toml:3: syntax error: Key 'smtp.max_recipients' has already been defined.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), "pochta.toml")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got error %v\nwant       %s", err, tt.want)
			}
		})
	}
}

func TestGoodValues(t *testing.T) {
	doc := `
hostname = "MX1.Example.ORG"
[listen]
smtp = "127.0.0.1:0"
submission = "127.0.0.1:0"   # port 0 never collides
submission_extra = [":2525", "[::1]:2526"]
imap = "[::1]:143"
imaps = "0.0.0.0:143"        # IPv4 wildcard and an IPv6 address do not collide
http = "localhost:8080"
[smtp]
max_message_size = "50MiB"
plus_separator = "+-"
blocked_extensions = [".EXE", "ex_"]
[quota]
default_bytes = "1.5GiB"
[store]
backend = "postgres"
dsn = "postgres://localhost/pochta"
[pop3]
enabled = false
pop3 = ":110"
`
	// pop3 inside [pop3] is unknown: make sure, then drop it.
	if _, err := Parse([]byte(doc), "x"); err == nil || !strings.Contains(err.Error(), `unknown key "pop3.pop3"`) {
		t.Fatalf("got %v", err)
	}
	doc = strings.Replace(doc, "pop3 = \":110\"\n", "", 1)
	c, err := Parse([]byte(doc), "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.MaxMessageSize != 50*MiB || c.Quota.DefaultBytes != 3*GiB/2 {
		t.Errorf("sizes: %v %v", c.SMTP.MaxMessageSize, c.Quota.DefaultBytes)
	}
	if !c.SMTP.IsBlockedFilename("SETUP.exe") || !c.SMTP.IsBlockedFilename("a.EX_") || c.SMTP.IsBlockedFilename("exe") {
		t.Error("IsBlockedFilename")
	}
	var names []string
	for _, l := range c.Listeners() {
		names = append(names, l.ConfigKey+"="+l.Addr)
	}
	want := []string{
		"listen.smtp=127.0.0.1:0", "listen.submission=127.0.0.1:0",
		"listen.submission_extra[0]=:2525", "listen.submission_extra[1]=[::1]:2526",
		"listen.submissions=:465", "listen.imap=[::1]:143", "listen.imaps=0.0.0.0:143",
		"listen.http=localhost:8080",
	}
	if !slices.Equal(names, want) {
		t.Errorf("Listeners() =\n%v\nwant\n%v", names, want)
	}
}

func TestListeners(t *testing.T) {
	c := Default()
	c.Listen.SubmissionExtra = []string{":2525", ":2526"}
	c.Listen.Metrics = "127.0.0.1:9100"
	var got []string
	for _, l := range c.Listeners() {
		s := l.Name
		if l.ImplicitTLS {
			s += "(tls)"
		}
		got = append(got, s)
	}
	want := []string{"smtp", "submission", "submission_extra", "submission_extra", "submissions(tls)",
		"pop3", "pop3s(tls)", "imap", "imaps(tls)", "http", "metrics"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	c.IMAP.Enabled = false
	for _, l := range c.Listeners() {
		if strings.HasPrefix(l.Name, "imap") {
			t.Errorf("disabled IMAP still listed: %v", l)
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.TLS.CertFile = "a.crt"
	c.Listen.HTTPS = ":8080"
	err := c.Validate()
	// Without a file there are no lines: errors keep the check order.
	want := `listen.https: address ":8080" collides with listen.http (":8080")` + "\n" +
		"tls.key_file: must be set when tls.cert_file is set (set both, or neither for a self-signed certificate)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var all []*Error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if errors.As(e, &ce) {
			all = append(all, ce)
		}
	}
	if len(all) != 2 || all[0].Key != "listen.https" || all[1].Key != "tls.key_file" {
		t.Errorf("errors: %+v", all)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("got %v", err)
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1024": 1024, "1KiB": 1024, "1 KiB": 1024, "1kb": 1000, "30MiB": 30 << 20,
		"1.5GiB": 3 << 29, "10GiB": 10 << 30, "2TB": 2e12, "7B": 7, "1_000": 1000,
	} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("%q: got %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1 XB", "1.2.3", "9999999999TiB"} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q: no error (got %d)", in, s)
		}
	}
	if got := (30 * MiB).String(); got != "30MiB" {
		t.Errorf("String = %q", got)
	}
}

func TestKeyLines(t *testing.T) {
	doc := `# c
a = 1
b.c = "x # not a comment"
"q.k" = 'lit'
[t1]   # header
x = """
multi "" "
[not.a.table]
"""
y = [ { z = 1 },
  "]",
]
[[arr]]
n = 1
[t2 . "s p"]
w = { i = 1,
  j = { k = 2 } }
v = 1979-05-27 07:32:00Z
last = true
`
	got := keyLines(doc)
	want := map[string]int{
		"a": 2, "b": 3, "b.c": 3, `"q.k"`: 4, "t1": 5, "t1.x": 6, "t1.y": 10, "t1.y.z": 10,
		"arr": 13, "arr.n": 14, "t2": 15, `t2."s p"`: 15, `t2."s p".w`: 16,
		`t2."s p".w.i`: 16, `t2."s p".w.j`: 17, `t2."s p".w.j.k`: 17,
		`t2."s p".v`: 18, `t2."s p".last`: 19,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keyLines =\n%v\nwant\n%v", got, want)
	}
	// Every key the toml parser sees has a line.
	var raw map[string]any
	md, err := toml.Decode(doc, &raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range md.Keys() {
		if got[k.String()] == 0 {
			t.Errorf("no line for %s", k)
		}
	}
}
