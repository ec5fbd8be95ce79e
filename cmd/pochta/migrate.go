package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store/migrate"
)

// migrateCommands copy the store to another backend.
func migrateCommands() []*command {
	var to, dsn string
	return []*command{{
		name: "migrate-store", usage: "--to postgres --dsn DSN",
		summary: "copy the embedded (SQLite) store into an empty PostgreSQL database, keeping every id; stop the server first",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&to, "to", "", `the backend to copy to: "postgres"`)
			fs.StringVar(&dsn, "dsn", "", "the PostgreSQL connection string")
		},
		run: func(e *env) error { return migrateStore(e, to, dsn) },
	}}
}

func migrateStore(e *env, to, dsn string) error {
	if to != config.BackendPostgres {
		return usagef("give --to postgres")
	}
	if dsn == "" {
		return usagef("give --dsn with the PostgreSQL connection string")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if cfg.Store.Backend != config.BackendSQLite && cfg.Store.Backend != "" {
		return fmt.Errorf("the configured store is %q already; migrate-store copies the SQLite store", cfg.Store.Backend)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	counts := map[string]int64{}
	err = migrate.ToPostgres(e.ctx, dir, dsn, func(table string, rows int64, done bool) {
		if done {
			counts[table] = rows
			if !e.json {
				fmt.Fprintf(e.stdout, "%-14s %d rows copied\n", table, rows)
			}
		} else if !e.json {
			fmt.Fprintf(e.stdout, "%-14s %d rows…\n", table, rows)
		}
	})
	if err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	return e.done(map[string]any{"copied": counts},
		"done: set [store] backend = \"postgres\" and dsn in the config, then start pochta")
}
