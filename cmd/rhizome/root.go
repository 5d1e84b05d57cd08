package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/store"
)

const rootLong = `Rhizome stores objects as encrypted, erasure-coded shards spread over
independent storage locations. Any k of the k+m locations read everything;
every write is a new immutable version.

Every command works on the store directly. With no store yet, the first
command creates the embedded default in ./rhizome-data (or --dir, or
$RHIZOME_DIR): six filesystem backends in three regions, k=4, m=2.

Exit codes:
  0  success
  1  error not listed below
  2  usage: bad flags or arguments, invalid bucket or key names, bad config
  3  not found: no such bucket, key or version (or deleted at that time)
  4  unavailable: too few backends reachable to read or write safely
  5  corrupt: data failed verification; verify found unreadable objects
  6  conflict: e.g. deleting a bucket that is not empty`

type globals struct {
	dir     string
	json    bool
	quiet   bool
	verbose bool
	stdout  io.Writer
	stderr  io.Writer
}

func newRoot() *cobra.Command {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:           "rhizome",
		Short:         "Encrypted, erasure-coded, region-spread object store",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see `%s --help`)", err, c.CommandPath())
	})
	root.PersistentFlags().StringVar(&g.dir, "dir", "", "store directory (default $RHIZOME_DIR or ./rhizome-data)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "no progress or notes on stderr")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log details to stderr")
	root.AddCommand(
		newInit(g), newPut(g), newGet(g), newLs(g), newRm(g), newVersions(g), newStat(g),
		newVerify(g), newStatus(g), newIndex(g), newMb(g), newRb(g), newGC(g), newCheckpoint(g), newDiff(g), newRollback(g), newGuard(g), newServe(g),
		newScrub(g), newRepair(g), newBackendCmd(g),
	)
	return root
}

func (g *globals) storeDir() string {
	switch {
	case g.dir != "":
		return g.dir
	case os.Getenv("RHIZOME_DIR") != "":
		return os.Getenv("RHIZOME_DIR")
	}
	return "rhizome-data"
}

func (g *globals) note(format string, args ...any) {
	if !g.quiet {
		fmt.Fprintf(g.stderr, format+"\n", args...)
	}
}

// loadConfig reads the store's config, creating the embedded default when
// the directory has none.
func (g *globals) loadConfig() (*config.Config, error) {
	dir := g.storeDir()
	path := filepath.Join(dir, config.FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		cfg := config.Default(dir)
		if err := createStore(cfg); err != nil {
			return nil, err
		}
		g.note("rhizome: created a new store in %s (6 filesystem backends in 3 regions, k=4 m=2); edit %s to change it", dir, path)
	}
	cfg, warn, err := config.Load(path)
	if err != nil {
		return nil, &exitError_{code: exitUsage, err: err}
	}
	for _, w := range warn {
		g.note("rhizome: warning: %s", w)
	}
	return cfg, nil
}

// createStore writes the config and creates local backend directories.
func createStore(cfg *config.Config) error {
	if _, err := cfg.Check(); err != nil {
		return &exitError_{code: exitUsage, err: err}
	}
	if err := cfg.Write(); err != nil {
		return &exitError_{code: exitUsage, err: err}
	}
	for _, b := range cfg.Backends {
		if b.Type == "fs" {
			if err := os.MkdirAll(cfg.Resolve(b.Path), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *globals) open(ctx context.Context) (*store.Store, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	opts := &store.Options{}
	if g.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return store.Open(ctx, cfg, opts)
}

func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// openPath checks BUCKET[/KEY] (needKey: a key is required), then opens
// the store, so that a bad name is reported without touching the store.
// The caller closes the store.
func (g *globals) openPath(ctx context.Context, arg string, needKey bool) (s *store.Store, bucket, key string, err error) {
	if bucket, key, err = splitPath(arg, needKey); err != nil {
		return nil, "", "", err
	}
	if s, err = g.open(ctx); err != nil {
		return nil, "", "", err
	}
	return s, bucket, key, nil
}

// splitPath splits BUCKET/KEY; needKey requires a key.
func splitPath(arg string, needKey bool) (bucket, key string, err error) {
	arg = strings.TrimPrefix(arg, "s3://")
	bucket, key, _ = strings.Cut(arg, "/")
	if err := store.ValidBucket(bucket); err != nil {
		return "", "", usageErr("%v", err)
	}
	if needKey && key == "" {
		return "", "", usageErr("%q names no key; use BUCKET/KEY", arg)
	}
	return bucket, key, nil
}
