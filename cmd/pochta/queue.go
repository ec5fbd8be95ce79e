package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/dnsrecords"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

// queueCommands are the outbound queue's admin commands and the DNS
// records of a domain.
func queueCommands() []*command {
	var all bool
	return []*command{
		{name: "queue list", summary: "list the messages waiting for delivery to other servers", run: queueList},
		{name: "queue show", usage: "ID", summary: "show a queued message's envelope, errors and header", run: queueShow},
		{
			name: "queue retry", usage: "ID | --all", summary: "try a queued message (or all) again now",
			flags: func(fs *flag.FlagSet) { fs.BoolVar(&all, "all", false, "retry every queued message") },
			run:   func(e *env) error { return queueRetry(e, all) },
		},
		{name: "queue drop", usage: "ID", summary: "delete a queued message without telling its sender", run: queueDrop},
		{name: "domain dns", usage: "NAME", summary: "print the DNS records (MX, SPF, DKIM, DMARC, SRV) to publish for a domain", run: domainDNS},
	}
}

// withQueue opens the configured store and runs fn on its queue.
func (e *env) withQueue(fn func(q delivery.Queue) error) error {
	return e.withStore(func(_ *config.Config, st store.Store) error {
		return fn(delivery.StoreQueue{Store: st})
	})
}

func queueList(e *env) error {
	return e.withQueue(func(q delivery.Queue) error { return queueListIn(e, q) })
}

func queueListIn(e *env, q delivery.Queue) error {
	envs, err := q.List(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(nonNil(envs))
	}
	if len(envs) == 0 {
		fmt.Fprintln(e.stdout, "the queue is empty")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tATTEMPTS\tNEXT\tFROM\tTO\tLAST ERROR")
	now := time.Now()
	for _, env := range envs {
		from := env.From
		if from == "" {
			from = "<>"
		}
		next := "now"
		if d := env.NextAttempt.Sub(now); d > 0 {
			next = "in " + d.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", env.ID, now.Sub(env.Created).Round(time.Second), env.Attempts, next,
			from, strings.Join(env.To, ","), env.LastError)
	}
	return tw.Flush()
}

// queuedEnvelope finds one message by id.
func queuedEnvelope(e *env, q delivery.Queue) (delivery.QueueEnvelope, error) {
	if len(e.args) != 1 {
		return delivery.QueueEnvelope{}, usagef("name one queued message id")
	}
	envs, err := q.List(e.ctx)
	if err != nil {
		return delivery.QueueEnvelope{}, err
	}
	for _, env := range envs {
		if env.ID == e.args[0] {
			return env, nil
		}
	}
	return delivery.QueueEnvelope{}, fmt.Errorf("no queued message %q", e.args[0])
}

func queueShow(e *env) error {
	return e.withQueue(func(q delivery.Queue) error { return queueShowIn(e, q) })
}

func queueShowIn(e *env, q delivery.Queue) error {
	env, err := queuedEnvelope(e, q)
	if err != nil {
		return err
	}
	body, err := q.Open(e.ctx, env.ID)
	if err != nil {
		return err
	}
	defer body.Close()
	head, err := io.ReadAll(io.LimitReader(body, 64<<10))
	if err != nil {
		return fmt.Errorf("read queued message %s: %w", env.ID, err)
	}
	head = head[:msgauth.HeaderEnd(head)]
	if e.json {
		return e.printJSON(struct {
			delivery.QueueEnvelope
			Header string `json:"header"`
		}{env, string(head)})
	}
	fmt.Fprintf(e.stdout, "id:           %s\nfrom:         <%s>\nto:           %s\ncreated:      %s\nattempts:     %d\nnext attempt: %s\n",
		env.ID, env.From, strings.Join(env.To, ", "), env.Created.Format(time.RFC3339), env.Attempts, env.NextAttempt.Format(time.RFC3339))
	if env.LastError != "" {
		fmt.Fprintf(e.stdout, "last error:   %s\n", env.LastError)
	}
	for rc, msg := range env.RcptErrors {
		fmt.Fprintf(e.stdout, "  %s: %s\n", rc, msg)
	}
	fmt.Fprintf(e.stdout, "\n%s", strings.ReplaceAll(string(head), "\r\n", "\n"))
	return nil
}

func queueRetry(e *env, all bool) error {
	return e.withQueue(func(q delivery.Queue) error { return queueRetryIn(e, q, all) })
}

func queueRetryIn(e *env, q delivery.Queue, all bool) error {
	var err error
	var envs []delivery.QueueEnvelope
	if all {
		if len(e.args) != 0 {
			return usagef("give an id or --all, not both")
		}
		if envs, err = q.List(e.ctx); err != nil {
			return err
		}
	} else {
		env, err := queuedEnvelope(e, q)
		if err != nil {
			return err
		}
		envs = []delivery.QueueEnvelope{env}
	}
	var ids []string
	now := time.Now().UTC()
	for _, env := range envs {
		if env.LeaseOwner != "" && env.LeaseUntil.After(now) {
			continue // being attempted right now
		}
		env.NextAttempt = now
		if err := q.Update(e.ctx, env); err != nil {
			return err
		}
		ids = append(ids, env.ID)
	}
	return e.done(map[string]any{"retry": nonNil(ids)}, fmt.Sprintf("%d message(s) will be tried again within seconds", len(ids)))
}

func queueDrop(e *env) error {
	return e.withQueue(func(q delivery.Queue) error { return queueDropIn(e, q) })
}

func queueDropIn(e *env, q delivery.Queue) error {
	env, err := queuedEnvelope(e, q)
	if err != nil {
		return err
	}
	if err := q.Remove(e.ctx, env.ID); err != nil {
		return err
	}
	return e.done(map[string]string{"dropped": env.ID}, "queued message "+env.ID+" dropped")
}

// dkimKeys returns the DKIM keys kept in the store, sealed with the
// server key data_dir/secret.key (made when missing; every node of a
// shared store needs the same file). Key files that earlier versions kept
// under data_dir/dkim are imported into the store first (once: later runs
// find them there); the files stay. log receives what was imported.
func dkimKeys(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*msgauth.StoreKeys, error) {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	key, err := loadSecretKey(ctx, dataDir, st)
	if err != nil {
		return nil, fmt.Errorf("DKIM keys: %w", err)
	}
	keys := msgauth.NewStoreKeys(st, key, 0, log)
	dir := filepath.Join(dataDir, "dkim")
	imported, err := keys.Import(ctx, msgauth.KeyDir{Dir: dir})
	for _, k := range imported {
		log.Info("DKIM key file imported into the store (the file is no longer used)", "domain", k.Domain, "selector", k.Selector,
			"algorithm", k.Algorithm(), "file", filepath.Join(dir, k.Domain, k.Selector+".key"))
	}
	if err != nil {
		// A damaged file must not stop the keys in the store from
		// signing.
		log.Error("DKIM key files not imported", "folder", dir, "err", err)
	}
	return keys, nil
}

func domainDNS(e *env) error {
	return e.withDomain(func(cfg *config.Config, st store.Store, d store.Domain) error {
		// Domains added before DKIM existed get their keys now.
		keys, err := makeDKIMKeys(e, cfg, st, d.Name)
		if err != nil {
			return err
		}
		recs, err := dnsrecords.For(dnsrecords.Params{Domain: d.Name, Host: cfg.Hostname, Keys: keys,
			Ports: dnsrecords.Ports(cfg.Listeners()), MTASTSMode: cfg.Queue.MTASTSPolicy})
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(recs)
		}
		if u := store.DisplayDomain(d.Name); u != d.Name {
			fmt.Fprintf(e.stdout, "; %s is %s in DNS (IDNA A-labels)\n", u, d.Name)
		}
		for _, r := range recs {
			if r.Note != "" {
				fmt.Fprintf(e.stdout, "; %s\n", r.Note)
			}
			fmt.Fprintln(e.stdout, r.Zone)
		}
		return nil
	})
}

// makeDKIMKeys makes the DKIM keys of a new domain in the store, or
// returns those it has.
func makeDKIMKeys(e *env, cfg *config.Config, st store.Store, domain string) ([]msgauth.Key, error) {
	dk, err := dkimKeys(e.ctx, cfg, st, slog.New(slog.NewTextHandler(e.stderr, nil)))
	if err != nil {
		return nil, err
	}
	keys, err := dk.Generate(e.ctx, domain, time.Now())
	if err != nil {
		return nil, fmt.Errorf("DKIM keys of %s not made: %w", domain, err)
	}
	return keys, nil
}

// loadSecretKey reads data_dir/secret.key, the key that seals DKIM private
// keys and APOP secrets in the store. A missing file is made afresh only
// for a store that holds nothing sealed yet: a node whose operator forgot
// to copy the file from the first node, or a data folder restored without
// it, would otherwise start with a new key that opens none of the stored
// secrets and hold every signed message in the queue.
func loadSecretKey(ctx context.Context, dataDir string, st store.Store) (*auth.SecretKey, error) {
	path := filepath.Join(dataDir, auth.SecretKeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		sealed, err := st.DKIMKeys(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("server secret key: %w", err)
		}
		if len(sealed) > 0 {
			return nil, fmt.Errorf("server secret key %s is missing, but the store holds DKIM keys sealed with it "+
				"(%d, first of %s): copy secret.key from the data folder of the server that made them; "+
				"a new key would open none of them", path, len(sealed), sealed[0].Domain)
		}
	}
	return auth.LoadSecretKey(dataDir)
}
