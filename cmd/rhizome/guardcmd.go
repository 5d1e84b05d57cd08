package main

import (
	"fmt"
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
		verb, help := "reject", "Keep a quarantined version hidden for good (it stays stored)"
		if approve {
			verb, help = "approve", "Release a quarantined version: readers get it (if it is the newest)"
		}
		c.AddCommand(&cobra.Command{
			Use:   verb + " VERSION",
			Short: help,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, err := g.open(cmd.Context())
				if err != nil {
					return err
				}
				defer s.Close()
				if err := s.Review(cmd.Context(), args[0], approve, "cli"); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%sd %s\n", verb, args[0])
				return nil
			},
		})
	}
	return c
}
