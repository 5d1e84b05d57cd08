package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

const replaceLong = `Move every shard and manifest piece on backend OLD onto backend NEW by
rebuilding each from the other backends (nothing is read from OLD), and
revise the manifests that referenced OLD.

NEW must be configured. OLD need not be: the usual sequence for a lost or
retired backend is to replace its entry in rhizome.yaml by NEW's (same
region) and then run this. While OLD stays configured new writes may still
use it. Where NEW already holds another shard of the same object, or
taking one more would put too many shards in one region, the shard goes to
another backend the placement rules allow, OLD's region first.

Progress is recorded in the index after every version: after a crash or
Ctrl-C, run the same command again to continue. Nothing is deleted from
OLD except manifest pieces of revised manifests; once this reports done,
OLD can be wiped.

Like repair, it holds the store's maintenance lease while it runs, so it
fails at once, naming the holder, while a repair or another replacement
runs (see ` + "`rhizome repair --help`" + `).`

func newBackendCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "backend", Short: "Backend maintenance: replace a lost or retired backend"}
	var restart, force, readBack bool
	var parallel int
	replace := &cobra.Command{
		Use:   "replace OLD NEW [--restart]",
		Short: "Move all of OLD's shards onto NEW by rebuilding them from the others (resumable)",
		Long:  replaceLong,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			old, new := args[0], args[1]
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			if _, ok := s.Backend(old); ok {
				g.note("rhizome: note: %s is still configured, so new writes may still place shards on it; remove it from %s when this is done", old, "rhizome.yaml")
			}
			o := &store.ReplaceOptions{Parallel: parallel, Restart: restart, Force: force, ReadBack: readBack}
			if bar := g.countBar("replace " + old); bar != nil {
				o.Progress = func(p store.ReplaceProgress) { bar.Set(p.Versions, p.VersionsTotal) }
				defer bar.Done()
			}
			st, err := s.ReplaceBackend(ctx, old, new, o)
			if errors.Is(err, store.ErrLeaseHeld) {
				return err
			}
			if g.json {
				if jerr := g.printJSON(st); jerr != nil {
					return jerr
				}
			} else {
				if st.Resumed {
					fmt.Fprintf(g.stdout, "continued the replacement of %s started at %s\n", old, st.Started.Format(time.RFC3339))
				}
				fmt.Fprintf(g.stdout, "replace %s by %s: %d versions, %d shards moved (%s), %d kept from an earlier attempt, %d placed on another backend than %s, %d manifests revised, %d bucket/checkpoint/review manifest pieces copied\n",
					old, new, st.Versions, st.Shards, humanBytes(st.Bytes), st.Adopted, st.Elsewhere, new, st.Pieces, st.Records)
				for _, r := range st.Failed {
					fmt.Fprintln(g.stdout, "not moved yet:", r.String())
				}
			}
			return err
		},
	}
	replace.Flags().BoolVar(&restart, "restart", false, "forget an unfinished replacement of OLD (by any backend) and start over")
	replace.Flags().IntVar(&parallel, "parallel", 4, "versions moved at once")
	replace.Flags().BoolVar(&readBack, "read-back", false, "read every moved shard back whole and check it before it counts")
	replace.Flags().BoolVar(&force, "force", false, "take the maintenance lease over from another repair or replacement that may still be alive (one on another host that died)")
	c.AddCommand(replace)
	return c
}
