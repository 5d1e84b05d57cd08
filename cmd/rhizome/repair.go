package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

const repairLong = `Restore full protection. First find damage: by default every shard and
manifest piece is checked for presence and size (--full reads and checks
everything, as scrub does; --queue-only skips this and takes only what
reads, writes and scrubs queued). Then, for every damaged version, rebuild
each missing, corrupt or never written shard from the others and write it
back to its backend, or, when that backend is no longer configured, to
another one the placement rules allow (same region first). A shard
written counts once the bytes sent hash to the root in the signed
manifest, the backend acknowledged all of them and a Stat finds it with
the right size; --read-back also reads it back whole and checks every
block (one more read of everything written). Missing or damaged
manifest pieces are rewritten. When shards or pieces move, the version's
manifest is re-signed under the same version ID (see docs/design.md).

Shards on backends that do not answer are left for later, not moved: run
repair again when they are back, or replace the backend
(` + "`rhizome backend replace`" + `). Interrupting repair (even kill -9) is safe; running
it again completes the work.

Only one repair (or backend replacement, or a server's background repair)
works on a store at a time: each holds a lease in the index, renewed every
30 s while it runs, and a second one fails at once (exit 6) naming the
holder, its host and process, and when it started. A holder that was
killed stops renewing: its lease lapses 2 minutes after its last renewal,
and at once when it ran on this host and its process is gone. --force takes
the lease over from a holder on another host that is dead (one still alive
stops at its next renewal).

Exits 4 if some damage had to be left for later, 5 if a version is
unreadable, 6 if another repair holds the lease.`

func newRepair(g *globals) *cobra.Command {
	var full, queueOnly, force, readBack bool
	var rate float64
	var parallel int
	c := &cobra.Command{
		Use:   "repair [BUCKET[/PREFIX]] [--full | --queue-only]",
		Short: "Rebuild missing and corrupt shards and manifest pieces from the others",
		Long:  repairLong,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if full && queueOnly {
				return usageErr("--full and --queue-only exclude each other")
			}
			if rate < 0 {
				return usageErr("--rate %v: want MB/s, 0 for no cap", rate)
			}
			o := &store.RepairOptions{Scan: store.ScanQuick, Rate: int64(rate * 1e6), Parallel: parallel, RetryDeferred: true, Force: force, ReadBack: readBack}
			switch {
			case full:
				o.Scan = store.ScanFull
			case queueOnly:
				o.Scan = store.ScanNone
			}
			if len(args) == 1 {
				b, p, err := splitPath(args[0], false)
				if err != nil {
					return err
				}
				o.Bucket, o.Prefix = b, p
			}
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			scanBar := g.bytesBar("scan")
			if scanBar != nil {
				o.ScanProgress = func(p store.ScrubProgress) { scanBar.Set(p.Bytes, p.BytesTotal) }
			}
			bar := g.countBar("repair")
			if bar != nil {
				o.Progress = func(p store.RepairProgress) {
					scanBar.Done() // the scan is over once repairs report
					scanBar = nil
					bar.Set(p.Versions, p.VersionsTotal)
				}
			}
			var results []store.RepairResult
			st, err := s.Repair(ctx, o, func(r store.RepairResult) error {
				if r.Outcome == store.Intact || r.Outcome == store.Removed {
					return nil
				}
				results = append(results, r)
				if !g.json {
					bar.Println(g.stdout, r.String())
				}
				return nil
			})
			scanBar.Done()
			bar.Done()
			if err != nil {
				return err
			}
			if g.json {
				if results == nil {
					results = []store.RepairResult{}
				}
				if err := g.printJSON(struct {
					store.RepairStats
					Results []store.RepairResult `json:"results"`
				}{st, results}); err != nil {
					return err
				}
			} else {
				if st.Scan != nil {
					fmt.Fprintf(g.stdout, "scan (%s): %d versions checked, %d damaged, %d unreadable",
						st.Scan.Mode, st.Scan.Checked, st.Scan.Repairable, st.Scan.Unreadable)
					if st.Scan.UnreadableDown > 0 {
						fmt.Fprintf(g.stdout, " (%d only while backends are down)", st.Scan.UnreadableDown)
					}
					fmt.Fprintln(g.stdout)
				}
				took := st.Finished.Sub(st.Started).Round(time.Millisecond)
				fmt.Fprintf(g.stdout, "repair: %d versions: %d repaired, %d intact, %d deferred, %d unreadable; %d shards rebuilt (%s), %d manifest pieces rewritten, %d manifests revised in %v\n",
					st.Versions, st.Repaired, st.Intact, st.Deferred, st.Unreadable, st.Shards, humanBytes(st.Bytes), st.Pieces, st.Revised, took)
				if st.Parts > 0 || st.Records > 0 {
					fmt.Fprintf(g.stdout, "upload parts: %d checked, %d repaired; bucket, checkpoint and review manifests: %d repaired\n", st.Parts, st.PartsRepaired, st.Records)
				}
				if st.QueueLeft > 0 {
					fmt.Fprintf(g.stdout, "%d version(s) still queued (backends that did not answer, or unreadable); run repair again later\n", st.QueueLeft)
				}
			}
			switch {
			case st.Unreadable > 0 || st.Scan != nil && st.Scan.Unreadable > st.Scan.UnreadableDown:
				return &exitError_{code: exitCorrupt, silent: true}
			case st.Deferred > 0 || st.Scan != nil && st.Scan.UnreadableDown > 0:
				return &exitError_{code: exitUnavailable, silent: true}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&full, "full", false, "find damage by reading and checking everything (a full scrub) first")
	c.Flags().BoolVar(&queueOnly, "queue-only", false, "repair only what is queued; no scan")
	c.Flags().Float64Var(&rate, "rate", 0, "with --full: read at most this many MB/s (0: no cap)")
	c.Flags().IntVar(&parallel, "parallel", 4, "versions repaired at once")
	c.Flags().BoolVar(&readBack, "read-back", false, "read every rebuilt shard back whole and check it before it counts")
	c.Flags().BoolVar(&force, "force", false, "take the maintenance lease over from another repair that may still be alive (one on another host that died)")
	return c
}

// printMaintenance adds the repair queue and the last scrub to status.
func printMaintenance(w io.Writer, st store.Status) {
	if st.LastScrub != nil {
		ls := st.LastScrub
		fmt.Fprintf(w, "last scrub (%s): %s, %d versions: %d healthy, %d repairable, %d unreadable\n",
			ls.Mode, ls.Finished.Format(time.RFC3339), ls.Checked, ls.Healthy, ls.Repairable, ls.Unreadable)
	} else {
		fmt.Fprintln(w, "last scrub: never (counts reflect writes only; run `rhizome scrub`)")
	}
	if st.Maintenance != nil {
		fmt.Fprintf(w, "running: %s (lease until %s)\n", st.Maintenance, st.Maintenance.Expires.Format(time.RFC3339))
	}
	if st.RepairQueue > 0 {
		fmt.Fprintf(w, "repair queue: %d version(s); run `rhizome repair`\n", st.RepairQueue)
	}
}
