package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
)

// errBroken makes `audit verify` exit non-zero after printing its report.
var errBroken = errors.New("the audit trail is broken")

func cmdAudit(ctx context.Context, env cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: audit verify [--app ID]", errUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	appID := fs.String("app", "", "verify only this app's environments (default: every app and the system chain)")
	cfg, log, err := setup(fs, env, args[1:])
	if err != nil {
		return err
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
	key, err := server.AuditKey(cfg, kr)
	if err != nil {
		return err
	}
	svc, err := audit.NewService(sys, audit.Config{Key: key, Logger: log})
	if err != nil {
		return err
	}
	var chains []string
	users := auth.NewService(sys, kr, auth.Config{Logger: log})
	if *appID != "" {
		app, err := users.GetApp(ctx, *appID)
		if err != nil {
			return fmt.Errorf("app %s: %w", *appID, err)
		}
		for _, e := range app.Environments {
			chains = append(chains, audit.ChainOf(app.ID, e.Name))
		}
	} else {
		apps, err := users.ListApps(ctx)
		if err != nil {
			return err
		}
		chains = append(chains, audit.SystemChain)
		for _, app := range apps {
			for _, e := range app.Environments {
				chains = append(chains, audit.ChainOf(app.ID, e.Name))
			}
		}
	}
	broken := false
	for _, c := range chains {
		rep, err := svc.Verify(ctx, c)
		if err != nil {
			return fmt.Errorf("verify %s: %w", c, err)
		}
		if rep.OK {
			fmt.Fprintf(env.stdout, "ok      %s: %d records (%d..%d), %d checkpoints\n", c, rep.Records, rep.First, rep.Last, rep.Checkpoints)
			continue
		}
		broken = true
		fmt.Fprintf(env.stdout, "BROKEN  %s: record %d (%s): %s — %s\n", c, rep.Break.N, rep.Break.ID, rep.Break.Kind, rep.Break.Reason)
	}
	if broken {
		return errBroken
	}
	return nil
}
