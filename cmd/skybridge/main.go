// Command skybridge is the Skybridge server: a mobile backend-as-a-service in
// one binary. Run `skybridge serve` to start it with zero configuration, or
// `skybridge help` for the other subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// errUsage marks a command line that could not be understood (exit 2).
var errUsage = errors.New("usage")

type command struct {
	name, summary string
	run           func(ctx context.Context, env cmdEnv, args []string) error
}

// cmdEnv is what every subcommand gets: the process environment and its
// output streams.
type cmdEnv struct {
	environ        []string
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"serve", "run the server (HTTP API; embedded store, cache and broker by default)", cmdServe},
		{"migrate", "apply pending store migrations and exit", cmdMigrate},
		{"admin", "manage admins: admin create --email E --password P", cmdAdmin},
		{"flows", "check a flow bundle (flows validate DIR) or deploy one with a deploy token: flows deploy|promote|rollback|list --url URL --app APP --env ENV", cmdFlows},
		{"audit", "check the audit trail: audit verify [--app ID] (exits 1 on a broken chain)", cmdAudit},
		{"version", "print the version", func(_ context.Context, e cmdEnv, _ []string) error {
			fmt.Fprintln(e.stdout, "skybridge", server.Version)
			return nil
		}},
	}
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	env := cmdEnv{environ: environ, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil || errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintln(stderr, "skybridge:", err)
			return 2
		default:
			fmt.Fprintln(stderr, "skybridge:", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "skybridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Skybridge — a mobile backend in one binary.\n\nUsage: skybridge <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command reads skybridge.yaml (or --config FILE) and SKYBRIDGE_* variables;\n`skybridge serve --help` lists them with their defaults.")
}

// configFlags registers --config on fs and returns a loader for after
// parsing.
func configFlags(fs *flag.FlagSet, env cmdEnv) func() (server.Config, error) {
	path := fs.String("config", "", "configuration file (default: skybridge.yaml when present)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: skybridge %s [flags]\n\nFlags:\n", fs.Name())
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nConfiguration (environment variables override skybridge.yaml):")
		server.WriteConfigHelp(fs.Output())
	}
	return func() (server.Config, error) {
		if *path != "" {
			return server.LoadConfig(*path, true, env.environ)
		}
		return server.LoadConfig("skybridge.yaml", false, env.environ)
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// setup parses a subcommand's flags (fs may already hold its own) and
// loads the configuration and logger every subcommand shares.
func setup(fs *flag.FlagSet, env cmdEnv, args []string) (server.Config, *slog.Logger, error) {
	fs.SetOutput(env.stdout)
	load := configFlags(fs, env)
	if err := parse(fs, args); err != nil {
		return server.Config{}, nil, err
	}
	cfg, err := load()
	if err != nil {
		return server.Config{}, nil, err
	}
	return cfg, newLogger(cfg, env.stderr), nil
}

func newLogger(cfg server.Config, w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.Level()}))
}

func cmdServe(ctx context.Context, env cmdEnv, args []string) error {
	cfg, log, err := setup(flag.NewFlagSet("serve", flag.ContinueOnError), env, args)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	node, err := server.Open(openCtx, cfg, log, server.Options{})
	cancel()
	if err != nil {
		return err
	}
	if err := node.Start(); err != nil {
		_ = node.Shutdown(context.Background())
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("signal received, shutting down", "grace", cfg.ShutdownGrace.String())
	case err := <-node.Done():
		_ = node.Shutdown(context.Background())
		return fmt.Errorf("HTTP server stopped: %w", err)
	}
	return node.Shutdown(context.Background())
}
