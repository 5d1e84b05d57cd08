package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/store"
)

func newLs(g *globals) *cobra.Command {
	var versions bool
	var asOf string
	var limit int
	c := &cobra.Command{
		Use:   "ls [BUCKET[/PREFIX]] [--versions] [--as-of T]",
		Short: "List buckets, or the objects under a prefix",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			if len(args) == 0 {
				bs, err := s.Buckets(ctx)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(bs)
				}
				for _, b := range bs {
					fmt.Fprintf(g.stdout, "%s  %s\n", b.Created.Format(time.RFC3339), b.Name)
				}
				return nil
			}
			bucket, prefix, err := splitPath(args[0], false)
			if err != nil {
				return err
			}
			var at time.Time
			if asOf != "" {
				if at, err = parseTime(asOf); err != nil {
					return err
				}
			}
			if versions {
				if asOf != "" {
					return usageErr("--versions lists every version; it cannot be combined with --as-of")
				}
				return lsVersions(g, s, bucket, prefix, limit, cmd)
			}
			var out []any
			tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			after, n := "", 0
			for {
				r, err := s.List(ctx, index.ListOptions{Bucket: bucket, Prefix: prefix, StartAfter: after, Limit: 1000, AsOf: at})
				if err != nil {
					return err
				}
				for _, v := range r.Versions {
					if g.json {
						out = append(out, versionJSON(v))
					} else {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", v.Time.Format(time.RFC3339), v.Size, v.ID, v.Key)
					}
					n++
					if limit > 0 && n >= limit {
						r.Truncated = false
						break
					}
				}
				if !r.Truncated {
					break
				}
				after = r.Next
			}
			if g.json {
				if out == nil {
					out = []any{}
				}
				return g.printJSON(out)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&versions, "versions", false, "list every version and delete marker")
	c.Flags().StringVar(&asOf, "as-of", "", "list the objects as they were at this time (RFC 3339)")
	c.Flags().IntVar(&limit, "limit", 0, "list at most this many entries (0 = all)")
	return c
}

func lsVersions(g *globals, s *store.Store, bucket, prefix string, limit int, cmd *cobra.Command) error {
	ctx := cmd.Context()
	var out []any
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	km, vm, n := "", "", 0
	for {
		r, err := s.ListVersions(ctx, index.ListVersionsOptions{Bucket: bucket, Prefix: prefix, KeyMarker: km, VersionIDMarker: vm, Limit: 1000})
		if err != nil {
			return err
		}
		for _, v := range r.Versions {
			if g.json {
				out = append(out, versionJSON(v))
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Time.Format(time.RFC3339Nano), sizeOrMarker(v), v.ID, v.Key)
			}
			n++
			if limit > 0 && n >= limit {
				r.Truncated = false
				break
			}
		}
		if !r.Truncated {
			break
		}
		km, vm = r.NextKeyMarker, r.NextVersionIDMarker
	}
	if g.json {
		if out == nil {
			out = []any{}
		}
		return g.printJSON(out)
	}
	return tw.Flush()
}

func sizeOrMarker(v index.Version) string {
	switch {
	case v.DeleteMarker:
		return "(deleted)"
	case v.Quarantined:
		return fmt.Sprintf("%d (quarantined)", v.Size)
	}
	return fmt.Sprint(v.Size)
}

func newVersions(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "versions BUCKET/KEY",
		Short: "List every version of a key, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, bucket, key, err := g.openPath(ctx, args[0], true)
			if err != nil {
				return err
			}
			defer s.Close()
			vs, err := s.Versions(ctx, bucket, key)
			if err != nil {
				return err
			}
			if g.json {
				out := make([]any, len(vs))
				for i, v := range vs {
					out[i] = versionJSON(v)
				}
				return g.printJSON(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
			for i, v := range vs {
				cur := ""
				if i == 0 {
					cur = "current"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ID, v.Time.Format(time.RFC3339Nano), sizeOrMarker(v), cur)
			}
			return tw.Flush()
		},
	}
}

func newRm(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm BUCKET/KEY...",
		Short: "Delete keys (writes delete markers; every version stays readable)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, a := range args {
				bucket, key, err := splitPath(a, true)
				if err != nil {
					return err
				}
				if _, err := s.Stat(ctx, bucket, key, store.StatOptions{}); err != nil {
					return err
				}
				info, err := s.Delete(ctx, bucket, key, "cli")
				if err != nil {
					return err
				}
				if g.json {
					if err := g.printJSON(versionJSON(info.Version)); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(g.stdout, "deleted %s/%s (delete marker %s)\n", bucket, key, info.ID)
				}
			}
			return nil
		},
	}
}

func newMb(g *globals) *cobra.Command {
	return bucketCommand(g, "mb", "Create a bucket", (*store.Store).CreateBucket)
}

func newRb(g *globals) *cobra.Command {
	return bucketCommand(g, "rb", "Remove an empty bucket", (*store.Store).DeleteBucket)
}

// bucketCommand makes a command that applies op to one bucket.
func bucketCommand(g *globals, verb, short string, op func(*store.Store, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " BUCKET",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, bucket, _, err := g.openPath(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer s.Close()
			return op(s, cmd.Context(), bucket)
		},
	}
}

func versionJSON(v index.Version) map[string]any {
	return map[string]any{
		"bucket": v.Bucket, "key": v.Key, "version_id": v.ID, "time": v.Time, "size": v.Size,
		"etag": v.ETag, "delete_marker": v.DeleteMarker, "shards": v.Shards, "quarantined": v.Quarantined,
	}
}

func objectJSON(info *store.ObjectInfo) map[string]any {
	m := versionJSON(info.Version)
	m["protected"] = info.Protected
	return m
}
