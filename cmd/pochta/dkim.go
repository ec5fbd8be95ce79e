package main

import (
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/dnsrecords"
	"github.com/pochta-mail/pochta/internal/store"
)

// dkimCommands list and rotate the DKIM keys of local domains.
//
// A rotation goes: `dkim rotate DOMAIN` makes new keys that do not sign
// and prints their DNS records; once the records are published, `dkim
// activate DOMAIN NEW...` makes them sign and `dkim retire DOMAIN OLD...`
// stops the old ones. Retired keys stay in the store (and in `domain
// dns`), so that their records can stay published while signatures made
// with them are still being checked. A running server sees a change
// within a minute (its key cache).
func dkimCommands() []*command {
	return []*command{
		{name: "dkim list", usage: "[DOMAIN]", summary: "list the DKIM keys of a domain (or of all), signing or not", run: dkimList},
		{name: "dkim rotate", usage: "DOMAIN", summary: "make new DKIM keys that do not sign yet and print their DNS records", run: dkimRotate},
		{name: "dkim activate", usage: "DOMAIN SELECTOR...", summary: "make DKIM keys sign (after their DNS records are published)",
			run: func(e *env) error { return dkimSetActive(e, true) }},
		{name: "dkim retire", usage: "DOMAIN SELECTOR...", summary: "stop DKIM keys from signing (they stay listed)",
			run: func(e *env) error { return dkimSetActive(e, false) }},
	}
}

func dkimList(e *env) error {
	if len(e.args) > 1 {
		return usagef("name at most one domain")
	}
	domain := ""
	if len(e.args) == 1 {
		domain = e.args[0]
	}
	return e.withStore(func(_ *config.Config, st store.Store) error {
		keys, err := st.DKIMKeys(e.ctx, domain)
		if err != nil {
			return err
		}
		if e.json {
			type key struct {
				Domain    string    `json:"domain"`
				Selector  string    `json:"selector"`
				Algorithm string    `json:"algorithm"`
				Created   time.Time `json:"created"`
				Signing   bool      `json:"signing"`
			}
			out := make([]key, 0, len(keys))
			for _, k := range keys {
				out = append(out, key{k.Domain, k.Selector, k.Algorithm, k.Created, k.Active})
			}
			return e.printJSON(out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tSELECTOR\tALGORITHM\tCREATED\tSIGNING")
		for _, k := range keys {
			signing := "yes"
			if !k.Active {
				signing = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Domain, k.Selector, k.Algorithm, k.Created.UTC().Format(time.DateOnly), signing)
		}
		return tw.Flush()
	})
}

func dkimRotate(e *env) error {
	return e.withDomain(func(cfg *config.Config, st store.Store, d store.Domain) error {
		dk, err := dkimKeys(e.ctx, cfg, st, slog.New(slog.NewTextHandler(e.stderr, nil)))
		if err != nil {
			return err
		}
		made, err := dk.Rotate(e.ctx, d.Name, time.Now())
		if err != nil {
			return err
		}
		recs, err := dnsrecords.DKIM(made)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(recs)
		}
		fmt.Fprintf(e.stdout, "; new DKIM keys of %s, not signing yet: publish these records, then run\n", d.Name)
		fmt.Fprintf(e.stdout, ";   pochta dkim activate %s", d.Name)
		for _, k := range made {
			fmt.Fprintf(e.stdout, " %s", k.Selector)
		}
		fmt.Fprintf(e.stdout, "\n; and retire the old keys (pochta dkim list %s) with pochta dkim retire.\n", d.Name)
		for _, r := range recs {
			fmt.Fprintln(e.stdout, r.Zone)
		}
		return nil
	})
}

func dkimSetActive(e *env, active bool) error {
	if len(e.args) < 2 {
		return usagef("name a domain and at least one selector")
	}
	return e.withStore(func(cfg *config.Config, st store.Store) error {
		d, err := st.Domain(e.ctx, e.args[0])
		if err != nil {
			return err
		}
		for _, sel := range e.args[1:] {
			if err := st.SetDKIMKeyActive(e.ctx, d.Name, sel, active); err != nil {
				return fmt.Errorf("DKIM key %s of %s: %w", sel, d.Name, err)
			}
		}
		keys, err := st.DKIMKeys(e.ctx, d.Name)
		if err != nil {
			return err
		}
		signing := 0
		for _, k := range keys {
			if k.Active {
				signing++
			}
		}
		if signing == 0 {
			fmt.Fprintf(e.stderr, "warning: %s has no signing DKIM key now; its mail leaves unsigned and may fail DMARC\n", d.Name)
		}
		return nil
	})
}
