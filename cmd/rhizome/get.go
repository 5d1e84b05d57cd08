package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

func newGet(g *globals) *cobra.Command {
	var version, asOf string
	c := &cobra.Command{
		Use:   "get BUCKET/KEY [FILE|-] [--version ID] [--as-of RFC3339]",
		Short: "Read an object (current, a version, or as it was at a time)",
		Long: `Write the object to FILE (atomically: a failed read leaves no partial file)
or to stdout when FILE is - or absent. Reads survive the loss of any m
backends or one region; a degraded read is noted on stderr.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, info, err := g.openObject(ctx, args[0], version, asOf)
			if err != nil {
				return err
			}
			defer s.Close()
			bucket, key := info.Bucket, info.Key
			dst := "-"
			if len(args) == 2 {
				dst = args[1]
			}
			var w io.Writer = os.Stdout
			var tmp *os.File
			if dst != "-" {
				tmp, err = os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".rhizome-*")
				if err != nil {
					return usageErr("cannot write %s: %v", dst, errors.Unwrap(err))
				}
				defer os.Remove(tmp.Name())
				defer tmp.Close()
				w = tmp
			}
			if dst != "-" && info.Size > 8<<20 {
				bar := g.bytesBar("get " + key)
				bar.Set(0, info.Size)
				if bar != nil {
					w = io.MultiWriter(w, bar)
				}
				defer bar.Done()
			}
			rep, err := s.Read(ctx, info, w, 0, -1)
			if rep.Degraded {
				g.note("rhizome: degraded read of %s/%s: %d shard(s) unusable, rebuilt from parity:", bucket, key, len(rep.Problems))
				for _, p := range rep.Problems {
					g.note("  %s", p)
				}
			}
			if err != nil {
				return err
			}
			if tmp != nil {
				if err := tmp.Sync(); err != nil {
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				if err := os.Rename(tmp.Name(), dst); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&version, "version", "", "read this version ID")
	c.Flags().StringVar(&asOf, "as-of", "", "read the version current at this time (RFC 3339)")
	return c
}

// openObject opens the store and looks up the version of BUCKET/KEY that
// version or asOf name (the current one when both are empty). The caller
// closes the store.
func (g *globals) openObject(ctx context.Context, arg, version, asOf string) (*store.Store, *store.ObjectInfo, error) {
	bucket, key, err := splitPath(arg, true)
	if err != nil {
		return nil, nil, err
	}
	so, err := statOptions(version, asOf)
	if err != nil {
		return nil, nil, err
	}
	s, err := g.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	info, err := s.Stat(ctx, bucket, key, so)
	if err != nil {
		s.Close()
		return nil, nil, explainDeleted(err, info)
	}
	return s, info, nil
}

func statOptions(version, asOf string) (store.StatOptions, error) {
	var so store.StatOptions
	if version != "" && asOf != "" {
		return so, usageErr("--version and --as-of cannot be combined")
	}
	so.VersionID = version
	if asOf != "" {
		t, err := parseTime(asOf)
		if err != nil {
			return so, err
		}
		so.AsOf = t
	}
	return so, nil
}

func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErr("time %q: use RFC 3339, e.g. 2026-11-22T10:00:00Z", v)
}

func explainDeleted(err error, info *store.ObjectInfo) error {
	if errors.Is(err, store.ErrDeleteMarker) && info != nil {
		return fmt.Errorf("%w (deleted at %s by delete marker %s; older versions remain: `rhizome versions %s/%s`)",
			err, info.Time.Format(time.RFC3339), info.ID, info.Bucket, info.Key)
	}
	return err
}
