package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newGC(g *globals) *cobra.Command {
	var dry bool
	var grace time.Duration
	c := &cobra.Command{
		Use:   "gc [--dry-run] [--grace 1h]",
		Short: "Remove shards that no version references (leftovers of interrupted writes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.CollectGarbage(ctx, grace, dry)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(st)
			}
			verb := "removed"
			if dry {
				verb = "would remove"
			}
			fmt.Fprintf(g.stdout, "%s %d shard files (%d bytes) of %d unreferenced segments\n", verb, st.Shards, st.Bytes, st.Segments)
			return nil
		},
	}
	c.Flags().BoolVar(&dry, "dry-run", false, "only report what would be removed")
	c.Flags().DurationVar(&grace, "grace", time.Hour, "keep unreferenced shards younger than this (writes in progress)")
	return c
}
