package pop3

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

const refusedByDelay = "-ERR [LOGIN-DELAY] Wait 3600 seconds between logins"

// tryLogin logs in on a new connection and returns the PASS response,
// quitting when it succeeded.
func (e *testEnv) tryLogin() string {
	e.t.Helper()
	c := e.dial()
	if r := c.cmd("USER " + testUser); !strings.HasPrefix(r, "+OK") {
		e.t.Fatalf("USER: %q", r)
	}
	r := c.cmd("PASS " + testPassword)
	if strings.HasPrefix(r, "+OK") {
		if q := c.cmd("QUIT"); !strings.HasPrefix(q, "+OK") {
			e.t.Fatalf("QUIT: %q", q)
		}
	}
	return r
}

// TestLoginDelaySurvivesRestart: the last login is kept in the store, so
// a server started again on it (a restarted process) still refuses a
// login within the delay.
func TestLoginDelaySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *sqlite.Store {
		st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	e := newEnvOn(t, st, dir, envConfig{allowPlaintext: true, loginDelay: time.Hour})
	if r := e.tryLogin(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("first login: %q", r)
	}
	e.cancel()
	<-e.served
	st.Close()

	st2 := open()
	t.Cleanup(func() { st2.Close() })
	e2 := newEnvOn(t, st2, dir, envConfig{allowPlaintext: true, loginDelay: time.Hour})
	if r := e2.tryLogin(); r != refusedByDelay {
		t.Fatalf("login after a restart, within the delay: %q", r)
	}
}

// TestLoginDelayEnds: a login the delay after the last one is let in, and
// refused attempts in between do not push it further away.
func TestLoginDelayEnds(t *testing.T) {
	const delay = 2 * time.Second
	e := newEnv(t, envConfig{allowPlaintext: true, loginDelay: delay})
	if r := e.tryLogin(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("first login: %q", r)
	}
	first := time.Now() // the login was recorded before this
	if r := e.tryLogin(); r != "-ERR [LOGIN-DELAY] Wait 2 seconds between logins" {
		t.Fatalf("second login at once: %q", r)
	}
	time.Sleep(time.Until(first.Add(delay)))
	if r := e.tryLogin(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login after the delay: %q", r)
	}
}

// pgStores opens n stores (n nodes) on one fresh database of the test
// PostgreSQL server; the test is skipped without one.
func pgStores(t *testing.T, n int) []*postgres.Store {
	return pgtest.Stores(t, "pop3", n)
}

// TestLoginDelayAcrossNodes: two POP3 servers (two nodes) on one
// PostgreSQL store; after a login on one, an immediate login on the other
// is refused with LOGIN-DELAY, and so is one back on the first.
func TestLoginDelayAcrossNodes(t *testing.T) {
	stores := pgStores(t, 2)
	cfg := envConfig{allowPlaintext: true, loginDelay: time.Hour}
	node1 := newEnvOn(t, stores[0], t.TempDir(), cfg)
	node2 := newEnvOn(t, stores[1], t.TempDir(), cfg)
	if r := node1.tryLogin(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login on node 1: %q", r)
	}
	if r := node2.tryLogin(); r != refusedByDelay {
		t.Fatalf("login on node 2 right after node 1: %q", r)
	}
	if r := node1.tryLogin(); r != refusedByDelay {
		t.Fatalf("login on node 1 again: %q", r)
	}
}
