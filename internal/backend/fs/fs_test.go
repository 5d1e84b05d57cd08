package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, t.TempDir()) })
}

func TestConformanceNoSync(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := New(t.TempDir(), &Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func newBackend(t testing.TB, dir string) *Backend {
	t.Helper()
	b, err := New(dir, nil)
	if err != nil {
		t.Fatalf("New(%q) = %v", dir, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func tmpFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t, dir)
	if err := b.Put(t.Context(), "shards/ab/blob", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "shards", "ab", "blob"))
	if err != nil || string(got) != "data" {
		t.Errorf("file shards/ab/blob = %q, %v; want %q", got, err, "data")
	}
	if files := tmpFiles(t, dir); len(files) != 0 {
		t.Errorf("%s holds %q after a Put; want nothing", tmpDir, files)
	}
}

func TestFailedPutLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t, dir)
	errBroken := errors.New("broken")
	r := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), iotestErrReader{errBroken})
	if err := b.Put(t.Context(), "blob", r, -1); !errors.Is(err, errBroken) {
		t.Fatalf("Put = %v; want %v", err, errBroken)
	}
	if files := tmpFiles(t, dir); len(files) != 0 {
		t.Errorf("%s holds %q after a failed Put; want nothing", tmpDir, files)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	write := func(name string, age time.Duration) {
		p := filepath.Join(dir, tmpDir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	write("stale", 2*time.Hour)
	write("young", 10*time.Minute)

	b := newBackend(t, dir) // New sweeps files older than StaleAge.
	if got := strings.Join(tmpFiles(t, dir), ","); got != "young" {
		t.Errorf("after New, %s holds %q; want %q", tmpDir, got, "young")
	}
	var listed []string
	if err := b.List(t.Context(), "", func(i backend.Info) error { listed = append(listed, i.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Errorf("List = %q; temporary files must not be listed", listed)
	}

	write("older", 20*time.Minute)
	if err := b.Cleanup(t.Context(), now.Add(-15*time.Minute)); err != nil {
		t.Fatalf("Cleanup = %v", err)
	}
	if got := strings.Join(tmpFiles(t, dir), ","); got != "young" {
		t.Errorf("after Cleanup, %s holds %q; want %q", tmpDir, got, "young")
	}
}

func TestReservedNames(t *testing.T) {
	b := newBackend(t, t.TempDir())
	for _, name := range []string{".tmp", ".tmp/x", ".tmp/a/b"} {
		if err := b.Put(t.Context(), name, strings.NewReader("x"), 1); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Put(%q) = %v; want ErrInvalidName", name, err)
		}
		if _, err := b.Stat(t.Context(), name); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Stat(%q) = %v; want ErrInvalidName", name, err)
		}
	}
	// A blob being written sits in .tmp; listing that prefix shows nothing.
	if err := os.WriteFile(filepath.Join(b.Dir(), tmpDir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{".tmp/", ".tmp", "."} {
		err := b.List(t.Context(), prefix, func(i backend.Info) error {
			t.Errorf("List(%q) reported %q", prefix, i.Name)
			return nil
		})
		if err != nil {
			t.Errorf("List(%q) = %v", prefix, err)
		}
	}
	// Names merely starting with .tmp are fine.
	if err := b.Put(t.Context(), ".tmpx/y", strings.NewReader("x"), 1); err != nil {
		t.Errorf("Put(.tmpx/y) = %v", err)
	}
}

func TestNameConflict(t *testing.T) {
	b := newBackend(t, t.TempDir())
	ctx := t.Context()
	for _, name := range []string{"a/b", "x/y/z"} {
		if err := b.Put(ctx, name, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a/b/c", "x/y"} {
		err := b.Put(ctx, name, strings.NewReader("x"), 1)
		if !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Put(%q) = %v; want ErrInvalidName", name, err)
		}
	}
	if files := tmpFiles(t, b.Dir()); len(files) != 0 {
		t.Errorf("%s holds %q after failed Puts; want nothing", tmpDir, files)
	}
}

func TestMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt", "disk1")
	if _, err := New(dir, nil); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("New(missing dir) = %v; want ErrUnavailable", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("New without Create made %s", dir)
	}
	b, err := New(dir, &Options{Create: true})
	if err != nil {
		t.Fatalf("New(missing dir, Create) = %v", err)
	}
	b.Close()
	if _, err := os.Stat(filepath.Join(dir, tmpDir)); err != nil {
		t.Errorf("New(Create) did not make %s: %v", tmpDir, err)
	}
}

func TestRootRemoved(t *testing.T) {
	for _, replace := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		b := newBackend(t, dir)
		ctx := t.Context()
		if err := b.Put(ctx, "a/blob", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if replace {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		errs := map[string]error{
			"Put":    b.Put(ctx, "a/new", strings.NewReader("x"), 1),
			"Delete": b.Delete(ctx, "a/blob"),
			"List":   b.List(ctx, "", func(backend.Info) error { return nil }),
		}
		_, errs["Get"] = b.Get(ctx, "a/blob", 0, -1)
		_, errs["Stat"] = b.Stat(ctx, "a/blob")
		for op, err := range errs {
			if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), dir) {
				t.Errorf("replaced=%t: %s = %v; want ErrUnavailable naming %s", replace, op, err, dir)
			}
		}
		if replace {
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("Put wrote into the replacement directory: %v", entries)
			}
		}
	}
}

func TestErrorKinds(t *testing.T) {
	b := newBackend(t, t.TempDir())
	tests := []struct {
		op    string
		errno syscall.Errno
		want  error
	}{
		{"get", syscall.ENOENT, backend.ErrNotFound},
		{"stat", syscall.ENOTDIR, backend.ErrNotFound},
		{"get", syscall.EACCES, backend.ErrForbidden},
		{"put", syscall.EACCES, backend.ErrForbidden},
		{"put", syscall.EPERM, backend.ErrForbidden},
		{"put", syscall.ENOTDIR, backend.ErrInvalidName},
		{"put", syscall.ENOENT, backend.ErrUnavailable},
		{"get", syscall.ENAMETOOLONG, backend.ErrInvalidName},
		{"get", syscall.EIO, backend.ErrUnavailable},
		{"put", syscall.EIO, backend.ErrUnavailable},
		{"put", syscall.ENOSPC, backend.ErrUnavailable},
		{"put", syscall.EROFS, backend.ErrUnavailable},
		{"get", syscall.ESTALE, backend.ErrUnavailable},
	}
	for _, tt := range tests {
		orig := &iofs.PathError{Op: "open", Path: "/d/shards/ab/x", Err: tt.errno}
		err := b.fail(tt.op, "shards/ab/x", orig)
		if !errors.Is(err, tt.want) {
			t.Errorf("fail(%s, %v) = %v; want kind %v", tt.op, tt.errno, err, tt.want)
		}
		if !errors.Is(err, tt.errno) {
			t.Errorf("fail(%s, %v) = %v; does not wrap the original error", tt.op, tt.errno, err)
		}
		if want := "fs: " + tt.op + " shards/ab/x: "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), orig.Error()) {
			t.Errorf("fail(%s, %v) message %q; want it to start with %q and contain %q", tt.op, tt.errno, err, want, orig)
		}
	}
}

// TestPermissionDenied needs a user without CAP_DAC_OVERRIDE: root reads and
// writes regardless of permission bits.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions; run as another user to test this")
	}
	b := newBackend(t, t.TempDir())
	ctx := context.Background()
	if err := b.Put(ctx, "locked/blob", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(b.Dir(), "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o700)
	err := b.Put(ctx, "locked/new", strings.NewReader("x"), 1)
	if !errors.Is(err, backend.ErrForbidden) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Put into an unwritable directory = %v; want ErrForbidden saying permission denied", err)
	}
	if _, err := b.Get(ctx, "locked/blob", 0, -1); !errors.Is(err, backend.ErrForbidden) {
		t.Errorf("Get from an unreadable directory = %v; want ErrForbidden", err)
	}
}

// writerToReader hides everything but Read and WriteTo, as the store's
// pipe does.
type writerToReader struct{ r *bytes.Reader }

func (w writerToReader) Read(p []byte) (int, error)         { return w.r.Read(p) }
func (w writerToReader) WriteTo(d io.Writer) (int64, error) { return w.r.WriteTo(d) }

func TestPutFromWriterTo(t *testing.T) {
	b, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := bytes.Repeat([]byte("abc"), 100000)
	if err := b.Put(ctx, "x/y", writerToReader{bytes.NewReader(data)}, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(ctx, "x/y", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	for _, size := range []int64{int64(len(data)) - 1, int64(len(data)) + 1} {
		if err := b.Put(ctx, "x/z", writerToReader{bytes.NewReader(data)}, size); err == nil {
			t.Fatalf("Put with announced size %d of %d bytes succeeded", size, len(data))
		}
		if _, err := b.Stat(ctx, "x/z"); err == nil {
			t.Fatal("a failed Put left a blob")
		}
	}
}
