package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/store"
)

func newPut(g *globals) *cobra.Command {
	var recursive bool
	var contentType string
	c := &cobra.Command{
		Use:   "put BUCKET/KEY [FILE|-]  |  put -r DIR BUCKET/PREFIX",
		Short: "Store a file (or stdin, or a directory tree) as new versions",
		Long: `Store FILE (or stdin when FILE is - or absent) as a new version of BUCKET/KEY.
With -r, store every regular file under DIR as BUCKET/PREFIX/<relative path>.
The bucket is created if it does not exist.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if recursive {
				if len(args) != 2 {
					return usageErr("put -r needs DIR and BUCKET/PREFIX")
				}
				return putTree(ctx, g, args[0], args[1], contentType)
			}
			bucket, key, err := splitPath(args[0], true)
			if err != nil {
				return err
			}
			src := "-"
			if len(args) == 2 {
				src = args[1]
			}
			s, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.EnsureBucket(ctx, bucket); err != nil {
				return err
			}
			info, err := putOne(ctx, g, s, bucket, key, src, contentType, nil)
			if err != nil {
				return err
			}
			return reportPut(g, info)
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "store a directory tree")
	c.Flags().StringVar(&contentType, "content-type", "", "Content-Type to record")
	return c
}

func putOne(ctx context.Context, g *globals, s *store.Store, bucket, key, src, contentType string, bar *progress) (*store.ObjectInfo, error) {
	var r io.Reader = os.Stdin
	opts := &store.PutOptions{ContentType: contentType, Identity: "cli"}
	if src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return nil, usageErr("cannot read %s: %v", src, errors.Unwrap(err))
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return nil, usageErr("%s is a directory; use put -r DIR BUCKET/PREFIX", src)
		}
		r = f
		opts.Size, opts.SizeKnown = st.Size(), true
		if bar == nil && st.Size() > 8<<20 {
			if bar = g.bytesBar("put " + key); bar != nil {
				bar.Set(0, st.Size())
				defer bar.Done()
			}
		}
	}
	if bar != nil {
		r = io.TeeReader(r, bar)
	}
	return s.Put(ctx, bucket, key, r, opts)
}

func reportPut(g *globals, info *store.ObjectInfo) error {
	if !info.Protected {
		g.note("rhizome: warning: %s/%s stored under-protected: %d of %d shards written; `rhizome verify` lists it until repaired",
			info.Bucket, info.Key, info.Shards, len(info.Manifest.Placement))
	}
	if g.json {
		return g.printJSON(objectJSON(info))
	}
	fmt.Fprintf(g.stdout, "%s/%s version %s (%d bytes)\n", info.Bucket, info.Key, info.ID, info.Size)
	return nil
}

func putTree(ctx context.Context, g *globals, dir, dest, contentType string) error {
	bucket, prefix, err := splitPath(dest, false)
	if err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return usageErr("%s is not a directory", dir)
	}
	type file struct {
		path, key string
		size      int64
	}
	var files []file
	var total int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		key := filepath.ToSlash(rel)
		if prefix != "" {
			key = strings.TrimSuffix(prefix, "/") + "/" + key
		}
		if err := store.ValidKey(key); err != nil {
			return usageErr("%s: %v", p, err)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, file{p, key, info.Size()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return err
	}
	s, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.EnsureBucket(ctx, bucket); err != nil {
		return err
	}
	bar := g.bytesBar(fmt.Sprintf("put %d files", len(files)))
	bar.Set(0, total)
	var out []any
	under := 0
	for _, f := range files {
		info, err := putOne(ctx, g, s, bucket, f.key, f.path, contentType, bar)
		if err != nil {
			bar.Done()
			return fmt.Errorf("%s: %w (files before it were stored)", f.path, err)
		}
		if !info.Protected {
			under++
		}
		if g.json {
			out = append(out, objectJSON(info))
		} else if bar == nil && !g.quiet {
			fmt.Fprintf(g.stdout, "%s/%s version %s (%d bytes)\n", info.Bucket, info.Key, info.ID, info.Size)
		}
	}
	bar.Done()
	if under > 0 {
		g.note("rhizome: warning: %d of %d files stored under-protected (some backends unreachable)", under, len(files))
	}
	if g.json {
		return g.printJSON(out)
	}
	fmt.Fprintf(g.stdout, "stored %d files (%d bytes) under %s/%s\n", len(files), total, bucket, prefix)
	return nil
}
