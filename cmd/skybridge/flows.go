package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/orchestration"
)

// `skybridge flows` drives deployments from CI pipelines over the admin
// API, with a deploy token (--token or SKYBRIDGE_DEPLOY_TOKEN);
// `flows validate DIR` checks a bundle locally, without a server.

// errFlowsFailed makes a flows subcommand exit 1 after it printed why.
var errFlowsFailed = errors.New("refused")

// flowsUsage lists the subcommands.
const flowsUsage = "flows validate DIR | flows deploy|promote|rollback|list --url URL --token TOKEN --app APP --env ENV ..."

func cmdFlows(ctx context.Context, env cmdEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, flowsUsage)
	}
	sub, rest := args[0], args[1:]
	if sub == "validate" {
		return validateFlows(env, rest)
	}
	fs := flag.NewFlagSet("flows "+sub, flag.ContinueOnError)
	fs.SetOutput(env.stdout)
	c := flowsClient{http: &http.Client{Timeout: 2 * time.Minute}, stdout: env.stdout, stderr: env.stderr}
	fs.StringVar(&c.base, "url", "", "the Skybridge server, e.g. https://skybridge.example.com (required)")
	fs.StringVar(&c.token, "token", "", "a deploy token (default: $SKYBRIDGE_DEPLOY_TOKEN)")
	fs.StringVar(&c.app, "app", "", "the app id (required)")
	fs.StringVar(&c.env, "env", "", "the environment (for promote: the one to promote from) (required)")
	var (
		version int
		to      string
		limit   int
	)
	switch sub {
	case "deploy":
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: skybridge flows deploy [flags] DIR\n\nDeploys every *.yaml and *.yml under DIR.\n\nFlags:\n")
			fs.PrintDefaults()
		}
	case "promote":
		fs.IntVar(&version, "version", 0, "the version of --env to promote (required)")
		fs.StringVar(&to, "to", "", "the environment to promote into (required)")
	case "rollback":
	case "list":
		fs.IntVar(&limit, "limit", 20, "how many versions to list, newest first")
	default:
		return fmt.Errorf("%w: unknown flows command %q; %s", errUsage, sub, flowsUsage)
	}
	positional, err := parseInterleaved(fs, rest)
	if err != nil {
		return err
	}
	if c.token == "" {
		c.token = lookupEnv(env.environ, "SKYBRIDGE_DEPLOY_TOKEN")
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--url", c.base}, {"--token (or SKYBRIDGE_DEPLOY_TOKEN)", c.token}, {"--app", c.app}, {"--env", c.env}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: flows %s needs %s", errUsage, sub, strings.Join(missing, ", "))
	}
	c.base = strings.TrimRight(c.base, "/")
	switch sub {
	case "deploy":
		if len(positional) != 1 {
			return fmt.Errorf("%w: flows deploy [flags] DIR", errUsage)
		}
		return c.deploy(ctx, positional[0])
	case "promote":
		if version < 1 || to == "" {
			return fmt.Errorf("%w: flows promote needs --version N and --to ENV", errUsage)
		}
		if len(positional) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, positional[0])
		}
		return c.promote(ctx, version, to)
	case "rollback":
		if len(positional) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, positional[0])
		}
		return c.rollback(ctx)
	default:
		if len(positional) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, positional[0])
		}
		return c.list(ctx, limit)
	}
}

// parseInterleaved parses flags before and after positional arguments
// (`deploy DIR --env prod` as well as `deploy --env prod DIR`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func lookupEnv(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// readBundle reads every *.yaml and *.yml file under dir (skipping hidden
// directories such as .git), keyed by its path relative to dir with
// forward slashes.
func readBundle(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read bundle %s: no *.yaml or *.yml files", dir)
	}
	return files, nil
}

// flowsClient calls the admin API's deployment routes.
type flowsClient struct {
	http                  *http.Client
	base, token, app, env string
	stdout, stderr        io.Writer
}

// deploymentOut is what the CLI reads of a deployment.
type deploymentOut struct {
	Version   int       `json:"version"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"createdAt"`
	Source    string    `json:"source"`
	Live      bool      `json:"live"`
	Origin    *struct {
		Env     string `json:"env"`
		Version int    `json:"version"`
	} `json:"origin"`
	Changes struct {
		Added, Removed, Changed []struct{ Kind, Name string }
	} `json:"changes"`
}

func (d deploymentOut) summary() string {
	var parts []string
	for _, c := range []struct {
		sign string
		refs []struct{ Kind, Name string }
	}{{"+", d.Changes.Added}, {"-", d.Changes.Removed}, {"~", d.Changes.Changed}} {
		for _, r := range c.refs {
			parts = append(parts, c.sign+r.Kind+"/"+r.Name)
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, " ")
}

func (c *flowsClient) envPath(env, rest string) string {
	return c.base + "/admin/api/apps/" + url.PathEscape(c.app) + "/environments/" + url.PathEscape(env) + rest
}

func (c *flowsClient) deploy(ctx context.Context, dir string) error {
	files, err := readBundle(dir)
	if err != nil {
		return err
	}
	var d deploymentOut
	if err := c.do(ctx, http.MethodPost, c.envPath(c.env, "/deployments"), map[string]any{"files": files}, &d); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deployed %d files to %s as version %d: %s\n", len(files), c.env, d.Version, d.summary())
	return nil
}

func (c *flowsClient) promote(ctx context.Context, version int, to string) error {
	var d deploymentOut
	if err := c.do(ctx, http.MethodPost, c.envPath(c.env, "/deployments/"+strconv.Itoa(version)+"/promote"), map[string]string{"to": to}, &d); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "promoted %s version %d to %s as version %d: %s\n", c.env, version, to, d.Version, d.summary())
	return nil
}

func (c *flowsClient) rollback(ctx context.Context) error {
	var d deploymentOut
	if err := c.do(ctx, http.MethodPost, c.envPath(c.env, "/rollback"), nil, &d); err != nil {
		return err
	}
	restored := 0
	if d.Origin != nil {
		restored = d.Origin.Version
	}
	fmt.Fprintf(c.stdout, "rolled %s back to version %d as version %d: %s\n", c.env, restored, d.Version, d.summary())
	return nil
}

func (c *flowsClient) list(ctx context.Context, limit int) error {
	var page struct{ Items []deploymentOut }
	if err := c.do(ctx, http.MethodGet, c.envPath(c.env, "/deployments?limit="+strconv.Itoa(max(1, min(limit, 1000)))), nil, &page); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tLIVE\tSOURCE\tWHEN\tWHO\tCHANGES")
	for _, d := range page.Items {
		live := ""
		if d.Live {
			live = "*"
		}
		source := d.Source
		if d.Origin != nil {
			source += fmt.Sprintf(" (%s v%d)", d.Origin.Env, d.Origin.Version)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Version, live, source, d.CreatedAt.UTC().Format(time.RFC3339), d.Actor, d.summary())
	}
	return tw.Flush()
}

// problemOut is what the CLI reads of a problem answer.
type problemOut struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Title  string `json:"title"`
	Errors []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Field   string `json:"field"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"errors"`
}

// do sends one request with the deploy token and decodes a 2xx answer
// into out; a problem is printed to stderr (each error on its own line,
// file:line:column: message) and returned as errFlowsFailed.
func (c *flowsClient) do(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%w: --url: %v", errUsage, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode the answer: %w", err)
		}
		return nil
	}
	var p problemOut
	if json.Unmarshal(raw, &p) != nil || p.Status == 0 {
		return fmt.Errorf("%s: %d %s", req.URL.Redacted(), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	for _, e := range p.Errors {
		msg := e.Message
		if msg == "" {
			msg = e.Detail
		}
		switch {
		case e.File != "" && e.Line > 0:
			fmt.Fprintf(c.stderr, "%s:%d:%d: %s\n", e.File, e.Line, max(e.Column, 1), withField(e.Field, msg))
		case e.File != "":
			fmt.Fprintf(c.stderr, "%s: %s\n", e.File, withField(e.Field, msg))
		default:
			fmt.Fprintf(c.stderr, "%s\n", withField(e.Field, msg))
		}
	}
	if len(p.Errors) == 0 {
		fmt.Fprintf(c.stderr, "%d %s: %s\n", resp.StatusCode, p.Title, p.Detail)
	}
	return fmt.Errorf("%w: %d %s", errFlowsFailed, resp.StatusCode, p.Title)
}

func withField(field, msg string) string {
	if field == "" {
		return msg
	}
	return field + ": " + msg
}

// validateFlows serves `skybridge flows validate DIR`: the bundle under
// DIR is loaded and checked as a deployment would check it (references,
// expressions, connector settings), without an environment; each problem
// is printed as file:line:column: field: message, and the exit is 1.
func validateFlows(env cmdEnv, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: flows validate DIR", errUsage)
	}
	files, err := readBundle(args[0])
	if err != nil {
		return err
	}
	bundle, err := server.NewFlowEngine(slog.New(slog.DiscardHandler), nil).Load(files)
	var ve *orchestration.ValidationError
	if errors.As(err, &ve) {
		for _, e := range ve.Errors {
			fmt.Fprintf(env.stderr, "%s:%d:%d: %s\n", e.File, e.Line, max(e.Column, 1), withField(e.Field, e.Message))
		}
		return fmt.Errorf("%w: %d problems in %s", errFlowsFailed, len(ve.Errors), args[0])
	}
	if err != nil {
		return err
	}
	flows, connectors := 0, 0
	for _, d := range bundle.Documents() {
		switch d.Kind {
		case orchestration.KindFlow:
			flows++
		case orchestration.KindConnector:
			connectors++
		}
	}
	fmt.Fprintf(env.stdout, "%s: %d files, %d flows, %d connectors; needs variables [%s] and secrets [%s]\n",
		args[0], len(files), flows, connectors, strings.Join(bundle.EnvRefs(), " "), strings.Join(bundle.SecretRefs(), " "))
	return nil
}
