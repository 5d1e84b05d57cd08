package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

const scrubLong = `Check every shard and manifest piece of every version (old versions and
delete markers included; a segment that copies share is checked once),
the shards of every part of the multipart uploads in progress, and, when
the whole store is scrubbed, the manifest pieces of every bucket,
checkpoint and review manifest (found by listing the backends; they are
read and opened even by --quick, a few hundred bytes each).

Full (the default): read every shard through the codec and check its
header, every block checksum, its root in the signed manifest, that every
block authenticates and that parity agrees; open the manifest pieces and
check they hold the indexed manifest. --quick only checks that every shard
and piece is present with the right size (one metadata request each, no
data read). Both read the data from every backend, S3 included: a stored
checksum would only say what was uploaded, not what is there now.

Damaged versions are queued for repair (run ` + "`rhizome repair`" + `; damaged
upload parts and manifests other than versions are not queued: repair's
own scan finds them) and each version's healthy shard count is recorded,
so ` + "`rhizome status`" + ` shows what the scrub found. --rate caps the read
rate; ` + "`rhizome serve`" + ` scrubs in the background at scrub_rate.

Exits 5 if any version or upload part is unreadable, 4 if the only
unreadable versions lack shards on backends that did not answer (an
outage, not a loss).`

func newScrub(g *globals) *cobra.Command {
	var quick, noQueue bool
	var rate float64
	var parallel int
	c := &cobra.Command{
		Use:   "scrub [BUCKET[/PREFIX]] [--rate MB/s] [--quick]",
		Short: "Check every shard of every version; queue damage for repair",
		Long:  scrubLong,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o := store.ScrubOptions{Quick: quick, NoQueue: noQueue, Parallel: parallel}
			if rate < 0 {
				return usageErr("--rate %v: want MB/s, 0 for no cap", rate)
			}
			o.Rate = int64(rate * 1e6)
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
			bar := g.bytesBar("scrub")
			if bar != nil {
				o.Progress = func(p store.ScrubProgress) { bar.Set(p.Bytes, p.BytesTotal) }
			}
			var damaged, unreadable []store.ScrubResult
			st, err := s.Scrub(ctx, o, func(r store.ScrubResult) error {
				switch r.Health {
				case store.Damaged:
					damaged = append(damaged, r)
				case store.Unreadable:
					unreadable = append(unreadable, r)
				default:
					return nil
				}
				if !g.json {
					bar.Println(g.stdout, r.String())
				}
				return nil
			})
			bar.Done()
			if err != nil {
				return err
			}
			if g.json {
				if damaged == nil {
					damaged = []store.ScrubResult{}
				}
				if unreadable == nil {
					unreadable = []store.ScrubResult{}
				}
				if err := g.printJSON(struct {
					store.ScrubStats
					Repairable []store.ScrubResult `json:"repairable_objects"`
					Unreadable []store.ScrubResult `json:"unreadable_objects"`
				}{st, damaged, unreadable}); err != nil {
					return err
				}
			} else {
				took := st.Finished.Sub(st.Started).Round(time.Millisecond)
				fmt.Fprintf(g.stdout, "scrub (%s): checked %d versions, %d shards, %s read in %v\n",
					st.Mode, st.Checked, st.Shards, humanBytes(st.BytesRead), took)
				fmt.Fprintf(g.stdout, "%d healthy, %d repairable (%d at risk: exactly k healthy shards), %d unreadable",
					st.Healthy, st.Repairable, st.AtRisk, st.Unreadable)
				if st.UnreadableDown > 0 {
					fmt.Fprintf(g.stdout, " (%d only while backends are down)", st.UnreadableDown)
				}
				fmt.Fprintln(g.stdout)
				if st.Parts > 0 {
					fmt.Fprintf(g.stdout, "%d part(s) of uploads in progress: %d damaged, %d unreadable\n", st.Parts, st.PartsDamaged, st.PartsUnreadable)
				}
				if st.Records > 0 || st.RecordsUnopened > 0 {
					fmt.Fprintf(g.stdout, "%d bucket, checkpoint and review manifest(s): %d damaged", st.Records, st.RecordsDamaged)
					if st.RecordsUnopened > 0 {
						fmt.Fprintf(g.stdout, "; %d manifest ID(s) on the backends did not open (too few pieces, or versions the index lacks: `rhizome index rebuild`)", st.RecordsUnopened)
					}
					fmt.Fprintln(g.stdout)
				}
				if st.Queued > 0 {
					fmt.Fprintf(g.stdout, "%d version(s) queued for repair; run `rhizome repair`\n", st.Queued)
				}
				if st.PartsDamaged > 0 || st.RecordsDamaged > 0 {
					fmt.Fprintln(g.stdout, "damaged upload parts and manifests are not queued; `rhizome repair` finds and fixes them")
				}
			}
			switch {
			case st.Unreadable > st.UnreadableDown || st.PartsUnreadable > 0:
				return &exitError_{code: exitCorrupt, silent: true}
			case st.Unreadable > 0:
				return &exitError_{code: exitUnavailable, silent: true}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&quick, "quick", false, "only check presence and size (no data read)")
	c.Flags().Float64Var(&rate, "rate", 0, "read at most this many MB/s (0: no cap)")
	c.Flags().BoolVar(&noQueue, "no-queue", false, "report damage without queueing it for repair")
	c.Flags().IntVar(&parallel, "parallel", 4, "versions checked at once")
	return c
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
