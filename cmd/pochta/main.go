// Command pochta is the mail server and its administration tool: one binary
// that serves SMTP, POP3, IMAP and the settings pages, and manages domains,
// accounts and aliases (also while the server runs).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// exitUsage is the exit status for a command line that makes no sense.
const exitUsage = 2

// usageError is a mistake in the command line; main prints it with the
// command's usage and exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// env is what every command gets: its arguments, where to write, and the
// common flags.
type env struct {
	ctx        context.Context
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	configPath string
	json       bool
	args       []string
}

// command is one sub-command of pochta.
type command struct {
	name    string
	summary string
	usage   string
	// flags adds the command's own flags; may be nil.
	flags func(fs *flag.FlagSet)
	run   func(e *env) error
}

// commands returns the command table. Sub-commands with their own verbs
// (domain add, user list, …) are named with a space.
func commands() []*command {
	var cmds []*command
	cmds = append(cmds, serveCommands()...)
	cmds = append(cmds, adminCommands()...)
	cmds = append(cmds, queueCommands()...)
	cmds = append(cmds, dkimCommands()...)
	cmds = append(cmds, migrateCommands()...)
	return cmds
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	// Find the longest command name matching the first words.
	var cmd *command
	var rest []string
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			if cmd == nil || len(words) > len(strings.Fields(cmd.name)) {
				cmd, rest = c, args[len(words):]
			}
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "pochta: unknown command %q\n\n", strings.Join(args, " "))
		printHelp(stderr, cmds)
		return exitUsage
	}
	fs := flag.NewFlagSet("pochta "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	fs.StringVar(&e.configPath, "config", os.Getenv("POCHTA_CONFIG"), "configuration `file` (default $POCHTA_CONFIG, else ./pochta-data/pochta.toml if it exists)")
	fs.BoolVar(&e.json, "json", false, "print JSON for scripts")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: pochta %s %s\n%s\n\nflags:\n", cmd.name, cmd.usage, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(interleave(fs, rest)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	e.args = fs.Args()
	if err := cmd.run(e); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "pochta %s: %s\n", cmd.name, ue.msg)
			fs.Usage()
			return exitUsage
		}
		fmt.Fprintf(stderr, "pochta %s: %s\n", cmd.name, err)
		return 1
	}
	return 0
}

// interleave moves flags after positional arguments to the front, so that
// "pochta user add a@b --password-stdin" works like Go's flag package
// expects ("--password-stdin a@b").
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			// A non-boolean flag takes the next word as its value.
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
					if i+1 < len(args) {
						flags = append(flags, args[i+1])
						i++
					}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func printHelp(w io.Writer, cmds []*command) {
	fmt.Fprintln(w, "usage: pochta COMMAND [flags] [arguments]")
	fmt.Fprintln(w, "\ncommands:")
	sorted := append([]*command(nil), cmds...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (or $POCHTA_CONFIG) and --json.")
}

// defaultConfigPath is used when neither --config nor POCHTA_CONFIG is set.
const defaultConfigPath = "pochta-data/pochta.toml"

// loadConfig reads the configuration the command line names, or the
// quick-start one in ./pochta-data, or the defaults.
func (e *env) loadConfig() (*config.Config, error) {
	path := e.configPath
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		}
	}
	if path == "" {
		return config.Default(), nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// openStore opens the configured store for an admin command.
func (e *env) openStore(cfg *config.Config) (store.Store, error) {
	return openConfiguredStore(e.ctx, cfg, nil, false)
}

// openConfiguredStore opens the store the config names. Only the serving
// process may remove orphaned body files (removeOrphans): an admin
// command running beside it would take a delivery in progress for one.
func openConfiguredStore(ctx context.Context, cfg *config.Config, log *slog.Logger, removeOrphans bool) (store.Store, error) {
	switch cfg.Store.Backend {
	case config.BackendSQLite, "":
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		return sqlite.Open(ctx, sqlite.Options{Dir: dir, Logger: log, RemoveOrphans: removeOrphans})
	case config.BackendPostgres:
		return postgres.Open(ctx, postgres.Options{DSN: cfg.Store.DSN, Logger: log})
	}
	return nil, fmt.Errorf("unknown store backend %q", cfg.Store.Backend)
}

// withStore loads the config, opens the store, runs fn and closes it.
func (e *env) withStore(fn func(cfg *config.Config, st store.Store) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	st, err := e.openStore(cfg)
	if err != nil {
		return err
	}
	err = fn(cfg, st)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	return err
}

// withDomain is withStore for the commands whose one argument names a
// domain: fn gets that domain.
func (e *env) withDomain(fn func(cfg *config.Config, st store.Store, d store.Domain) error) error {
	if len(e.args) != 1 {
		return usagef("name one domain")
	}
	return e.withStore(func(cfg *config.Config, st store.Store) error {
		d, err := st.Domain(e.ctx, e.args[0])
		if err != nil {
			return err
		}
		return fn(cfg, st, d)
	})
}

// withAccount is withStore for the commands whose one argument names an
// account: fn gets that account.
func (e *env) withAccount(fn func(cfg *config.Config, st store.Store, a store.Account) error) error {
	if len(e.args) != 1 {
		return usagef("name one address")
	}
	return e.withStore(func(cfg *config.Config, st store.Store) error {
		a, err := st.AccountByAddress(e.ctx, e.args[0])
		if err != nil {
			return err
		}
		return fn(cfg, st, a)
	})
}

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
