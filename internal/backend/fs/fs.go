// Package fs is a backend.Backend over a local directory: each blob is a
// file at its name under the directory.
//
// Put writes to a temporary file in the directory's .tmp subdirectory,
// fsyncs it, renames it into place and fsyncs the parent directory, so an
// acknowledged write survives a crash and readers never see a partial blob.
// The name ".tmp" and everything under it is reserved. Temporary files left
// by a crash are removed by New once they are an hour old, or by Cleanup.
//
// A file system cannot hold both a blob "a/b" and a blob "a/b/c"; Put of the
// second reports backend.ErrInvalidName.
package fs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

var _ backend.Backend = (*Backend)(nil)

const (
	// tmpDir holds files being written, relative to the root.
	tmpDir = ".tmp"
	// StaleAge is how old a temporary file must be for New to remove it.
	StaleAge = time.Hour

	filePerm = 0o600
	dirPerm  = 0o700
)

// Options tune a Backend. The zero value (or a nil *Options) is safe.
type Options struct {
	// NoSync skips fsync of files and directories on Put: faster, but an
	// acknowledged write may be lost in a crash. For tests and scratch data.
	NoSync bool
	// Create makes the directory and its parents if they are missing. By
	// default New refuses a missing directory, so an unmounted disk is not
	// silently replaced by a directory on the root file system.
	Create bool
}

// Backend stores blobs as files under one directory. It is safe for
// concurrent use. Close releases the directory handle.
type Backend struct {
	dir    string
	root   *os.Root
	noSync bool
}

// New opens the directory dir as a Backend and removes temporary files
// older than StaleAge. dir must exist unless opts.Create is set.
func New(dir string, opts *Options) (*Backend, error) {
	if opts == nil {
		opts = &Options{}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: %w", err)
	}
	if opts.Create {
		if err := os.MkdirAll(abs, dirPerm); err != nil {
			return nil, fmt.Errorf("fs: %w", err)
		}
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, backend.WithKind(fmt.Errorf("fs: %w", err), backend.ErrUnavailable)
	}
	b := &Backend{dir: abs, root: root, noSync: opts.NoSync}
	// A read-only directory still serves reads, so failures here are left
	// for Put to report.
	if err := root.Mkdir(tmpDir, dirPerm); err == nil || errors.Is(err, iofs.ErrExist) {
		_ = b.Cleanup(context.Background(), time.Now().Add(-StaleAge))
	}
	return b, nil
}

// Dir returns the absolute path of the directory.
func (b *Backend) Dir() string { return b.dir }

// Close releases the directory handle. The Backend must not be used after.
func (b *Backend) Close() error { return b.root.Close() }

// Cleanup removes temporary files last modified before the given time. Only
// files old enough to be abandoned should be removed: a Put in progress,
// possibly from another process, owns the younger ones.
func (b *Backend) Cleanup(ctx context.Context, before time.Time) error {
	f, err := b.root.Open(tmpDir)
	if errors.Is(err, iofs.ErrNotExist) && b.rootGone() == nil {
		return nil
	}
	if err != nil {
		return b.fail("cleanup", tmpDir, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return b.fail("cleanup", tmpDir, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fs: cleanup: %w", err)
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue // removed meanwhile, or still young
		}
		name := tmpDir + "/" + e.Name()
		if err := b.root.Remove(name); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return b.fail("cleanup", name, err)
		}
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { p := make([]byte, 256<<10); return &p }}

// Put implements backend.Backend.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) (err error) {
	if err := b.check(ctx, "put", name); err != nil {
		return err
	}
	f, tmp, err := b.createTemp()
	if err != nil {
		return b.fail("put", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			b.root.Remove(tmp)
		}
	}()

	if wt, ok := r.(io.WriterTo); ok {
		// The source hands over its own buffers: no copy through ours.
		if err := putFrom(ctx, wt, f, size); err != nil {
			return fmt.Errorf("fs: put %s: %w", name, err)
		}
		return b.commit(ctx, f, tmp, name)
	}
	src := backend.ExactReader(r, size)
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	buf := *bufp
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fs: put %s: %w", name, err)
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return b.fail("put", name, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("fs: put %s: %w", name, rerr)
		}
	}
	return b.commit(ctx, f, tmp, name)
}

// commit makes a fully written temp file the blob name: sync, close,
// rename, sync the directories.
func (b *Backend) commit(ctx context.Context, f *os.File, tmp, name string) error {
	if !b.noSync {
		if err := f.Sync(); err != nil {
			return b.fail("put", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return b.fail("put", name, err)
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: put %s: %w", name, err)
	}
	// The directory almost always exists: try the rename first, and make
	// the directories only when it says they are missing.
	var created []string
	err := b.root.Rename(tmp, name)
	if errors.Is(err, iofs.ErrNotExist) {
		if created, err = b.mkdirs(path.Dir(name)); err == nil {
			err = b.root.Rename(tmp, name)
		}
	}
	if err != nil {
		return b.fail("put", name, err)
	}
	if b.noSync {
		return nil
	}
	dirs := []string{path.Dir(name)}
	for _, d := range created {
		dirs = append(dirs, path.Dir(d))
	}
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		if err := b.syncDir(d); err != nil {
			// The blob is in place but may not survive a crash: report
			// the put as failed so the caller does not count on it.
			return b.fail("put", name, err)
		}
	}
	return nil
}

// createTemp creates a new file in tmpDir, recreating tmpDir if it was
// removed.
func (b *Backend) createTemp() (*os.File, string, error) {
	name := tmpDir + "/" + rand.Text()
	f, err := b.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if errors.Is(err, iofs.ErrNotExist) {
		if merr := b.root.Mkdir(tmpDir, dirPerm); merr == nil || errors.Is(merr, iofs.ErrExist) {
			f, err = b.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		}
	}
	return f, name, err
}

// mkdirs creates dir and its missing parents, returning the ones it made.
func (b *Backend) mkdirs(dir string) ([]string, error) {
	if dir == "." {
		return nil, nil
	}
	if info, err := b.root.Stat(dir); err == nil && info.IsDir() {
		return nil, nil
	}
	var created []string
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		d := dir[:i]
		err := b.root.Mkdir(d, dirPerm)
		switch {
		case err == nil:
			created = append(created, d)
		case errors.Is(err, iofs.ErrExist):
			// A file in the way is reported by the next Mkdir or Rename.
		default:
			return created, err
		}
	}
	return created, nil
}

func (b *Backend) syncDir(dir string) error {
	d, err := b.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, "get", name); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("fs: get %s: invalid range: offset %d, length %d", name, off, length)
	}
	f, err := b.root.Open(name)
	if err != nil {
		return nil, b.fail("get", name, err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = &iofs.PathError{Op: "open", Path: f.Name(), Err: syscall.ENOENT}
	}
	if err != nil {
		f.Close()
		return nil, b.fail("get", name, err)
	}
	if length == -1 {
		length = max(info.Size()-off, 0)
	}
	return &reader{
		r:    backend.ContextReader(ctx, io.NewSectionReader(f, off, length)),
		f:    f,
		b:    b,
		name: name,
	}, nil
}

// reader classifies read errors of a Get.
type reader struct {
	r    io.Reader
	f    *os.File
	b    *Backend
	name string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		err = r.b.fail("get", r.name, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.f.Close() }

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (backend.Info, error) {
	if err := b.check(ctx, "stat", name); err != nil {
		return backend.Info{}, err
	}
	info, err := b.root.Stat(name)
	if err == nil && !info.Mode().IsRegular() {
		err = &iofs.PathError{Op: "stat", Path: filepath.Join(b.dir, name), Err: syscall.ENOENT}
	}
	if err != nil {
		return backend.Info{}, b.fail("stat", name, err)
	}
	return backend.Info{Name: name, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Delete implements backend.Backend. Deletes are not fsynced: a blob
// deleted just before a crash may come back.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := b.check(ctx, "delete", name); err != nil {
		return err
	}
	info, err := b.root.Lstat(name)
	if err == nil && info.IsDir() {
		return nil // a prefix of other blobs, not a blob
	}
	if err == nil {
		err = b.root.Remove(name)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		if gone := b.rootGone(); gone != nil {
			return b.fail("delete", name, err)
		}
		return nil
	}
	return b.fail("delete", name, err)
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if !backend.ValidPrefix(prefix) {
		return fmt.Errorf("fs: list %q: %w", prefix, backend.ErrInvalidName)
	}
	dir, match := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, match = prefix[:i], prefix[i+1:]
	}
	if reserved(dir) {
		return nil
	}
	if err := b.walk(ctx, dir, match, fn); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: list %q: %w", prefix, err)
	}
	return nil
}

// walk calls fn for the blobs under dir whose first element below dir
// starts with match, in lexical order of their full names.
func (b *Backend) walk(ctx context.Context, dir, match string, fn func(backend.Info) error) error {
	open := dir
	if open == "" {
		open = "."
	}
	f, err := b.root.Open(open)
	if err != nil {
		if (errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && b.rootGone() == nil {
			return nil // nothing under this prefix
		}
		return b.fail("list", open, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil // dir is a blob
		}
		return b.fail("list", open, err)
	}
	type entry struct {
		key string // sorts like the names below it: dirs end in "/"
		e   iofs.DirEntry
	}
	var sorted []entry
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, match) || (dir == "" && n == tmpDir) {
			continue
		}
		switch {
		case e.IsDir():
			sorted = append(sorted, entry{n + "/", e})
		case e.Type().IsRegular():
			sorted = append(sorted, entry{n, e})
		}
	}
	slices.SortFunc(sorted, func(x, y entry) int { return strings.Compare(x.key, y.key) })
	for _, s := range sorted {
		full := s.e.Name()
		if dir != "" {
			full = dir + "/" + full
		}
		if s.e.IsDir() {
			if err := b.walk(ctx, full, "", fn); err != nil {
				return err
			}
			continue
		}
		if !backend.ValidName(full) {
			continue // not written by this package
		}
		info, err := s.e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return b.fail("list", full, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fs: list: %w", err)
		}
		if err := fn(backend.Info{Name: full, Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// check validates name and reports a done context.
func (b *Backend) check(ctx context.Context, op, name string) error {
	if !backend.ValidName(name) {
		return fmt.Errorf("fs: %s %q: %w", op, name, backend.ErrInvalidName)
	}
	if reserved(name) {
		return fmt.Errorf("fs: %s %s: name is reserved for temporary files: %w", op, name, backend.ErrInvalidName)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: %s %s: %w", op, name, err)
	}
	return nil
}

func reserved(name string) bool {
	return name == tmpDir || strings.HasPrefix(name, tmpDir+"/")
}

// rootGone returns an error if the directory was removed or replaced since
// New opened it.
func (b *Backend) rootGone() error {
	fi, err := os.Stat(b.dir)
	if err != nil {
		return err
	}
	ri, err := b.root.Stat(".")
	if err != nil {
		return err
	}
	if !os.SameFile(fi, ri) {
		return fmt.Errorf("%s was replaced by another directory", b.dir)
	}
	return nil
}

// fail adds op and name to err and marks it with its error kind.
func (b *Backend) fail(op, name string, err error) error {
	werr := fmt.Errorf("fs: %s %s: %w", op, name, err)
	var kind error
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR),
		errors.Is(err, syscall.EEXIST), errors.Is(err, syscall.ENOTEMPTY):
		if gone := b.rootGone(); gone != nil {
			werr = fmt.Errorf("fs: %s %s: directory %s is gone: %w", op, name, b.dir, gone)
			kind = backend.ErrUnavailable
			break
		}
		switch {
		case op != "put":
			kind = backend.ErrNotFound
		case errors.Is(err, syscall.ENOENT):
			kind = backend.ErrUnavailable // a directory vanished mid-way
		default:
			werr = fmt.Errorf("fs: put %s: name conflicts with another blob's path: %w", name, err)
			kind = backend.ErrInvalidName
		}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		kind = backend.ErrForbidden
	case errors.Is(err, syscall.ENAMETOOLONG):
		kind = backend.ErrInvalidName
	default:
		// EIO, ENOSPC, EROFS, EDQUOT, ESTALE and anything unexpected: the
		// directory cannot serve the request now.
		kind = backend.ErrUnavailable
	}
	return backend.WithKind(werr, kind)
}

// putFrom writes a WriterTo source to f, holding it to the same contract as
// the copy loop: the context ends the put, and a known size must match.
func putFrom(ctx context.Context, src io.WriterTo, f *os.File, size int64) error {
	cw := &countingWriter{ctx: ctx, w: f, limit: size}
	if _, err := src.WriteTo(cw); err != nil {
		return err
	}
	if size >= 0 && cw.n != size {
		return fmt.Errorf("%w: reader ended after %d of %d bytes", io.ErrUnexpectedEOF, cw.n, size)
	}
	return nil
}

type countingWriter struct {
	ctx   context.Context
	w     io.Writer
	n     int64
	limit int64 // -1: none
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.limit >= 0 && c.n+int64(len(p)) > c.limit {
		return 0, fmt.Errorf("reader yields more than %d bytes", c.limit)
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
