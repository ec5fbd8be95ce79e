package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// generatedPasswordLength is the length of passwords pochta makes up
// (about 93 bits).
const generatedPasswordLength = 16

func adminCommands() []*command {
	var passwordStdin, admin, caseSensitive bool
	var quota, caseSetting, catchAll string
	var set userSettingsFlags
	return []*command{
		{
			name: "domain add", usage: "NAME... [--case-sensitive]", summary: "add mail domains",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&caseSensitive, "case-sensitive", false, "local parts of the domain's addresses are case-sensitive (User@ and user@ differ)")
			},
			run: func(e *env) error { return domainAdd(e, caseSensitive) },
		},
		{name: "domain list", summary: "list mail domains", run: domainList},
		{name: "domain show", usage: "NAME", summary: "show a domain's settings", run: domainShow},
		{
			name: "domain set", usage: "NAME [--case-sensitive=on|off] [--catch-all=ADDRESS|none]",
			summary: "change a domain's settings",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&caseSetting, "case-sensitive", "", "on|off: local parts of the domain's addresses are case-sensitive; off lowercases the stored addresses")
				fs.StringVar(&catchAll, "catch-all", "", "ADDRESS|none: the account that gets mail for unknown addresses of the domain")
			},
			run: func(e *env) error { return domainSet(e, caseSetting, catchAll) },
		},
		{name: "domain remove", usage: "NAME", summary: "remove a domain that has no accounts or aliases left", run: domainRemove},
		{
			name: "user add", usage: "ADDRESS [--password-stdin] [--admin] [--quota SIZE]",
			summary: "add an account; without --password-stdin a password is generated and printed",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
				fs.BoolVar(&admin, "admin", false, "the account may use the admin pages")
				fs.StringVar(&quota, "quota", "", "mailbox size limit, e.g. 2GiB (default: [quota] default_bytes; 0 = unlimited)")
			},
			run: func(e *env) error { return userAdd(e, passwordStdin, admin, quota) },
		},
		{name: "user list", usage: "[DOMAIN]", summary: "list accounts", run: userList},
		{name: "user show", usage: "ADDRESS", summary: "show an account's settings, aliases and usage", run: userShow},
		{name: "user remove", usage: "ADDRESS", summary: "remove an account with all its mail", run: userRemove},
		{
			name: "user passwd", usage: "ADDRESS [--password-stdin]",
			summary: "set a new password; without --password-stdin one is generated and printed",
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
			},
			run: func(e *env) error { return userPasswd(e, passwordStdin) },
		},
		{
			name: "user set", usage: "ADDRESS [--pop3=on|off] [--imap=on|off] [...]",
			summary: "change an account's protocol settings (effective at the next login)",
			flags:   set.register,
			run:     func(e *env) error { return userSet(e, &set) },
		},
		{name: "alias add", usage: "ALIAS TARGET...", summary: "add an alias delivering to one or more accounts", run: aliasAdd},
		{name: "alias list", usage: "[DOMAIN]", summary: "list aliases", run: aliasList},
		{name: "alias remove", usage: "ALIAS", summary: "remove an alias", run: aliasRemove},
	}
}

// domainView is how commands print a domain.
type domainView struct {
	// Name is the stored, A-label form (store.CanonicalDomain).
	Name string `json:"name"`
	// Unicode is the name in U-labels, for an internationalised domain.
	Unicode       string    `json:"unicode,omitempty"`
	CatchAll      string    `json:"catch_all,omitempty"`
	CaseSensitive bool      `json:"local_part_case_sensitive"`
	Created       time.Time `json:"created"`
}

func domainViewOf(d store.Domain) domainView {
	v := domainView{Name: d.Name, CatchAll: d.CatchAll, CaseSensitive: d.LocalPartCaseSensitive, Created: d.CreatedAt}
	if u := store.DisplayDomain(d.Name); u != d.Name {
		v.Unicode = u
	}
	return v
}

// label is the domain's name for people: "xn--e1afmkfd.xn--p1ai
// (пример.рф)" for an internationalised one.
func (v domainView) label() string {
	if v.Unicode != "" {
		return v.Name + " (" + v.Unicode + ")"
	}
	return v.Name
}

// caseText describes a domain's case rule for people.
func caseText(caseSensitive bool) string {
	if caseSensitive {
		return "case-sensitive local parts"
	}
	return "case-insensitive local parts"
}

func domainAdd(e *env, caseSensitive bool) error {
	if len(e.args) == 0 {
		return usagef("name at least one domain")
	}
	return e.withStore(func(cfg *config.Config, st store.Store) error {
		var added []domainView
		for _, name := range e.args {
			d, err := st.CreateDomain(e.ctx, name)
			if err != nil {
				return err
			}
			if caseSensitive {
				d.LocalPartCaseSensitive = true
				if err := st.UpdateDomain(e.ctx, d); err != nil {
					return err
				}
			}
			if _, err := makeDKIMKeys(e, cfg, st, d.Name); err != nil {
				return err
			}
			added = append(added, domainViewOf(d))
		}
		if e.json {
			return e.printJSON(added)
		}
		for _, d := range added {
			fmt.Fprintf(e.stdout, "domain %s added (%s)\n", d.label(), caseText(d.CaseSensitive))
		}
		return nil
	})
}

func domainList(e *env) error {
	return e.withStore(func(_ *config.Config, st store.Store) error {
		ds, err := st.Domains(e.ctx)
		if err != nil {
			return err
		}
		views := make([]domainView, 0, len(ds))
		for _, d := range ds {
			views = append(views, domainViewOf(d))
		}
		if e.json {
			return e.printJSON(views)
		}
		if len(ds) == 0 {
			fmt.Fprintln(e.stdout, "no domains yet: pochta domain add NAME")
			return nil
		}
		for _, d := range views {
			var notes []string
			if d.Unicode != "" {
				notes = append(notes, d.Unicode)
			}
			if d.CaseSensitive {
				notes = append(notes, "case-sensitive")
			}
			if d.CatchAll != "" {
				notes = append(notes, "catch-all "+d.CatchAll)
			}
			if len(notes) > 0 {
				fmt.Fprintf(e.stdout, "%s\t(%s)\n", d.Name, strings.Join(notes, ", "))
			} else {
				fmt.Fprintln(e.stdout, d.Name)
			}
		}
		return nil
	})
}

func domainShow(e *env) error {
	return e.withDomain(func(_ *config.Config, st store.Store, d store.Domain) error {
		v := domainViewOf(d)
		if e.json {
			return e.printJSON(v)
		}
		fmt.Fprintf(e.stdout, "domain:         %s\n", v.Name)
		if v.Unicode != "" {
			fmt.Fprintf(e.stdout, "unicode:        %s\n", v.Unicode)
		}
		fmt.Fprintf(e.stdout, "case-sensitive: %s (%s)\n", yesNo(v.CaseSensitive), caseText(v.CaseSensitive))
		fmt.Fprintf(e.stdout, "catch-all:      %s\n", orNone(v.CatchAll))
		fmt.Fprintf(e.stdout, "created:        %s\n", v.Created.Format(time.RFC3339))
		return nil
	})
}

func domainSet(e *env, caseSetting, catchAll string) error {
	if caseSetting == "" && catchAll == "" {
		return usagef("nothing to change: give --case-sensitive or --catch-all")
	}
	return e.withDomain(func(_ *config.Config, st store.Store, d store.Domain) error {
		if err := parseOnOff("case-sensitive", caseSetting, &d.LocalPartCaseSensitive); err != nil {
			return err
		}
		switch strings.ToLower(catchAll) {
		case "":
		case "none", "off":
			d.CatchAll = ""
		default:
			a, err := st.AccountByAddress(e.ctx, catchAll)
			if err != nil {
				return fmt.Errorf("--catch-all %s: %w", catchAll, err)
			}
			d.CatchAll = a.Address
		}
		if err := st.UpdateDomain(e.ctx, d); err != nil {
			return err
		}
		d, err := st.Domain(e.ctx, d.Name)
		if err != nil {
			return err
		}
		v := domainViewOf(d)
		return e.done(v, fmt.Sprintf("domain %s changed (%s)", v.label(), caseText(d.LocalPartCaseSensitive)))
	})
}

func domainRemove(e *env) error {
	return removeOne(e, "domain", func(st store.Store, name string) error { return st.DeleteDomain(e.ctx, name) })
}

// removeOne runs a "remove NAME" command.
func removeOne(e *env, kind string, remove func(st store.Store, name string) error) error {
	if len(e.args) != 1 {
		return usagef("name one %s", kind)
	}
	return e.withStore(func(_ *config.Config, st store.Store) error {
		if err := remove(st, e.args[0]); err != nil {
			return err
		}
		return e.done(map[string]string{"removed": e.args[0]}, kind+" "+e.args[0]+" removed")
	})
}

// done prints a one-line result, or v as JSON.
func (e *env) done(v any, text string) error {
	if e.json {
		return e.printJSON(v)
	}
	fmt.Fprintln(e.stdout, text)
	return nil
}

// nonNil turns a nil slice into an empty one so JSON prints [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// readPassword takes the first line of standard input.
func (e *env) readPassword() (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password on standard input")
	}
	return pw, nil
}

// newPassword reads or generates a password and returns it with its hash
// and whether it was generated.
func (e *env) newPassword(fromStdin bool) (pw, hash string, generated bool, err error) {
	if fromStdin {
		pw, err = e.readPassword()
	} else {
		pw, err = auth.GeneratePassword(generatedPasswordLength)
		generated = true
	}
	if err != nil {
		return "", "", false, err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return "", "", false, err
	}
	hash, err = hashParams(cfg).Hash(pw)
	return pw, hash, generated, err
}

// hashParams is the password hash cost the config asks for.
func hashParams(cfg *config.Config) auth.HashParams {
	return auth.HashParams{
		Time:      uint32(cfg.Auth.PasswordHashTime),
		MemoryKiB: uint32(cfg.Auth.PasswordHashMemory / config.KiB),
		Threads:   uint8(cfg.Auth.PasswordHashThreads),
	}
}

// accountView is how commands print an account.
type accountView struct {
	ID        int64          `json:"id"`
	Address   string         `json:"address"`
	Admin     bool           `json:"admin"`
	Disabled  bool           `json:"disabled"`
	Quota     int64          `json:"quota_bytes"`
	QuotaMsgs int64          `json:"quota_messages"`
	Settings  store.Settings `json:"settings"`
	Aliases   []string       `json:"aliases,omitempty"`
	Usage     *store.Usage   `json:"usage,omitempty"`
	Password  string         `json:"password,omitempty"`
	// APOP tells whether the account has an APOP secret; the secret is
	// never shown except once, in APOPSecret, when it is generated.
	APOP       bool      `json:"apop"`
	APOPSecret string    `json:"apop_secret,omitempty"`
	Created    time.Time `json:"created"`
}

func viewOf(a store.Account) accountView {
	v := accountView{ID: a.ID, Address: a.Address, Admin: a.Admin, Disabled: a.Disabled,
		Quota: a.QuotaBytes, QuotaMsgs: a.QuotaMessages, Settings: a.Settings, Created: a.CreatedAt,
		APOP: a.Settings.APOPSecret != ""}
	v.Settings.APOPSecret = "" // sealed, but still nothing to print
	return v
}

// createAccount makes an account with the config's default quota. It is
// shared by "user add" and "quickstart".
func createAccount(e *env, cfg *config.Config, st store.Store, addr, hash string, admin bool, quota int64) (store.Account, error) {
	if quota < 0 {
		quota = int64(cfg.Quota.DefaultBytes)
	}
	settings, err := store.NewAccountSettings(e.ctx, st)
	if err != nil {
		return store.Account{}, err
	}
	return st.CreateAccount(e.ctx, store.NewAccount{
		Address: addr, PasswordHash: hash, Admin: admin,
		QuotaBytes: quota, QuotaMessages: int64(cfg.Quota.DefaultMessages),
		Settings: settings,
	})
}

func userAdd(e *env, passwordStdin, admin bool, quotaFlag string) error {
	if len(e.args) != 1 {
		return usagef("name one address")
	}
	quota := int64(-1)
	if quotaFlag != "" {
		q, err := parseSize(quotaFlag)
		if err != nil {
			return usagef("--quota: %v", err)
		}
		quota = q
	}
	pw, hash, generated, err := e.newPassword(passwordStdin)
	if err != nil {
		return err
	}
	return e.withStore(func(cfg *config.Config, st store.Store) error {
		a, err := createAccount(e, cfg, st, e.args[0], hash, admin, quota)
		if err != nil {
			return err
		}
		v := viewOf(a)
		if generated {
			v.Password = pw
		}
		if e.json {
			return e.printJSON(v)
		}
		fmt.Fprintf(e.stdout, "account %s added\n", a.Address)
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n", pw)
		}
		return nil
	})
}

func userList(e *env) error {
	domain := ""
	if len(e.args) > 1 {
		return usagef("name at most one domain")
	} else if len(e.args) == 1 {
		domain = e.args[0]
	}
	return e.withStore(func(_ *config.Config, st store.Store) error {
		as, err := st.Accounts(e.ctx, domain)
		if err != nil {
			return err
		}
		views := make([]accountView, 0, len(as))
		for _, a := range as {
			views = append(views, viewOf(a))
		}
		if e.json {
			return e.printJSON(views)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tPOP3\tIMAP\tQUOTA\tFLAGS")
		for _, v := range views {
			var flags []string
			if v.Admin {
				flags = append(flags, "admin")
			}
			if v.Disabled {
				flags = append(flags, "disabled")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Address, onOff(v.Settings.POP3Enabled), onOff(v.Settings.IMAPEnabled),
				formatQuota(v.Quota), strings.Join(flags, ","))
		}
		return tw.Flush()
	})
}

func userShow(e *env) error {
	return e.withAccount(func(cfg *config.Config, st store.Store, a store.Account) error {
		v := viewOf(a)
		var err error
		if v.Aliases, err = st.AliasesOf(e.ctx, a.ID); err != nil {
			return err
		}
		u, err := st.Usage(e.ctx, a.ID)
		if err != nil {
			return err
		}
		v.Usage = &u
		if e.json {
			return e.printJSON(v)
		}
		s := a.Settings
		fmt.Fprintf(e.stdout, "address:        %s\n", a.Address)
		fmt.Fprintf(e.stdout, "aliases:        %s\n", orNone(strings.Join(v.Aliases, ", ")))
		fmt.Fprintf(e.stdout, "admin:          %s\n", yesNo(a.Admin))
		fmt.Fprintf(e.stdout, "disabled:       %s\n", yesNo(a.Disabled))
		fmt.Fprintf(e.stdout, "usage:          %s in %d messages (quota %s)\n", formatSize(u.Bytes), u.Messages, formatQuota(a.QuotaBytes))
		fmt.Fprintf(e.stdout, "pop3:           %s\n", onOff(s.POP3Enabled))
		fmt.Fprintf(e.stdout, "pop3 folders:   %s\n", orNone(strings.Join(s.POP3Folders, ", "), "INBOX"))
		fmt.Fprintf(e.stdout, "pop3 mark seen: %s\n", onOff(s.POP3MarkSeen))
		since := "all mail"
		if !s.POP3Since.IsZero() {
			since = "mail since " + s.POP3Since.Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "pop3 serves:    %s\n", since)
		fmt.Fprintf(e.stdout, "pop3 delete:    %s\n", orNone(string(s.POP3Delete), string(store.POP3DeleteTrash)))
		fmt.Fprintf(e.stdout, "apop secret:    %s\n", map[bool]string{true: "set", false: "none"}[v.APOP])
		fmt.Fprintf(e.stdout, "imap:           %s\n", onOff(s.IMAPEnabled))
		fmt.Fprintf(e.stdout, "login policy:   %s\n", orNone(string(s.LoginPolicy), "server default"))
		fmt.Fprintf(e.stdout, "send per hour:  %s\n", formatLimit(s.SendPerHour, cfg.SMTP.MaxMessagesPerHour))
		fmt.Fprintf(e.stdout, "send per day:   %s\n", formatLimit(s.SendPerDay, cfg.SMTP.MaxMessagesPerDay))
		fmt.Fprintf(e.stdout, "max recipients: %s\n", formatLimit(s.MaxRecipients, cfg.SMTP.MaxRecipients))
		return nil
	})
}

func userRemove(e *env) error {
	return e.withAccount(func(_ *config.Config, st store.Store, a store.Account) error {
		if err := st.DeleteAccount(e.ctx, a.ID); err != nil {
			return err
		}
		return e.done(map[string]string{"removed": a.Address}, "account "+a.Address+" removed with its mail")
	})
}

func userPasswd(e *env, passwordStdin bool) error {
	if len(e.args) != 1 {
		return usagef("name one address")
	}
	pw, hash, generated, err := e.newPassword(passwordStdin)
	if err != nil {
		return err
	}
	return e.withStore(func(_ *config.Config, st store.Store) error {
		a, err := st.AccountByAddress(e.ctx, e.args[0])
		if err != nil {
			return err
		}
		a.PasswordHash = hash
		if err := st.UpdateAccount(e.ctx, a); err != nil {
			return err
		}
		out := map[string]string{"address": a.Address}
		text := "password of " + a.Address + " changed"
		if generated {
			out["password"] = pw
			text += "\npassword: " + pw
		}
		return e.done(out, text)
	})
}

// userSettingsFlags are the options of "user set". Empty means unchanged.
type userSettingsFlags struct {
	pop3, imap, markSeen, since, del, folders, policy, quota, disabled, admin string
	apop                                                                      string
	forward, forwardKeep                                                      string
	perHour, perDay, maxRcpts                                                 string
}

// apopFlag is --apop-secret: alone it means "generate one"; it also takes
// =stdin and =off.
type apopFlag struct{ v *string }

func (f apopFlag) String() string {
	if f.v == nil {
		return ""
	}
	return *f.v
}
func (f apopFlag) Set(s string) error { *f.v = s; return nil }
func (f apopFlag) IsBoolFlag() bool   { return true }

func (f *userSettingsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.pop3, "pop3", "", "on|off: POP3 access")
	fs.StringVar(&f.imap, "imap", "", "on|off: IMAP access")
	fs.StringVar(&f.markSeen, "pop3-mark-seen", "", "on|off: mark messages read when a POP3 client downloads them")
	fs.StringVar(&f.since, "pop3-since", "", "all|now|RFC3339 time: serve all mail over POP3, or only mail arriving from then on")
	fs.StringVar(&f.del, "pop3-delete", "", "trash|keep|delete: what a POP3 DELE does")
	fs.StringVar(&f.folders, "pop3-folders", "", "comma-separated folders POP3 serves (e.g. INBOX,Spam)")
	fs.StringVar(&f.policy, "login-policy", "", "default|secure|plaintext: may passwords travel without TLS")
	fs.StringVar(&f.quota, "quota", "", "mailbox size limit, e.g. 2GiB; 0 = unlimited")
	fs.StringVar(&f.disabled, "disabled", "", "on|off: refuse every login and delivery")
	fs.StringVar(&f.admin, "admin", "", "on|off: the account may use the admin pages")
	fs.Var(apopFlag{&f.apop}, "apop-secret", "set an APOP secret (a separate secret for POP3's APOP, never the password): "+
		"alone, generate and print one; =stdin, read it from the first line of standard input; =off, remove it")
	fs.StringVar(&f.forward, "forward", "", "comma-separated addresses that get every message (\"none\" stops forwarding)")
	fs.StringVar(&f.forwardKeep, "forward-keep", "", "on|off: keep a copy in the account when forwarding")
	fs.StringVar(&f.perHour, "send-per-hour", "", "N|default|unlimited: messages the account may submit per hour (default: [smtp] max_messages_per_hour)")
	fs.StringVar(&f.perDay, "send-per-day", "", "N|default|unlimited: messages the account may submit per day (default: [smtp] max_messages_per_day)")
	fs.StringVar(&f.maxRcpts, "max-recipients", "", "N|default|unlimited: recipients per message the account may submit (default: [smtp] max_recipients)")
}

// parseLimit reads a per-account limit override into *dst: a positive
// number, "default" (or 0) for the server-wide limit, "unlimited" (or -1)
// for none.
func parseLimit(name, v string, dst *int) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return nil
	case "default", "0":
		*dst = 0
		return nil
	case "unlimited", "none", "-1":
		*dst = store.Unlimited
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return usagef("--%s: want a positive number, default or unlimited, not %q", name, v)
	}
	*dst = n
	return nil
}

// formatLimit prints a per-account limit override with the server-wide
// value it falls back to.
func formatLimit(override, server int) string {
	switch {
	case override < 0:
		return "unlimited"
	case override > 0:
		return strconv.Itoa(override)
	case server > 0:
		return fmt.Sprintf("%d (server default)", server)
	}
	return "unlimited (server default)"
}

// parseOnOff reads on/off (and yes/no, true/false) into *dst.
func parseOnOff(name, v string, dst *bool) error {
	switch strings.ToLower(v) {
	case "":
		return nil
	case "on", "yes", "true", "1":
		*dst = true
	case "off", "no", "false", "0":
		*dst = false
	default:
		return usagef("--%s: want on or off, not %q", name, v)
	}
	return nil
}

// apply changes a according to the flags.
func (f *userSettingsFlags) apply(a *store.Account, now time.Time) error {
	s := &a.Settings
	for _, b := range []struct {
		name, v string
		dst     *bool
	}{{"pop3", f.pop3, &s.POP3Enabled}, {"imap", f.imap, &s.IMAPEnabled}, {"pop3-mark-seen", f.markSeen, &s.POP3MarkSeen},
		{"disabled", f.disabled, &a.Disabled}, {"admin", f.admin, &a.Admin}, {"forward-keep", f.forwardKeep, &s.ForwardKeep}} {
		if err := parseOnOff(b.name, b.v, b.dst); err != nil {
			return err
		}
	}
	switch v := strings.ToLower(f.since); v {
	case "":
	case "all":
		s.POP3Since = time.Time{}
	case "now":
		s.POP3Since = now.UTC().Truncate(time.Second)
	default:
		t, err := time.Parse(time.RFC3339, f.since)
		if err != nil {
			return usagef("--pop3-since: want all, now or a time like 2026-01-02T15:04:05Z, not %q", f.since)
		}
		s.POP3Since = t.UTC()
	}
	switch v := store.POP3DeleteAction(strings.ToLower(f.del)); v {
	case "":
	case store.POP3DeleteTrash, store.POP3DeleteKeep, store.POP3DeleteExpunge:
		s.POP3Delete = v
	default:
		return usagef("--pop3-delete: want trash, keep or delete, not %q", f.del)
	}
	if f.folders != "" {
		var names []string
		for _, n := range strings.Split(f.folders, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		s.POP3Folders = names
	}
	switch v := strings.ToLower(f.policy); v {
	case "":
	case "default":
		s.LoginPolicy = store.PolicyDefault
	case string(store.PolicySecure), string(store.PolicyPlaintext):
		s.LoginPolicy = store.LoginPolicy(v)
	default:
		return usagef("--login-policy: want default, secure or plaintext, not %q", f.policy)
	}
	switch strings.ToLower(f.forward) {
	case "":
	case "none", "off":
		s.Forward = nil
	default:
		to, err := delivery.ParseForwardTargets(f.forward, a.Address)
		if err != nil {
			return usagef("--forward: %v", err)
		}
		s.Forward = to
	}
	for _, l := range []struct {
		name, v string
		dst     *int
	}{{"send-per-hour", f.perHour, &s.SendPerHour}, {"send-per-day", f.perDay, &s.SendPerDay}, {"max-recipients", f.maxRcpts, &s.MaxRecipients}} {
		if err := parseLimit(l.name, l.v, l.dst); err != nil {
			return err
		}
	}
	if f.quota != "" {
		q, err := parseSize(f.quota)
		if err != nil {
			return usagef("--quota: %v", err)
		}
		a.QuotaBytes = q
	}
	return nil
}

func userSet(e *env, f *userSettingsFlags) error {
	if *f == (userSettingsFlags{}) {
		return usagef("nothing to change: give at least one setting")
	}
	return e.withAccount(func(cfg *config.Config, st store.Store, a store.Account) error {
		if err := f.apply(&a, time.Now()); err != nil {
			return err
		}
		for _, name := range a.Settings.POP3Folders {
			if _, err := st.Folder(e.ctx, a.ID, name); err != nil {
				return fmt.Errorf("--pop3-folders: %s has no folder %q", a.Address, name)
			}
		}
		generated, err := f.applyAPOP(e, cfg, st, &a)
		if err != nil {
			return err
		}
		if err := st.UpdateAccount(e.ctx, a); err != nil {
			return err
		}
		v := viewOf(a)
		text := "settings of " + a.Address + " changed; they apply from the next login"
		if generated != "" {
			v.APOPSecret = generated
			text += "\napop secret: " + generated
		}
		if f.apop != "" && !cfg.POP3.APOP {
			fmt.Fprintln(e.stderr, "note: APOP is off on this server (pop3.apop = false); the secret is used once it is on")
		}
		return e.done(v, text)
	})
}

// applyAPOP sets or removes the account's APOP secret as --apop-secret
// says, and returns a generated secret to print.
func (f *userSettingsFlags) applyAPOP(e *env, cfg *config.Config, st store.Store, a *store.Account) (generated string, err error) {
	var secret string
	switch strings.ToLower(f.apop) {
	case "":
		return "", nil
	case "off", "false", "no", "0":
		a.Settings.APOPSecret = ""
		return "", nil
	case "true", "new", "generate":
		if secret, err = auth.GenerateAPOPSecret(); err != nil {
			return "", err
		}
		generated = secret
	case "stdin":
		if secret, err = e.readPassword(); err != nil {
			return "", fmt.Errorf("--apop-secret=stdin: %w", err)
		}
		if err := auth.CheckAPOPSecret(secret); err != nil {
			return "", usagef("--apop-secret: %v", err)
		}
		if auth.VerifyPassword(a.PasswordHash, secret) == nil {
			return "", usagef("--apop-secret: the APOP secret must not be the account's password")
		}
	default:
		return "", usagef("--apop-secret: alone, =stdin or =off, not %q", f.apop)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("data folder: %w", err)
	}
	key, err := loadSecretKey(e.ctx, dataDir, st)
	if err != nil {
		return "", err
	}
	if a.Settings.APOPSecret, err = key.Seal(secret, a.ID); err != nil {
		return "", err
	}
	return generated, nil
}

func aliasAdd(e *env) error {
	if len(e.args) < 2 {
		return usagef("name an alias and at least one target account")
	}
	return e.withStore(func(_ *config.Config, st store.Store) error {
		var ids []int64
		for _, t := range e.args[1:] {
			a, err := st.AccountByAddress(e.ctx, t)
			if err != nil {
				return fmt.Errorf("target %s: %w", t, err)
			}
			ids = append(ids, a.ID)
		}
		al, err := st.CreateAlias(e.ctx, e.args[0], ids)
		if err != nil {
			return err
		}
		return e.done(al, fmt.Sprintf("alias %s → %s added", al.Address, strings.Join(al.TargetAddresses, ", ")))
	})
}

func aliasList(e *env) error {
	domain := ""
	if len(e.args) > 1 {
		return usagef("name at most one domain")
	} else if len(e.args) == 1 {
		domain = e.args[0]
	}
	return e.withStore(func(_ *config.Config, st store.Store) error {
		als, err := st.Aliases(e.ctx, domain)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(nonNil(als))
		}
		for _, al := range als {
			fmt.Fprintf(e.stdout, "%s → %s\n", al.Address, strings.Join(al.TargetAddresses, ", "))
		}
		return nil
	})
}

func aliasRemove(e *env) error {
	return removeOne(e, "alias", func(st store.Store, name string) error { return st.DeleteAlias(e.ctx, name) })
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orNone returns s, or the first fallback (default "none") when s is empty.
func orNone(s string, fallback ...string) string {
	if s != "" {
		return s
	}
	if len(fallback) > 0 {
		return fallback[0]
	}
	return "none"
}

// parseSize reads a byte count as the config file does: a number of bytes
// or one with a unit such as 2GiB.
func parseSize(s string) (int64, error) {
	var sz config.Size
	if err := sz.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, err
	}
	if sz < 0 {
		return 0, fmt.Errorf("bad size %q: negative", s)
	}
	return sz.Bytes(), nil
}

// formatQuota prints a quota: 0 means unlimited.
func formatQuota(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return formatSize(n)
}

// formatSize prints bytes with a binary unit.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
