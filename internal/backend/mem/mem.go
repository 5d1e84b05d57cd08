// Package mem is an in-memory backend.Backend for tests. Blobs live in a map
// and vanish with the process.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

var _ backend.Backend = (*Backend)(nil)

// Backend keeps blobs in memory. It is safe for concurrent use.
type Backend struct {
	mu    sync.RWMutex
	blobs map[string]blob
}

// blob is never modified once stored; Put replaces it.
type blob struct {
	data    []byte
	modTime time.Time
}

// New returns an empty Backend.
func New() *Backend {
	return &Backend{blobs: make(map[string]blob)}
}

// Put implements backend.Backend.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(min(size, 64<<20)))
	}
	if _, err := buf.ReadFrom(backend.ContextReader(ctx, backend.ExactReader(r, size))); err != nil {
		return fmt.Errorf("mem: put %s: %w", name, err)
	}
	b.mu.Lock()
	b.blobs[name] = blob{data: buf.Bytes(), modTime: time.Now()}
	b.mu.Unlock()
	return nil
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("mem: get %s: invalid range: offset %d, length %d", name, off, length)
	}
	bl, err := b.lookup("get", name)
	if err != nil {
		return nil, err
	}
	p := bl.data[min(off, int64(len(bl.data))):]
	if length >= 0 && length < int64(len(p)) {
		p = p[:length]
	}
	return backend.ContextReadCloser(ctx, io.NopCloser(bytes.NewReader(p))), nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, name string) (backend.Info, error) {
	if err := check(ctx, "stat", name); err != nil {
		return backend.Info{}, err
	}
	bl, err := b.lookup("stat", name)
	if err != nil {
		return backend.Info{}, err
	}
	return backend.Info{Name: name, Size: int64(len(bl.data)), ModTime: bl.modTime}, nil
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.blobs, name)
	b.mu.Unlock()
	return nil
}

// List implements backend.Backend. It calls fn on a snapshot taken when List
// starts, without holding a lock, so fn may use b.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if !backend.ValidPrefix(prefix) {
		return fmt.Errorf("mem: list %q: %w", prefix, backend.ErrInvalidName)
	}
	var infos []backend.Info
	b.mu.RLock()
	for name, bl := range b.blobs {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, backend.Info{Name: name, Size: int64(len(bl.data)), ModTime: bl.modTime})
		}
	}
	b.mu.RUnlock()
	slices.SortFunc(infos, func(a, b backend.Info) int { return strings.Compare(a.Name, b.Name) })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list %q: %w", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: list %q: %w", prefix, err)
	}
	return nil
}

func (b *Backend) lookup(op, name string) (blob, error) {
	b.mu.RLock()
	bl, ok := b.blobs[name]
	b.mu.RUnlock()
	if !ok {
		return blob{}, fmt.Errorf("mem: %s %s: %w", op, name, backend.ErrNotFound)
	}
	return bl, nil
}

// check validates name and reports a done context.
func check(ctx context.Context, op, name string) error {
	if !backend.ValidName(name) {
		return fmt.Errorf("mem: %s %q: %w", op, name, backend.ErrInvalidName)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: %s %s: %w", op, name, err)
	}
	return nil
}
