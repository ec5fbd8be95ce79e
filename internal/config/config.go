// Package config loads, defaults and validates the pochta TOML
// configuration file.
//
// Use Load (or Parse) to read a file: the result starts from Default, is
// overlaid with the file's values and is validated. Every problem is
// reported as an *Error naming the file, the line and the key, for example
//
//	pochta.toml:12: unknown key "listen.smpt" (did you mean "listen.smtp"?)
//	pochta.toml:7: listen.imap: bad address "localhost:99999": port out of range
//
// When several problems are found they are all returned, joined with
// errors.Join, one per line, in file order.
package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the complete server configuration. The zero value is not
// useful; start from Default, Load or Parse.
type Config struct {
	// Hostname is the server's own domain name, used in protocol greetings,
	// Received headers and the self-signed certificate. It must be a valid
	// domain name. Default: the machine's host name (os.Hostname), or
	// "localhost" if that is not a valid domain name.
	Hostname string `toml:"hostname"`

	// DataDir is the directory holding mailboxes, the database and
	// generated files such as the self-signed certificate (DataDir/tls/).
	// Relative paths are relative to the working directory.
	// Default "./pochta-data".
	DataDir string `toml:"data_dir"`

	// Listen holds the network addresses of every listener.
	Listen ListenConfig `toml:"listen"`

	// TLS configures certificates and protocol versions.
	TLS TLSConfig `toml:"tls"`

	// Auth configures the login policy and brute-force protection.
	Auth AuthConfig `toml:"auth"`

	// Store selects the storage backend.
	Store StoreConfig `toml:"store"`

	// Limits holds server-wide connection limits.
	Limits LimitsConfig `toml:"limits"`

	// SMTP configures message acceptance (MX and submission).
	SMTP SMTPConfig `toml:"smtp"`

	// POP3 configures the POP3 service.
	POP3 POP3Config `toml:"pop3"`

	// IMAP configures the IMAP service.
	IMAP IMAPConfig `toml:"imap"`

	// Retention sets how long messages stay in special folders.
	Retention RetentionConfig `toml:"retention"`

	// Quota sets the default per-account quotas.
	Quota QuotaConfig `toml:"quota"`

	// Queue configures delivery of mail to other domains.
	Queue QueueConfig `toml:"queue"`

	// DNS selects the resolver used for MX, SPF, DKIM and DMARC lookups.
	DNS DNSConfig `toml:"dns"`

	// Web configures the settings pages and the admin pages.
	Web WebConfig `toml:"web"`

	// src remembers where the configuration came from so that validation
	// errors can name the file and line. Nil for configurations built in
	// code.
	src *source
}

// source is the file a Config was parsed from.
type source struct {
	name  string
	lines map[string]int // dotted key -> line of first appearance
}

// ListenConfig holds the listener addresses. Every value is "host:port"
// (host may be empty for all interfaces, port 0 picks a free port); an empty
// string disables that listener.
type ListenConfig struct {
	// SMTP is the MX listener receiving mail from other servers
	// (STARTTLS offered). Default ":25".
	SMTP string `toml:"smtp"`

	// Submission is the message submission listener for mail clients
	// (RFC 6409, STARTTLS). Default ":587".
	Submission string `toml:"submission"`

	// SubmissionExtra lists additional addresses that behave exactly like
	// Submission, e.g. ":2525" for networks that block 587. Default none.
	SubmissionExtra []string `toml:"submission_extra"`

	// Submissions is message submission over implicit TLS (RFC 8314).
	// Default ":465".
	Submissions string `toml:"submissions"`

	// Devices is a submission listener for devices such as printers and
	// scanners that cannot use the regular submission ports. Default "" (off).
	Devices string `toml:"devices"`

	// POP3 is the POP3 listener (STARTTLS via STLS). Default ":110".
	POP3 string `toml:"pop3"`

	// POP3S is POP3 over implicit TLS. Default ":995".
	POP3S string `toml:"pop3s"`

	// IMAP is the IMAP listener (STARTTLS). Default ":143".
	IMAP string `toml:"imap"`

	// IMAPS is IMAP over implicit TLS. Default ":993".
	IMAPS string `toml:"imaps"`

	// HTTP is the plain-HTTP web settings listener. Default ":8080".
	HTTP string `toml:"http"`

	// HTTPS is the web settings listener over TLS. Default "" (off).
	HTTPS string `toml:"https"`

	// Metrics serves monitoring metrics over plain HTTP. Default "" (off).
	Metrics string `toml:"metrics"`
}

// TLSConfig configures the certificate and TLS versions shared by every
// listener.
type TLSConfig struct {
	// CertFile is a PEM certificate chain (leaf first). Set both CertFile
	// and KeyFile, or neither: with neither, a self-signed certificate is
	// generated on first start and kept in DataDir/tls/. Default "".
	CertFile string `toml:"cert_file"`

	// KeyFile is the PEM private key for CertFile. Default "".
	KeyFile string `toml:"key_file"`

	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3".
	// Default "1.2".
	MinVersion string `toml:"min_version"`
}

// MinTLSVersion returns MinVersion as a crypto/tls constant
// (tls.VersionTLS12 or tls.VersionTLS13). Unknown or empty values give
// tls.VersionTLS12; Validate rejects unknown values.
func (t TLSConfig) MinTLSVersion() uint16 {
	if t.MinVersion == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// AuthConfig configures logins.
type AuthConfig struct {
	// AllowPlaintext allows passwords over unencrypted connections. When
	// false (the "secure" policy, default) passwords are only accepted over
	// TLS, either implicit or after STARTTLS.
	AllowPlaintext bool `toml:"allow_plaintext"`

	// FailedLoginDelay is the base delay before answering a failed login;
	// it grows with repeated failures. 0s to 1m. Default "2s".
	FailedLoginDelay Duration `toml:"failed_login_delay"`

	// MaxFailedLogins is how many failed logins from one source within
	// FailedLoginWindow are tolerated before further attempts are refused
	// until the window passes. 0 disables the lockout. Default 10.
	MaxFailedLogins int `toml:"max_failed_logins"`

	// FailedLoginWindow is the period over which failed logins are
	// counted. Default "15m".
	FailedLoginWindow Duration `toml:"failed_login_window"`

	// PasswordHashTime, PasswordHashMemory and PasswordHashThreads are the
	// argon2id cost of passwords set from now on (each stored hash keeps
	// its own cost). Defaults: 3 passes, 64 MiB, 2 lanes. Lower values
	// make logins cheaper and stored passwords weaker; the test suite
	// lowers them to save time.
	PasswordHashTime    int  `toml:"password_hash_time"`
	PasswordHashMemory  Size `toml:"password_hash_memory"`
	PasswordHashThreads int  `toml:"password_hash_threads"`

	// MaxConcurrentHashes bounds how many password hashes are checked at
	// once (each argon2id check takes 64 MiB of memory and most of a CPU
	// core); further logins wait for a free slot. 0 (default) means the
	// number of CPUs Go uses (GOMAXPROCS).
	MaxConcurrentHashes int `toml:"max_concurrent_hashes"`
}

// Storage backends accepted in StoreConfig.Backend.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// StoreConfig selects where accounts and mail are stored.
type StoreConfig struct {
	// Backend is BackendSQLite ("sqlite", stored in DataDir, default) or
	// BackendPostgres ("postgres").
	Backend string `toml:"backend"`

	// DSN is the PostgreSQL connection string, e.g.
	// "postgres://pochta:secret@localhost/pochta?sslmode=disable".
	// Required for postgres, must be empty for sqlite. Default "".
	DSN string `toml:"dsn"`
}

// LimitsConfig holds server-wide limits.
type LimitsConfig struct {
	// MaxConnections is the maximum number of simultaneous client
	// connections over all listeners. At least 1. Default 1000.
	MaxConnections int `toml:"max_connections"`

	// MaxConnectionsPerIP is the maximum number of simultaneous connections
	// from one IP address. 1 to MaxConnections. Default 20.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`

	// IdleTimeout closes connections that stay silent this long (protocols
	// with their own timeout, like POP3, use theirs). At least 1s.
	// Default "30m".
	IdleTimeout Duration `toml:"idle_timeout"`
}

// SMTPConfig configures mail acceptance.
type SMTPConfig struct {
	// MaxMessageSize is the largest accepted message in bytes (advertised
	// with the SIZE extension). Integer bytes or a string like "30MiB".
	// Default 31457280 (30 MiB).
	MaxMessageSize Size `toml:"max_message_size"`

	// MaxRecipients is the maximum number of RCPT TO per message.
	// At least 1. Default 100.
	MaxRecipients int `toml:"max_recipients"`

	// MaxMessagesPerHour limits how many messages one account may submit
	// per hour. 0 means unlimited (default).
	MaxMessagesPerHour int `toml:"max_messages_per_hour"`

	// MaxMessagesPerDay limits how many messages one account may submit per
	// day. 0 means unlimited (default).
	MaxMessagesPerDay int `toml:"max_messages_per_day"`

	// PlusSeparator holds the sub-addressing separator characters: with
	// "+", mail for "user+tag@domain" is delivered to "user@domain". Each
	// character of the string is a separator. "" disables sub-addressing.
	// Default "+".
	PlusSeparator string `toml:"plus_separator"`

	// BlockedExtensions lists attachment file-name extensions that cause a
	// message to be rejected, case-insensitively, with or without the
	// leading dot ("exe" or ".exe"). Default none.
	BlockedExtensions []string `toml:"blocked_extensions"`

	// CommandTimeout is how long a session waits for the client's next
	// command before it is closed with 421; DATA blocks get the same
	// bound, but never less than 3 minutes unless this is shorter. At
	// least 1s. Default 5m (RFC 5321 §4.5.3.2).
	CommandTimeout Duration `toml:"command_timeout"`
}

// IsBlockedFilename reports whether the file name ends in one of
// BlockedExtensions (case-insensitive).
func (s SMTPConfig) IsBlockedFilename(name string) bool {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return false
	}
	ext := name[dot+1:]
	for _, b := range s.BlockedExtensions {
		if strings.EqualFold(strings.TrimPrefix(b, "."), ext) {
			return true
		}
	}
	return false
}

// POP3Config configures the POP3 service.
type POP3Config struct {
	// Enabled turns the POP3 service (listen.pop3 and listen.pop3s) on or
	// off. Default true.
	Enabled bool `toml:"enabled"`

	// InactivityTimeout is the autologout timer; RFC 1939 requires at least
	// 10 minutes. Default "10m".
	InactivityTimeout Duration `toml:"inactivity_timeout"`

	// LoginDelay is the minimum time between logins of one account,
	// advertised with the LOGIN-DELAY capability (RFC 2449). "0s" (default)
	// means no delay.
	LoginDelay Duration `toml:"login_delay"`

	// APOP enables the APOP command (RFC 1939 §7) for accounts that have
	// an APOP secret (pochta user set ADDR --apop-secret), a separate
	// secret, never the login password, kept encrypted with the server
	// key data_dir/secret.key (made on first use). The greeting carries a
	// timestamp only when this is on. APOP's MD5 digest lets anyone who
	// saw a dialogue search for the secret offline, so APOP follows the
	// login policy of passwords (without TLS only where plaintext
	// passwords are allowed). Default false.
	APOP bool `toml:"apop"`
}

// IMAPConfig configures the IMAP service.
type IMAPConfig struct {
	// Enabled turns the IMAP service (listen.imap and listen.imaps) on or
	// off. Default true.
	Enabled bool `toml:"enabled"`
}

// RetentionConfig sets how long messages are kept in special folders before
// they are deleted automatically. "0s" keeps them forever.
type RetentionConfig struct {
	// Trash is the retention time of the Trash folder. Default "720h"
	// (30 days).
	Trash Duration `toml:"trash"`

	// Spam is the retention time of the Junk/Spam folder. Default "240h"
	// (10 days).
	Spam Duration `toml:"spam"`
}

// QuotaConfig holds default quotas for accounts without their own.
type QuotaConfig struct {
	// DefaultBytes is the mailbox size limit in bytes (integer bytes or a
	// string like "10GiB"); 0 means unlimited. Default 10737418240 (10 GiB).
	DefaultBytes Size `toml:"default_bytes"`

	// DefaultMessages is the message count limit; 0 (default) means
	// unlimited.
	DefaultMessages int `toml:"default_messages"`
}

// WebConfig configures the web pages.
type WebConfig struct {
	// Admins lists addresses of accounts that may use the admin pages, in
	// addition to accounts with the admin flag. Default none.
	Admins []string `toml:"admins"`

	// SelfServiceAliases lets account owners create and delete aliases
	// of their own in their domain on their page. Default false (the
	// page lists them read-only).
	SelfServiceAliases bool `toml:"self_service_aliases"`

	// MaxSelfServiceAliases is how many aliases an account may have
	// when it makes them itself. 1 to 1000. Default 5.
	MaxSelfServiceAliases int `toml:"max_self_service_aliases"`

	// SessionIdle ends a web session unused this long. 1m to 30 days.
	// Default "12h".
	SessionIdle Duration `toml:"session_idle"`

	// SessionMax ends a web session this long after it started, however
	// busy. 1m to 365 days. Default "168h" (7 days).
	SessionMax Duration `toml:"session_max"`
}

// Default returns the default configuration. It is valid as is.
func Default() *Config {
	return &Config{
		Hostname: defaultHostname(),
		DataDir:  "./pochta-data",
		Listen: ListenConfig{
			SMTP:        ":25",
			Submission:  ":587",
			Submissions: ":465",
			POP3:        ":110",
			POP3S:       ":995",
			IMAP:        ":143",
			IMAPS:       ":993",
			HTTP:        ":8080",
		},
		TLS: TLSConfig{MinVersion: "1.2"},
		Auth: AuthConfig{
			FailedLoginDelay:    Duration(2 * time.Second),
			MaxFailedLogins:     10,
			FailedLoginWindow:   Duration(15 * time.Minute),
			PasswordHashTime:    3,
			PasswordHashMemory:  64 * MiB,
			PasswordHashThreads: 2,
		},
		Store: StoreConfig{Backend: BackendSQLite},
		Limits: LimitsConfig{
			MaxConnections:      1000,
			MaxConnectionsPerIP: 20,
			IdleTimeout:         Duration(30 * time.Minute),
		},
		SMTP: SMTPConfig{
			MaxMessageSize: 30 * MiB,
			MaxRecipients:  100,
			PlusSeparator:  "+",
			CommandTimeout: Duration(5 * time.Minute),
		},
		POP3: POP3Config{
			Enabled:           true,
			InactivityTimeout: Duration(10 * time.Minute),
		},
		IMAP: IMAPConfig{Enabled: true},
		Retention: RetentionConfig{
			Trash: Duration(30 * 24 * time.Hour),
			Spam:  Duration(10 * 24 * time.Hour),
		},
		Quota: QuotaConfig{DefaultBytes: 10 * GiB},
		Web: WebConfig{
			Admins:                []string{},
			MaxSelfServiceAliases: 5,
			SessionIdle:           Duration(12 * time.Hour),
			SessionMax:            Duration(7 * 24 * time.Hour),
		},
		Queue: QueueConfig{
			RetryInitial:         Duration(5 * time.Minute),
			RetryMax:             Duration(4 * time.Hour),
			MaxAge:               Duration(5 * 24 * time.Hour),
			DelayNotice:          Duration(4 * time.Hour),
			Concurrency:          20,
			ConcurrencyPerDomain: 4,
			ConnectTimeout:       Duration(30 * time.Second),
			MTASTS:               true,
			LeaseTime:            Duration(30 * time.Minute),
		},
	}
}

// defaultHostname returns os.Hostname() if it is a valid domain name, and
// "localhost" otherwise.
func defaultHostname() string {
	h, err := os.Hostname()
	if err != nil || checkDomain(h) != nil {
		return "localhost"
	}
	return h
}

// Listener is one enabled network listener.
type Listener struct {
	// Name is the listener's key in [listen]: "smtp", "submission",
	// "submission_extra", "submissions", "devices", "pop3", "pop3s",
	// "imap", "imaps", "http", "https" or "metrics".
	Name string
	// ConfigKey is the full config key, e.g. "listen.imap" or
	// "listen.submission_extra[1]"; handy in log and error messages.
	ConfigKey string
	// Addr is the "host:port" to listen on.
	Addr string
	// ImplicitTLS is true for listeners that start with a TLS handshake
	// (submissions, pop3s, imaps, https).
	ImplicitTLS bool
}

// Listeners returns the enabled listeners in a fixed order: smtp,
// submission, one submission_extra entry per extra address, submissions,
// devices, pop3, pop3s, imap, imaps, http, https, metrics. Listeners with
// an empty address are left out, and so are pop3/pop3s when POP3 is disabled
// and imap/imaps when IMAP is disabled.
func (c *Config) Listeners() []Listener {
	l := c.Listen
	var out []Listener
	add := func(name, addr string, implicitTLS bool) {
		if addr != "" {
			out = append(out, Listener{Name: name, ConfigKey: "listen." + name, Addr: addr, ImplicitTLS: implicitTLS})
		}
	}
	add("smtp", l.SMTP, false)
	add("submission", l.Submission, false)
	for i, a := range l.SubmissionExtra {
		if a != "" {
			out = append(out, Listener{Name: "submission_extra", ConfigKey: fmt.Sprintf("listen.submission_extra[%d]", i), Addr: a})
		}
	}
	add("submissions", l.Submissions, true)
	add("devices", l.Devices, false)
	if c.POP3.Enabled {
		add("pop3", l.POP3, false)
		add("pop3s", l.POP3S, true)
	}
	if c.IMAP.Enabled {
		add("imap", l.IMAP, false)
		add("imaps", l.IMAPS, true)
	}
	add("http", l.HTTP, false)
	add("https", l.HTTPS, true)
	add("metrics", l.Metrics, false)
	return out
}
