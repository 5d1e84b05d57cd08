package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

func newCheckpoint(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "checkpoint", Short: "Named, hashed states of a dataset: create, list, verify"}
	c.AddCommand(&cobra.Command{
		Use:   "create BUCKET[/PREFIX] NAME",
		Short: "Record every key's current version under a prefix, with one root hash",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, bucket, prefix, err := g.openPath(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer s.Close()
			cp, err := s.CreateCheckpoint(cmd.Context(), bucket, prefix, args[1], "cli")
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(checkpointJSON(cp.Name, cp.Bucket, cp.Prefix, cp.At, cp.Root, cp.Keys))
			}
			fmt.Fprintf(g.stdout, "checkpoint %s: %d keys of %s/%s at %s\nroot %s\nread it through S3 as bucket %s--cp-%s\n",
				cp.Name, cp.Keys, cp.Bucket, cp.Prefix, cp.At.Format(time.RFC3339Nano), cp.Root, cp.Bucket, cp.Name)
			return nil
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List checkpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			cs, err := s.Checkpoints(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				out := []any{}
				for _, c := range cs {
					out = append(out, checkpointJSON(c.Name, c.Bucket, c.Prefix, c.At, c.Root, c.Keys))
				}
				return g.printJSON(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%d keys\t%s\n", c.Name, c.Bucket, c.Prefix, c.At.Format(time.RFC3339), c.Keys, c.Root[:16])
			}
			return tw.Flush()
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "verify NAME",
		Short: "Prove a checkpoint's state is intact and readable (exit 5 if not)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			bar := g.countBar("verify " + args[0])
			rep, err := s.VerifyCheckpoint(cmd.Context(), args[0], func(done, total int) { bar.Set(int64(done), int64(total)) })
			bar.Done()
			if err != nil {
				return err
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "checkpoint %s: %d keys of %s/%s at %s\n", rep.Name, rep.Keys, rep.Bucket, rep.Prefix, rep.At.Format(time.RFC3339Nano))
				fmt.Fprintf(g.stdout, "root %s: %s\n", rep.Root, map[bool]string{true: "matches the signed entries", false: "DOES NOT MATCH"}[rep.RootOK])
				for _, k := range rep.Missing {
					fmt.Fprintf(g.stdout, "missing   %s\n", k)
				}
				for _, k := range rep.Changed {
					fmt.Fprintf(g.stdout, "changed   %s\n", k)
				}
				for _, r := range rep.Unreadable {
					fmt.Fprintf(g.stdout, "%s\n", r)
				}
				for _, r := range rep.Damaged {
					fmt.Fprintf(g.stdout, "%s\n", r)
				}
				verdict := "intact: every version present, unchanged and readable"
				if !rep.Intact() {
					verdict = "NOT INTACT"
				}
				fmt.Fprintln(g.stdout, verdict)
			}
			if !rep.Intact() {
				return &exitError_{code: exitCorrupt, silent: true}
			}
			return nil
		},
	})
	return c
}

func checkpointJSON(name, bucket, prefix string, at time.Time, root string, keys int) map[string]any {
	return map[string]any{"name": name, "bucket": bucket, "prefix": prefix, "at": at, "root": root, "keys": keys}
}

func newDiff(g *globals) *cobra.Command {
	var from, to string
	c := &cobra.Command{
		Use:   "diff BUCKET[/PREFIX] --from T1|CHECKPOINT [--to T2|CHECKPOINT|now]",
		Short: "List keys added, changed and deleted between two states",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return usageErr("--from is required: a time (RFC 3339) or a checkpoint name")
			}
			s, bucket, prefix, err := g.openPath(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer s.Close()
			a, err := s.ResolveState(cmd.Context(), bucket, prefix, from)
			if err != nil {
				return err
			}
			b, err := s.ResolveState(cmd.Context(), bucket, prefix, to)
			if err != nil {
				return err
			}
			d := s.Diff(a, b)
			if g.json {
				out := []any{}
				for _, e := range d {
					out = append(out, diffJSON(s, e))
				}
				return g.printJSON(out)
			}
			for _, e := range d {
				fmt.Fprintf(g.stdout, "%-8s %s%s\n", e.Change, e.Key, describeChange(s, e))
			}
			fmt.Fprintf(g.stdout, "%d keys differ\n", len(d))
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "start state: time (RFC 3339) or checkpoint")
	c.Flags().StringVar(&to, "to", "now", "end state: time, checkpoint or now")
	return c
}

func newRollback(g *globals) *cobra.Command {
	var to string
	var dry bool
	c := &cobra.Command{
		Use:   "rollback BUCKET[/PREFIX] --to T|CHECKPOINT [--dry-run]",
		Short: "Make a past state current again, instantly (no data copied; undoable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" || to == "now" {
				return usageErr("--to is required: a time (RFC 3339) or a checkpoint name")
			}
			s, bucket, prefix, err := g.openPath(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer s.Close()
			target, err := s.ResolveState(cmd.Context(), bucket, prefix, to)
			if err != nil {
				return err
			}
			started := time.Now().UTC()
			res, err := s.Rollback(cmd.Context(), target, dry, "cli")
			if err != nil {
				return err
			}
			if g.json {
				out := []any{}
				for _, e := range res.Changes {
					out = append(out, diffJSON(s, e))
				}
				return g.printJSON(map[string]any{"applied": res.Applied, "changes": out, "undo_with": started.Format(time.RFC3339Nano)})
			}
			verb := map[bool]string{true: "would", false: "did"}[dry]
			for _, e := range res.Changes {
				action := map[string]string{store.Added: "restore", store.Changed: "restore", store.Deleted: "delete"}[e.Change]
				fmt.Fprintf(g.stdout, "%s %-7s %s\n", verb, action, e.Key)
			}
			if dry {
				fmt.Fprintf(g.stdout, "%d keys would change; run without --dry-run to apply\n", len(res.Changes))
			} else {
				fmt.Fprintf(g.stdout, "rolled back %d keys of %s/%s to %s\nundo with: rhizome rollback %s --to %s\n",
					len(res.Changes), bucket, prefix, to, args[0], started.Format(time.RFC3339Nano))
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "target state: time (RFC 3339) or checkpoint")
	c.Flags().BoolVar(&dry, "dry-run", false, "only print what would change")
	return c
}

func diffJSON(s *store.Store, e store.DiffEntry) map[string]any {
	m := map[string]any{"key": e.Key, "change": e.Change}
	if e.From != nil {
		m["from_version"], m["from_size"] = e.From.ID, e.From.Size
	}
	if e.To != nil {
		m["to_version"], m["to_size"] = e.To.ID, e.To.Size
	}
	if d := s.ProfileDiff(e); d != "" {
		m["profile"] = d
	}
	return m
}

func describeChange(s *store.Store, e store.DiffEntry) string {
	out := ""
	switch {
	case e.From != nil && e.To != nil:
		out = fmt.Sprintf("  (%d -> %d bytes)", e.From.Size, e.To.Size)
	case e.To != nil:
		out = fmt.Sprintf("  (%d bytes)", e.To.Size)
	}
	if d := s.ProfileDiff(e); d != "" {
		out += "  " + d
	}
	return out
}
