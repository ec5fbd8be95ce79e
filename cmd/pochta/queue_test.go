package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func TestDomainAddMakesDKIMKeysAndDNSRecords(t *testing.T) {
	dir := newConfigDir(t)
	if code, _, errOut := pochta(t, dir, "", "domain", "add", "a.example"); code != 0 {
		t.Fatalf("domain add: %d %s", code, errOut)
	}
	// The keys are in the store, sealed; no key files.
	stored := storedDKIMKeys(t, dir, "a.example")
	if len(stored) != 2 || stored[0].Algorithm != "ed25519" || stored[1].Algorithm != "rsa" {
		t.Fatalf("dkim keys in the store: %+v", stored)
	}
	for _, k := range stored {
		if strings.Contains(k.PrivateKey, "PRIVATE KEY") {
			t.Errorf("key %s stored unsealed", k.Selector)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "data", "dkim", "*", "*")); len(files) != 0 {
		t.Errorf("key files made: %v", files)
	}
	code, out, errOut := pochta(t, dir, "", "domain", "dns", "a.example")
	if code != 0 {
		t.Fatalf("domain dns: %d %s", code, errOut)
	}
	types := map[uint16]int{}
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, ";") {
			continue
		}
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("not a zone line: %q: %v", l, err)
		}
		types[rr.Header().Rrtype]++
	}
	if types[dns.TypeMX] != 1 || types[dns.TypeTXT] != 4 || types[dns.TypeSRV] != 6 {
		t.Errorf("records by type: %v\n%s", types, out)
	}
	for _, want := range []string{"k=ed25519", "k=rsa", "v=spf1", "_dmarc.a.example", "_submission._tcp.a.example", "mail.example.org."} {
		if !strings.Contains(out, want) {
			t.Errorf("domain dns lacks %q", want)
		}
	}
}

// A data folder whose secret.key went missing (a new node, a restore
// without it) must not get a fresh key that opens none of the sealed DKIM
// keys: the commands that need the key refuse, saying what to copy, and
// the stored keys stay as they were.
func TestSecretKeyMissingRefused(t *testing.T) {
	dir := newConfigDir(t)
	if code, _, errOut := pochta(t, dir, "", "domain", "add", "a.example"); code != 0 {
		t.Fatalf("domain add: %d %s", code, errOut)
	}
	before := storedDKIMKeys(t, dir, "a.example")
	keyFile := filepath.Join(dir, "data", "secret.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"domain", "dns", "a.example"},
		{"domain", "add", "b.example"},
	} {
		code, _, errOut := pochta(t, dir, "", args...)
		if code == 0 || !strings.Contains(errOut, "secret.key") || !strings.Contains(errOut, "copy") {
			t.Errorf("%v without secret.key: exit %d, %q; want a refusal naming the file to copy", args, code, errOut)
		}
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a new secret.key was made")
	}
	if after := storedDKIMKeys(t, dir, "a.example"); len(after) != len(before) || after[0].PrivateKey != before[0].PrivateKey {
		t.Errorf("stored keys changed: %d before, %d after", len(before), len(after))
	}
}

// storedDKIMKeys reads the DKIM keys of domain from the store of the
// data folder in dir.
func storedDKIMKeys(t *testing.T, dir, domain string) []store.DKIMKey {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.DKIMKeys(t.Context(), domain)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestDKIMKeyFilesImported: the key files of an earlier version are
// moved into the store by the first command that needs the keys, and the
// DNS records printed are those of the files' keys, so that the records
// already published stay right.
func TestDKIMKeyFilesImported(t *testing.T) {
	dir := newConfigDir(t)
	old, err := msgauth.NewKeys("a.example", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var wantRecs []string
	for _, k := range old {
		data, err := k.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "data", "dkim", "a.example"), 0o700)
		if err := os.WriteFile(filepath.Join(dir, "data", "dkim", "a.example", k.Selector+".key"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		rec, _ := k.Record()
		wantRecs = append(wantRecs, k.RecordName())
		wantRecs = append(wantRecs, rec[len(rec)-40:])
	}
	code, _, errOut := pochta(t, dir, "", "domain", "add", "a.example")
	if code != 0 {
		t.Fatalf("domain add: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "DKIM key file imported") || !strings.Contains(errOut, "selector=e202501") {
		t.Errorf("the import was not reported: %q", errOut)
	}
	code, out, errOut := pochta(t, dir, "", "domain", "dns", "a.example")
	if code != 0 {
		t.Fatalf("domain dns: %d %s", code, errOut)
	}
	if strings.Contains(errOut, "imported") {
		t.Errorf("imported again: %q", errOut)
	}
	for _, w := range wantRecs {
		if !strings.Contains(strings.ReplaceAll(out, "\" \"", ""), w) {
			t.Errorf("domain dns lacks %q of the key files:\n%s", w, out)
		}
	}
	if stored := storedDKIMKeys(t, dir, "a.example"); len(stored) != 2 || stored[0].Selector != "e202501" {
		t.Errorf("keys in the store: %+v", stored)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "dkim", "a.example", "r202501.key")); err != nil {
		t.Errorf("key file removed: %v", err)
	}
}

func TestDomainDNSPrintsMTASTS(t *testing.T) {
	dir := newConfigDir(t)
	f, err := os.OpenFile(filepath.Join(dir, "pochta.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("[queue]\nmta_sts_policy = \"enforce\"\n")
	f.Close()
	if code, _, errOut := pochta(t, dir, "", "domain", "add", "a.example"); code != 0 {
		t.Fatalf("domain add: %d %s", code, errOut)
	}
	code, out, errOut := pochta(t, dir, "", "domain", "dns", "a.example")
	if code != 0 {
		t.Fatalf("domain dns: %d %s", code, errOut)
	}
	want := msgauth.STSRecord(msgauth.OwnSTSPolicy("enforce", "mail.example.org").ID())
	for _, w := range []string{"_mta-sts.a.example.\t3600\tIN\tTXT\t\"" + want + "\"", "mta-sts.a.example.\t3600\tIN\tCNAME\tmail.example.org."} {
		if !strings.Contains(out, w) {
			t.Errorf("domain dns lacks %q:\n%s", w, out)
		}
	}
}

// TestQueueCommands runs the queue admin commands on the queue in the
// store.
func TestQueueCommands(t *testing.T) {
	dir := newConfigDir(t)
	ctx := context.Background()
	// list reads the queue from the store: open it beside the commands,
	// as the server would be.
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := delivery.StoreQueue{Store: st}
	id, err := q.Enqueue(ctx, delivery.QueueEnvelope{From: "a@a.example", To: []string{"b@b.example"},
		NextAttempt: time.Now().Add(time.Hour), LastError: "connection refused"}, strings.NewReader("Subject: queued one\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ := pochta(t, dir, "", "queue", "list"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "connection refused") {
		t.Errorf("queue list: %d %q", code, out)
	}
	code, out, _ := pochta(t, dir, "", "queue", "list", "--json")
	var envs []delivery.QueueEnvelope
	if code != 0 || json.Unmarshal([]byte(out), &envs) != nil || len(envs) != 1 || envs[0].ID != id {
		t.Errorf("queue list --json: %d %q", code, out)
	}
	if code, out, _ := pochta(t, dir, "", "queue", "show", id); code != 0 || !strings.Contains(out, "Subject: queued one") {
		t.Errorf("queue show: %d %q", code, out)
	}
	if code, _, _ := pochta(t, dir, "", "queue", "retry", id); code != 0 {
		t.Errorf("queue retry: %d", code)
	}
	envs, _ = q.List(ctx)
	if len(envs) != 1 || envs[0].NextAttempt.After(time.Now()) {
		t.Errorf("after retry: %+v", envs)
	}
	if code, _, _ := pochta(t, dir, "", "queue", "retry", "--all"); code != 0 {
		t.Errorf("queue retry --all: %d", code)
	}
	if code, _, errOut := pochta(t, dir, "", "queue", "drop", "ffff"); code == 0 || !strings.Contains(errOut, "no queued message") {
		t.Errorf("drop of an unknown id: %d %q", code, errOut)
	}
	if code, _, _ := pochta(t, dir, "", "queue", "drop", id); code != 0 {
		t.Errorf("queue drop: %d", code)
	}
	if code, out, _ := pochta(t, dir, "", "queue", "list"); code != 0 || !strings.Contains(out, "empty") {
		t.Errorf("queue list after drop: %d %q", code, out)
	}
}

// TestQueueFolderMigrated: messages in an old data_dir/queue folder are
// moved into the store, keeping their ids and envelopes, and leave the
// folder.
func TestQueueFolderMigrated(t *testing.T) {
	dir := newConfigDir(t)
	ctx := context.Background()
	old, err := delivery.OpenDirQueue(filepath.Join(dir, "data", "queue"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := old.Enqueue(ctx, delivery.QueueEnvelope{From: "a@a.example", To: []string{"b@b.example"}, Attempts: 4,
		NextAttempt: time.Now().Add(time.Hour), LastError: "421 later"}, strings.NewReader("Subject: old one\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 { // a second run finds nothing to move
		if _, err := delivery.MigrateDirQueue(ctx, filepath.Join(dir, "data", "queue"), st); err != nil {
			t.Fatal(err)
		}
	}
	envs, err := st.QueuedMessages(ctx)
	if err != nil || len(envs) != 1 || envs[0].ID != id || envs[0].Attempts != 4 || envs[0].LastError != "421 later" {
		t.Fatalf("store queue after migration: %+v %v", envs, err)
	}
	if left, _ := old.List(ctx); len(left) != 0 {
		t.Errorf("left in the folder: %+v", left)
	}
	if code, out, _ := pochta(t, dir, "", "queue", "show", id); code != 0 || !strings.Contains(out, "Subject: old one") {
		t.Errorf("queue show of a migrated message: %d %q", code, out)
	}
}
