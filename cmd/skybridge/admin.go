package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/migrations"
	"github.com/skybridgehq/skybridge/store"
)

// openSystem opens the configured store and its migrated system database.
func openSystem(ctx context.Context, cfg server.Config, log *slog.Logger) (store.Provider, store.DB, error) {
	p, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("open system database: %w", err)
	}
	if _, err := migrations.Run(ctx, sys, migrations.System(), log); err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, sys, nil
}

func cmdMigrate(ctx context.Context, env cmdEnv, args []string) error {
	cfg, log, err := setup(flag.NewFlagSet("migrate", flag.ContinueOnError), env, args)
	if err != nil {
		return err
	}
	p, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		return fmt.Errorf("open system database: %w", err)
	}
	applied, err := migrations.Run(ctx, sys, migrations.System(), log)
	for _, id := range applied {
		fmt.Fprintln(env.stdout, "applied", id)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(env.stdout, "%s store is up to date\n", p.Kind())
	}
	return nil
}

func cmdAdmin(ctx context.Context, env cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: admin create --email E --password P [--role owner|developer|viewer]", errUsage)
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	email := fs.String("email", "", "the admin's email (required)")
	password := fs.String("password", "", "the admin's password, at least 12 characters (required)")
	role := fs.String("role", "", "owner, developer or viewer (default: owner for the first admin, else developer)")
	cfg, log, err := setup(fs, env, args[1:])
	if err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" || *password == "" {
		return fmt.Errorf("%w: --email and --password are required", errUsage)
	}
	if *role != "" && !auth.ValidRole(*role) {
		return fmt.Errorf("%w: --role must be %s, %s or %s", errUsage, auth.RoleOwner, auth.RoleDeveloper, auth.RoleViewer)
	}
	kr, err := server.OpenKeyring(cfg, log)
	if err != nil {
		return err
	}
	p, sys, err := openSystem(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer p.Close()
	svc := auth.NewService(sys, kr, auth.Config{Logger: log})
	if *role == "" || *role == auth.RoleOwner {
		created, err := svc.BootstrapAdmin(ctx, *email, *password)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(env.stdout, "created owner %s\n", *email)
			return nil
		}
		if *role == "" {
			*role = auth.RoleDeveloper
		}
	}
	a, err := svc.CreateAdmin(ctx, *email, *password, *role)
	if errors.Is(err, auth.ErrExists) {
		return fmt.Errorf("an admin with email %s already exists", *email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "created %s %s\n", a.Role, a.Email)
	return nil
}
