package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/store"
)

func newStat(g *globals) *cobra.Command {
	var version, asOf string
	c := &cobra.Command{
		Use:   "stat BUCKET/KEY [--version ID] [--as-of T]",
		Short: "Show a version: size, hashes, where each shard lives, protection",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, info, err := g.openObject(ctx, args[0], version, asOf)
			if err != nil {
				return err
			}
			defer s.Close()
			bucket, key := info.Bucket, info.Key
			m := info.Manifest
			shards := s.Shards(info)
			inline := m.Inlined()
			protection := "protected"
			if !info.Protected {
				protection = "under-protected (some shards or manifest pieces were not written; repair will add them)"
			}
			if g.json {
				out := objectJSON(info)
				out["content_hash"] = m.ContentHash
				out["content_type"] = m.ContentType
				out["metadata"] = m.Meta
				out["k"], out["m"] = s.Config().K, s.Config().M
				if shards == nil {
					shards = []store.Shard{} // inline: none
				}
				out["shard_locations"] = shards
				out["inline"] = inline
				out["manifest_pieces"] = m.Placement
				out["manifest_prev"] = m.Prev
				out["protection"] = protection
				return g.printJSON(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintf(tw, "object\t%s/%s\n", bucket, key)
			fmt.Fprintf(tw, "version\t%s\n", info.ID)
			fmt.Fprintf(tw, "time\t%s\n", info.Time.Format(time.RFC3339Nano))
			fmt.Fprintf(tw, "size\t%d\n", info.Size)
			fmt.Fprintf(tw, "etag\t%s\n", info.ETag)
			fmt.Fprintf(tw, "content hash\t%s (HighwayHash-256)\n", m.ContentHash)
			if m.ContentType != "" {
				fmt.Fprintf(tw, "content-type\t%s\n", m.ContentType)
			}
			for k, v := range m.Meta {
				fmt.Fprintf(tw, "meta %s\t%s\n", k, v)
			}
			fmt.Fprintf(tw, "previous\t%s\n", orDash(m.Prev))
			fmt.Fprintf(tw, "protection\t%s\n", protection)
			tw.Flush()
			if inline {
				fmt.Fprintf(g.stdout, "inline: the bytes are inside the manifest, one sealed copy in each of its %d pieces:\n", len(m.Placement))
				for i, b := range m.Placement {
					fmt.Fprintf(g.stdout, "  %d  %s\n", i, b)
				}
				return nil
			}
			fmt.Fprintln(g.stdout, "shards:")
			tw = tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			for _, sh := range shards {
				kind := "data"
				if sh.Parity {
					kind = "parity"
				}
				state := "written"
				if !sh.Written {
					state = "MISSING (not written)"
				}
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", sh.Index, kind, orDash(sh.Backend), orDash(sh.Region), state)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&version, "version", "", "show this version ID")
	c.Flags().StringVar(&asOf, "as-of", "", "show the version current at this time")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newVerify(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "verify [BUCKET[/PREFIX]] [--all-versions]",
		Short: "Read every shard and check every checksum; list damaged objects",
		Long: `Read every shard of the current versions (or all versions) and check shard
checksums, shard roots, block authentication and manifest pieces. Prints
damaged (repairable) and unreadable objects. Exits 5 if any object cannot
be read.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o := store.VerifyOptions{AllVersions: all}
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
			bar := g.countBar("verify")
			var results []store.VerifyResult
			counts := map[string]int{}
			var bytes int64
			err = s.Verify(ctx, o, func(r store.VerifyResult) error {
				counts[r.Health]++
				bytes += r.Size
				bar.Add(1)
				if r.Health != store.Healthy {
					results = append(results, r)
					if !g.json {
						bar.Println(g.stdout, r.String())
					}
				}
				return nil
			})
			bar.Done()
			if err != nil {
				return err
			}
			total := counts[store.Healthy] + counts[store.Damaged] + counts[store.Unreadable]
			if g.json {
				if results == nil {
					results = []store.VerifyResult{}
				}
				if err := g.printJSON(map[string]any{"checked": total, "bytes": bytes, "healthy": counts[store.Healthy],
					"damaged": counts[store.Damaged], "unreadable": counts[store.Unreadable], "problems": verifyJSON(results)}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "checked %d objects (%d bytes): %d healthy, %d damaged (repairable), %d unreadable\n",
					total, bytes, counts[store.Healthy], counts[store.Damaged], counts[store.Unreadable])
			}
			if counts[store.Unreadable] > 0 {
				return &exitError_{code: exitCorrupt, silent: true}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all-versions", false, "check every version, not only current ones")
	return c
}

func verifyJSON(rs []store.VerifyResult) []map[string]any {
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		var probs []map[string]any
		for _, p := range r.Problems {
			e := ""
			if p.Err != nil {
				e = p.Err.Error()
			}
			probs = append(probs, map[string]any{"shard": p.Index, "backend": p.Backend, "state": p.State.String(), "error": e})
		}
		m := map[string]any{"bucket": r.Bucket, "key": r.Key, "version_id": r.VersionID, "health": r.Health,
			"shards": probs, "bad_manifest_pieces": r.BadPieces}
		if r.Err != nil {
			m["error"] = r.Err.Error()
		}
		out[i] = m
	}
	return out
}

func newStatus(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each backend (reachable, shards, bytes) and the store's totals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Status(ctx)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(st)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKEND\tREGION\tREACHABLE\tLATENCY\tGET P50/P99\tERRORS\tSHARDS\tBYTES\tNOTE")
			down := 0
			for _, b := range st.Backends {
				reach := "yes"
				if !b.Reachable {
					reach, down = "NO", down+1
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", b.Name, b.Region, reach,
					latency(b), getLatency(b), errorRate(b), b.Shards, b.ShardBytes, backendNote(b))
			}
			tw.Flush()
			fmt.Fprintf(g.stdout, "\nerasure: k=%d m=%d, survives %s\n", st.K, st.M, st.Survives)
			fmt.Fprintf(g.stdout, "buckets %d, keys %d, versions %d (+%d delete markers)\n",
				st.Index.Buckets, st.Index.Keys, st.Index.Versions, st.Index.DeleteMarkers)
			fmt.Fprintf(g.stdout, "logical bytes %d, stored bytes %d, overhead %.2fx (k+m/k = %.2fx)\n",
				st.Index.LogicalBytes, st.StoredBytes, st.Overhead, float64(st.K+st.M)/float64(st.K))
			fmt.Fprintf(g.stdout, "protection: %d fully protected, %d under-protected (%d at risk: exactly k shards), %d unreadable\n",
				st.Protected, st.UnderProtect, st.AtRisk, st.Unreadable)
			printMaintenance(g.stdout, st)
			if down > 0 {
				fmt.Fprintf(g.stdout, "WARNING: %d backend(s) unreachable; reads use parity while at most %d are down\n", down, st.M)
			}
			return nil
		},
	}
}

// latency is a backend's round trip: the median status probe, or the
// listing when no probe was made.
func latency(b store.BackendStatus) string {
	switch {
	case !b.Reachable:
		return "-"
	case b.RoundTrip > 0:
		return shortDuration(b.RoundTrip)
	}
	return shortDuration(b.Latency)
}

// getLatency is the measured Get time to first byte, p50/p99.
func getLatency(b store.BackendStatus) string {
	if b.GetP50 == 0 && b.GetP99 == 0 {
		return "-"
	}
	return shortDuration(b.GetP50) + "/" + shortDuration(b.GetP99)
}

// errorRate is the share of recent calls that failed.
func errorRate(b store.BackendStatus) string {
	if b.RecentCalls == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*b.ErrorRate)
}

func backendNote(b store.BackendStatus) string {
	switch {
	case b.Error != "":
		return b.Error
	case b.Stalled:
		return "stalled: Gets hang; reads hedge to other shards"
	case b.Failing:
		return "failing: Gets fail; reads use other shards"
	}
	return ""
}

// shortDuration rounds d to two or three significant digits.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func newIndex(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "index", Short: "Index maintenance"}
	c.AddCommand(&cobra.Command{
		Use:   "rebuild",
		Short: "Recreate the index from the backends alone (any k are enough)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			path := cfg.Resolve(cfg.Index.Path)
			tmp := path + ".rebuild"
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(tmp + suffix)
			}
			idx, err := sqlite.Open(tmp, nil)
			if err != nil {
				return err
			}
			s, err := store.Open(ctx, cfg, &store.Options{Index: idx})
			if err != nil {
				idx.Close()
				return err
			}
			bar := g.countBar("rebuild")
			st, err := s.RebuildIndex(ctx, idx, func(done, total int) { bar.Set(int64(done), int64(total)) })
			bar.Done()
			idx.Close()
			if err != nil {
				return err
			}
			if err := replaceIndex(cfg, tmp, path); err != nil {
				return err
			}
			for _, e := range st.Errors {
				g.note("rhizome: %v", e)
			}
			if g.json {
				return g.printJSON(st)
			}
			fmt.Fprintf(g.stdout, "rebuilt index from %d of %d backends: %d buckets, %d versions (%d manifests, %d unreadable)\n",
				st.Backends-st.BackendsDown, st.Backends, st.Buckets, st.Versions, st.Manifests, st.Unreadable)
			return nil
		},
	})
	return c
}

// replaceIndex moves the rebuilt index into place, keeping the old one as
// index.db.old until the next rebuild.
func replaceIndex(cfg *config.Config, tmp, path string) error {
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if _, err := os.Stat(path); err == nil {
		if err := os.Rename(path, path+".old"); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	_ = filepath.Dir(cfg.Dir)
	return nil
}
