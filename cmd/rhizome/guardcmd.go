package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

func newGuard(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "guard",
		Short: "Review what the guard flagged: alerts, show, approve, reject",
		Long: `Every write is profiled. A write that looks like ransomware encryption, a
schema break, a distribution shift, a label flip, a history rewrite or a
mass change raises an alert. Under a quarantine policy the version is kept
but hidden (readers get the last known-good version) until approved.`,
	}
	var state string
	var limit int
	alerts := &cobra.Command{
		Use:   "alerts [--state open|approved|rejected|all]",
		Short: "List alerts, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := state
			if st == "all" {
				st = ""
			}
			switch st {
			case "", store.AlertOpen, store.AlertApproved, store.AlertRejected:
			default:
				return usageErr("--state %q: use open, approved, rejected or all", state)
			}
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			as, err := s.Alerts(cmd.Context(), st, limit)
			if err != nil {
				return err
			}
			if g.json {
				if as == nil {
					as = []store.Alert{}
				}
				return g.printJSON(as)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			for _, a := range as {
				what := a.Bucket + "/" + a.Key
				if a.Delete {
					what += " (delete)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.VersionID, a.Time.Format(time.RFC3339), a.State, a.Mode, what, a.Summary)
			}
			if len(as) == 0 {
				fmt.Fprintln(g.stdout, "no alerts")
			}
			return tw.Flush()
		},
	}
	alerts.Flags().StringVar(&state, "state", "open", "open, approved, rejected or all")
	alerts.Flags().IntVar(&limit, "limit", 100, "at most this many")
	c.AddCommand(alerts)
	c.AddCommand(&cobra.Command{
		Use:   "show VERSION",
		Short: "Show an alert's signals and the column-level diff",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			d, err := s.Alert(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(d)
			}
			fmt.Fprintf(g.stdout, "version   %s\nobject    %s/%s\ntime      %s\nidentity  %s\nmode      %s\nstate     %s\n",
				d.VersionID, d.Bucket, d.Key, d.Time.Format(time.RFC3339Nano), orDash(d.Identity), d.Mode, d.State)
			fmt.Fprintln(g.stdout, "signals:")
			for _, sig := range d.Signals {
				col := ""
				if sig.Column != "" {
					col = " [" + sig.Column + "]"
				}
				fmt.Fprintf(g.stdout, "  %s%s: %s (score %.3g, threshold %.3g)\n", sig.Name, col, sig.Reason, sig.Score, sig.Threshold)
			}
			if len(d.Diff) > 0 {
				fmt.Fprintln(g.stdout, "compared with the last known-good version:")
				for _, l := range d.Diff {
					fmt.Fprintf(g.stdout, "  %s\n", l)
				}
			}
			if d.State == store.AlertOpen {
				fmt.Fprintf(g.stdout, "decide with: rhizome guard approve %s  |  rhizome guard reject %s\n", d.VersionID, d.VersionID)
			}
			return nil
		},
	})
	for _, approve := range []bool{true, false} {
		c.AddCommand(newReview(g, approve))
	}
	return c
}

// newReview builds `guard approve` or `guard reject`: of the versions
// named, or of every open alert that matches filters (a mass change
// raises one alert per object).
func newReview(g *globals, approve bool) *cobra.Command {
	verb, past, help := "reject", "rejected", "Keep quarantined versions hidden for good (they stay stored)"
	if approve {
		verb, past, help = "approve", "approved", "Release quarantined versions: readers get them (each if it is the newest)"
	}
	var all, dryRun bool
	var prefix, signal, identity string
	c := &cobra.Command{
		Use:   verb + " VERSION... | --all [--prefix BUCKET/PREFIX] [--signal NAME] [--identity WHO] [--dry-run]",
		Short: help,
		Long: help + `.

Name the versions (from 'rhizome guard alerts'), or decide every open
alert at once with --all, narrowed by --prefix, --signal (e.g.
mass_change, ransomware) and --identity (the writer's access key, or
"cli"). --dry-run lists what --all would decide.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			filtered := prefix != "" || signal != "" || identity != "" || dryRun
			switch {
			case all && len(args) > 0:
				return usageErr("name versions or use --all, not both")
			case !all && len(args) == 0:
				return usageErr("name the versions to %s (rhizome guard alerts lists them), or use --all with filters", verb)
			case !all && filtered:
				return usageErr("--prefix, --signal, --identity and --dry-run go with --all")
			}
			var bucket, keyPrefix string
			if prefix != "" {
				b, p, err := splitPath(prefix, false)
				if err != nil {
					return err
				}
				bucket, keyPrefix = b, p
			}
			ctx := cmd.Context()
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			var picked []store.Alert
			if all {
				err := s.EachAlert(ctx, store.AlertOpen, func(a store.Alert) error {
					if alertMatches(a, bucket, keyPrefix, signal, identity) {
						picked = append(picked, a)
					}
					return nil
				})
				if err != nil {
					return err
				}
			} else {
				for _, id := range args {
					picked = append(picked, store.Alert{VersionID: id})
				}
			}
			if dryRun {
				for _, a := range picked {
					fmt.Fprintf(g.stdout, "would %s %s %s/%s: %s\n", verb, a.VersionID, a.Bucket, a.Key, a.Summary)
				}
				fmt.Fprintf(g.stdout, "%d open alerts match; nothing was changed\n", len(picked))
				return nil
			}
			bar := g.countBar(verb)
			bar.Set(0, int64(len(picked)))
			var failed []error
			done := 0
			for i, a := range picked {
				if err := s.Review(ctx, a.VersionID, approve, "cli"); err != nil {
					failed = append(failed, err)
					if ctx.Err() != nil {
						break
					}
				} else {
					done++
					if !all {
						fmt.Fprintf(g.stdout, "%s %s\n", past, a.VersionID)
					}
				}
				bar.Set(int64(i+1), int64(len(picked)))
			}
			bar.Done()
			if all {
				fmt.Fprintf(g.stdout, "%s %d of %d matching versions\n", past, done, len(picked))
			}
			switch {
			case len(failed) == 1:
				return failed[0]
			case len(failed) > 1:
				return fmt.Errorf("%d of %d decisions failed; the first: %w", len(failed), len(picked), failed[0])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "decide every open alert that matches the filters")
	c.Flags().StringVar(&prefix, "prefix", "", "with --all: only alerts under BUCKET[/PREFIX]")
	c.Flags().StringVar(&signal, "signal", "", "with --all: only alerts that raised this signal")
	c.Flags().StringVar(&identity, "identity", "", "with --all: only writes by this identity")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "with --all: list what would be decided, change nothing")
	return c
}

// alertMatches applies the filters of a bulk review ("" matches anything).
func alertMatches(a store.Alert, bucket, keyPrefix, signal, identity string) bool {
	if bucket != "" && (a.Bucket != bucket || !strings.HasPrefix(a.Key, keyPrefix)) {
		return false
	}
	if identity != "" && a.Identity != identity {
		return false
	}
	if signal == "" {
		return true
	}
	for _, sg := range a.Signals {
		if sg.Name == signal {
			return true
		}
	}
	return false
}
