// Package backendtest is the conformance suite for backend.Backend: every
// driver and every wrapper runs it from its own test.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend { return mem.New() })
//	}
package backendtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

// MultiMiB is the size of the largest blob the suite writes. It is above
// 5 MiB, the smallest part an S3 multipart upload allows, so a driver that
// switches to multipart uploads at 5 MiB exercises both paths.
const MultiMiB = 11<<20 + 123

// Run runs the conformance suite against the backends newBackend returns.
// newBackend must return an empty backend; it is called once per subtest,
// from subtests that run in parallel.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"PutGet", testPutGet},
		{"Range", testRange},
		{"InvalidRange", testInvalidRange},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"PrefixIsNotBlob", testPrefixIsNotBlob},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStops", testListStops},
		{"ListCallbackUsesBackend", testListCallbackUsesBackend},
		{"InvalidName", testInvalidName},
		{"ValidNames", testValidNames},
		{"Overwrite", testOverwrite},
		{"FailedPut", testFailedPut},
		{"SizeMismatch", testSizeMismatch},
		{"InvisibleUntilDone", testInvisibleUntilDone},
		{"CanceledBefore", testCanceledBefore},
		{"CanceledPut", testCanceledPut},
		{"CanceledGet", testCanceledGet},
		{"CanceledList", testCanceledList},
		{"ConcurrentNames", testConcurrentNames},
		{"ConcurrentSameName", testConcurrentSameName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBackend(t))
		})
	}
}

// stream hides every method of r but Read, as a network stream would.
type stream struct{ r io.Reader }

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// data returns n deterministic pseudo-random bytes for seed.
func data(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t testing.TB, b backend.Backend, name string, p []byte) {
	t.Helper()
	if err := b.Put(testContext(t), name, stream{bytes.NewReader(p)}, int64(len(p))); err != nil {
		t.Fatalf("Put(%q, %d bytes) = %v", name, len(p), err)
	}
}

func get(t testing.TB, b backend.Backend, name string, off, length int64) []byte {
	t.Helper()
	rc, err := b.Get(testContext(t), name, off, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d) = %v", name, off, length, err)
	}
	defer rc.Close()
	p, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): read: %v", name, off, length, err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Get(%q, %d, %d): Close = %v", name, off, length, err)
	}
	return p
}

// checkBlob fails t unless name holds exactly want.
func checkBlob(t testing.TB, b backend.Backend, name string, want []byte) {
	t.Helper()
	if got := get(t, b, name, 0, -1); !bytes.Equal(got, want) {
		t.Errorf("Get(%q) = %s; want %s", name, describe(got), describe(want))
	}
	info, err := b.Stat(testContext(t), name)
	if err != nil {
		t.Fatalf("Stat(%q) = %v", name, err)
	}
	if info.Size != int64(len(want)) {
		t.Errorf("Stat(%q).Size = %d; want %d", name, info.Size, len(want))
	}
}

// checkMissing fails t unless Get and Stat of name report ErrNotFound.
func checkMissing(t testing.TB, b backend.Backend, name string) {
	t.Helper()
	ctx := testContext(t)
	if rc, err := b.Get(ctx, name, 0, -1); !errors.Is(err, backend.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get(%q) error = %v; want ErrNotFound", name, err)
	}
	if _, err := b.Stat(ctx, name); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Stat(%q) error = %v; want ErrNotFound", name, err)
	}
}

// list returns everything List reports under prefix.
func list(t testing.TB, b backend.Backend, prefix string) []backend.Info {
	t.Helper()
	var infos []backend.Info
	err := b.List(testContext(t), prefix, func(i backend.Info) error {
		infos = append(infos, i)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q) = %v", prefix, err)
	}
	return infos
}

func names(infos []backend.Info) []string {
	var s []string
	for _, i := range infos {
		s = append(s, i.Name)
	}
	return s
}

func checkList(t testing.TB, b backend.Backend, prefix string, want ...string) {
	t.Helper()
	if got := names(list(t, b, prefix)); !slices.Equal(got, want) {
		t.Errorf("List(%q) = %q; want %q", prefix, got, want)
	}
}

// describe summarises p for failure messages.
func describe(p []byte) string {
	if len(p) <= 16 {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%d bytes starting %q", len(p), p[:16])
}

func testPutGet(t *testing.T, b backend.Backend) {
	for _, size := range []int{0, 1, 100, 64 << 10, MultiMiB} {
		for _, known := range []bool{true, false} {
			name := fmt.Sprintf("putget/%d-known", size)
			declared := int64(size)
			if !known {
				name = fmt.Sprintf("putget/%d-unknown", size)
				declared = -1
			}
			p := data(uint64(size), size)
			if err := b.Put(testContext(t), name, stream{bytes.NewReader(p)}, declared); err != nil {
				t.Fatalf("Put(%q, %d bytes, size %d) = %v", name, size, declared, err)
			}
			checkBlob(t, b, name, p)
		}
	}
}

func testRange(t *testing.T, b backend.Backend) {
	full := data(1, 1000)
	put(t, b, "range/full", full)
	put(t, b, "range/empty", nil)
	tests := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"range/full", 0, -1, full},
		{"range/full", 0, 0, nil},
		{"range/full", 0, 1, full[:1]},
		{"range/full", 0, 10, full[:10]},
		{"range/full", 10, -1, full[10:]},
		{"range/full", 500, 100, full[500:600]},
		{"range/full", 0, 1000, full},
		{"range/full", 990, 100, full[990:]},
		{"range/full", 999, -1, full[999:]},
		{"range/full", 1000, -1, nil},
		{"range/full", 1000, 10, nil},
		{"range/full", 5000, -1, nil},
		{"range/full", 5000, 10, nil},
		{"range/empty", 0, -1, nil},
		{"range/empty", 0, 10, nil},
		{"range/empty", 1, -1, nil},
	}
	for _, tt := range tests {
		got := get(t, b, tt.name, tt.off, tt.length)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("Get(%q, %d, %d) = %s; want %s", tt.name, tt.off, tt.length, describe(got), describe(tt.want))
		}
	}
}

func testInvalidRange(t *testing.T, b backend.Backend) {
	put(t, b, "blob", data(1, 10))
	for _, r := range [][2]int64{{-1, -1}, {-1, 5}, {0, -2}} {
		rc, err := b.Get(testContext(t), "blob", r[0], r[1])
		if err == nil {
			rc.Close()
			t.Errorf("Get(%q, %d, %d) error = nil; want an error", "blob", r[0], r[1])
		}
	}
}

func testStat(t *testing.T, b backend.Backend) {
	// Object stores keep whole seconds; allow for that and a little skew.
	before := time.Now().Truncate(time.Second).Add(-2 * time.Second)
	put(t, b, "stat/blob", data(2, 1234))
	after := time.Now().Add(2 * time.Second)
	info, err := b.Stat(testContext(t), "stat/blob")
	if err != nil {
		t.Fatalf("Stat = %v", err)
	}
	want := backend.Info{Name: "stat/blob", Size: 1234}
	if info.Name != want.Name || info.Size != want.Size {
		t.Errorf("Stat = {%q, %d}; want {%q, %d}", info.Name, info.Size, want.Name, want.Size)
	}
	if info.ModTime.Before(before) || info.ModTime.After(after) {
		t.Errorf("Stat.ModTime = %v; want between %v and %v", info.ModTime, before, after)
	}
}

func testNotFound(t *testing.T, b backend.Backend) {
	put(t, b, "present", data(3, 10))
	checkMissing(t, b, "missing")
	checkMissing(t, b, "no/such/dir/blob")
	rc, err := b.Get(testContext(t), "missing", 5, 10)
	if !errors.Is(err, backend.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get(missing, 5, 10) error = %v; want ErrNotFound", err)
	}
}

func testPrefixIsNotBlob(t *testing.T, b backend.Backend) {
	put(t, b, "dir/blob", data(4, 10))
	put(t, b, "file", data(5, 10))
	checkMissing(t, b, "dir")
	checkMissing(t, b, "file/x")
	if err := b.Delete(testContext(t), "dir"); err != nil {
		t.Errorf("Delete(dir) = %v; want nil", err)
	}
	checkBlob(t, b, "dir/blob", data(4, 10))
}

func testDelete(t *testing.T, b backend.Backend) {
	ctx := testContext(t)
	put(t, b, "del/a", data(6, 10))
	put(t, b, "del/b", data(7, 10))
	if err := b.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("Delete(del/a) = %v", err)
	}
	checkMissing(t, b, "del/a")
	checkBlob(t, b, "del/b", data(7, 10))
	checkList(t, b, "", "del/b")
	for _, name := range []string{"del/a", "never", "no/such/dir"} {
		if err := b.Delete(ctx, name); err != nil {
			t.Errorf("Delete(%q) of a missing blob = %v; want nil", name, err)
		}
	}
	// A deleted name can be written again.
	put(t, b, "del/a", data(8, 20))
	checkBlob(t, b, "del/a", data(8, 20))
}

// listNames has separators and characters that sort differently per
// element than per full name: a naive directory walk gets them wrong.
var listNames = []string{"c", "a/c/d", "b/x", "a0", "a-b", "b.y", "ab", "a.x", "a/b"}

func testList(t *testing.T, b backend.Backend) {
	before := time.Now().Truncate(time.Second).Add(-2 * time.Second)
	for i, n := range listNames {
		put(t, b, n, data(uint64(i), 10+i))
	}
	sizes := map[string]int64{}
	for i, n := range listNames {
		sizes[n] = int64(10 + i)
	}
	all := list(t, b, "")
	for _, info := range all {
		if info.Size != sizes[info.Name] {
			t.Errorf("List: %q has Size %d; want %d", info.Name, info.Size, sizes[info.Name])
		}
		if info.ModTime.Before(before) {
			t.Errorf("List: %q has ModTime %v; want after %v", info.Name, info.ModTime, before)
		}
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-b", "a.x", "a/b", "a/c/d", "a0", "ab", "b.y", "b/x", "c"}},
		{"a", []string{"a-b", "a.x", "a/b", "a/c/d", "a0", "ab"}},
		{"a/", []string{"a/b", "a/c/d"}},
		{"a/c", []string{"a/c/d"}},
		{"a/c/", []string{"a/c/d"}},
		{"a/c/d", []string{"a/c/d"}},
		{"a/c/d/", nil},
		{"b", []string{"b.y", "b/x"}},
		{"c", []string{"c"}},
		{"zz", nil},
		{"no/such/dir/", nil},
	}
	for _, tt := range tests {
		checkList(t, b, tt.prefix, tt.want...)
	}
	for _, prefix := range []string{"/", "../", "a//", "a b", "./"} {
		err := b.List(testContext(t), prefix, func(backend.Info) error { return nil })
		if !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("List(%q) error = %v; want ErrInvalidName", prefix, err)
		}
	}
}

func testListStops(t *testing.T, b backend.Backend) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("stop/%d", i), data(uint64(i), 10))
	}
	errStop := errors.New("stop here")
	var seen []string
	err := b.List(testContext(t), "stop/", func(i backend.Info) error {
		seen = append(seen, i.Name)
		if len(seen) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("List error = %v; want the callback's error", err)
	}
	if want := []string{"stop/0", "stop/1"}; !slices.Equal(seen, want) {
		t.Errorf("List called back for %q; want %q", seen, want)
	}
}

func testListCallbackUsesBackend(t *testing.T, b backend.Backend) {
	for i := range 3 {
		put(t, b, fmt.Sprintf("cb/%d", i), data(uint64(i), 10))
	}
	ctx := testContext(t)
	err := b.List(ctx, "cb/", func(i backend.Info) error {
		if _, err := b.Stat(ctx, i.Name); err != nil {
			return err
		}
		return b.Delete(ctx, i.Name)
	})
	if err != nil {
		t.Fatalf("List with a callback that stats and deletes = %v", err)
	}
	checkList(t, b, "cb/")
}

var invalidNames = []string{
	"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b", "a/../b", "../a",
	"a b", "a\\b", "a:b", "a*", "a\x00b", "a\nb", "\u00e9", strings.Repeat("a", 513),
}

func testInvalidName(t *testing.T, b backend.Backend) {
	ctx := testContext(t)
	for _, name := range invalidNames {
		if err := b.Put(ctx, name, bytes.NewReader([]byte("x")), 1); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Put(%q) error = %v; want ErrInvalidName", name, err)
		}
		rc, err := b.Get(ctx, name, 0, -1)
		if !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Get(%q) error = %v; want ErrInvalidName", name, err)
		}
		if err == nil {
			rc.Close()
		}
		if _, err := b.Stat(ctx, name); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Stat(%q) error = %v; want ErrInvalidName", name, err)
		}
		if err := b.Delete(ctx, name); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("Delete(%q) error = %v; want ErrInvalidName", name, err)
		}
	}
	checkList(t, b, "")
}

func testValidNames(t *testing.T, b backend.Backend) {
	long := strings.Repeat("x", 120) + "/" + strings.Repeat("y", 120) + "/" +
		strings.Repeat("z", 120) + "/" + strings.Repeat("w", 149)
	if len(long) != 512 {
		t.Fatalf("long name has %d bytes; want 512", len(long))
	}
	valid := []string{"a", ".a", "..a", "a..", "-", "_", "A-Z_0.9", "d/.b/c..", "0/1/2/3/4/5/6/7/8/9", long}
	for i, name := range valid {
		if !backend.ValidName(name) {
			t.Fatalf("ValidName(%q) = false; the suite expects it valid", name)
		}
		put(t, b, name, data(uint64(i), i+1))
	}
	slices.Sort(valid)
	checkList(t, b, "", valid...)
	for _, name := range valid {
		got := get(t, b, name, 0, -1)
		if len(got) == 0 {
			t.Errorf("Get(%q) is empty", name)
		}
		if err := b.Delete(testContext(t), name); err != nil {
			t.Errorf("Delete(%q) = %v", name, err)
		}
	}
	checkList(t, b, "")
}

func testOverwrite(t *testing.T, b backend.Backend) {
	for i, size := range []int{100, 50, 200, 0, 70} {
		p := data(uint64(i), size)
		put(t, b, "over", p)
		checkBlob(t, b, "over", p)
	}
	checkList(t, b, "", "over")
}

// failingReader yields data and then fails with err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testFailedPut(t *testing.T, b backend.Backend) {
	errReader := errors.New("reader broke")
	old := data(9, 3000)
	for _, failAt := range []int{0, 1000, 6 << 20} {
		for _, known := range []bool{true, false} {
			for _, existing := range []bool{true, false} {
				name := fmt.Sprintf("fail-%d-%t-%t", failAt, known, existing)
				if existing {
					put(t, b, name, old)
				}
				size := int64(-1)
				if known {
					size = int64(failAt) + 1000
				}
				r := &failingReader{data: data(10, failAt), err: errReader}
				err := b.Put(testContext(t), name, r, size)
				if !errors.Is(err, errReader) {
					t.Errorf("Put(%q) with a reader failing after %d bytes, size %d: error = %v; want the reader's error", name, failAt, size, err)
				}
				if existing {
					checkBlob(t, b, name, old)
					checkList(t, b, name, name)
				} else {
					checkMissing(t, b, name)
					checkList(t, b, name)
				}
			}
		}
	}
}

func testSizeMismatch(t *testing.T, b backend.Backend) {
	old := data(11, 500)
	put(t, b, "existing", old)
	tests := []struct {
		name     string
		got      int
		declared int64
	}{
		{"existing", 500, 1000},
		{"existing", 1000, 500},
		{"fresh-short", 500, 1000},
		{"fresh-long", 1000, 500},
		{"fresh-long-empty", 1, 0},
	}
	for _, tt := range tests {
		err := b.Put(testContext(t), tt.name, stream{bytes.NewReader(data(12, tt.got))}, tt.declared)
		if err == nil {
			t.Errorf("Put(%q) of %d bytes declared as %d = nil; want an error", tt.name, tt.got, tt.declared)
		}
	}
	checkBlob(t, b, "existing", old)
	checkList(t, b, "", "existing")
}

// gateReader yields half of data, closes reached, waits for release and
// yields the rest.
type gateReader struct {
	data    []byte
	half    int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGateReader(p []byte) *gateReader {
	return &gateReader{data: p, half: len(p) / 2, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.half == 0 {
		g.once.Do(func() { close(g.reached) })
		<-g.release
		g.half = -1
	}
	if len(g.data) == 0 {
		return 0, io.EOF
	}
	if g.half > 0 && len(p) > g.half {
		p = p[:g.half]
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	if g.half > 0 {
		g.half -= n
	}
	return n, nil
}

func testInvisibleUntilDone(t *testing.T, b backend.Backend) {
	ctx := testContext(t)
	old := data(13, 1000)
	for _, known := range []bool{true, false} {
		name := fmt.Sprintf("slow-%t", known)
		fresh := name + "-fresh"
		put(t, b, name, old)
		newData := data(14, 256<<10)
		size := int64(-1)
		if known {
			size = int64(len(newData))
		}
		gates := []*gateReader{newGateReader(newData), newGateReader(newData)}
		released := false
		release := func() {
			if !released {
				released = true
				for _, g := range gates {
					close(g.release)
				}
			}
		}
		defer release()
		errs := make(chan error, 2)
		for i, n := range []string{name, fresh} {
			go func() { errs <- b.Put(ctx, n, gates[i], size) }()
		}
		for _, g := range gates {
			select {
			case <-g.reached:
			case err := <-errs:
				t.Fatalf("Put returned %v before reading all of its data", err)
			case <-time.After(30 * time.Second):
				t.Fatalf("Put did not read half of its data within 30s")
			}
		}
		checkBlob(t, b, name, old)
		checkMissing(t, b, fresh)
		checkList(t, b, name, name)
		release()
		for range gates {
			if err := <-errs; err != nil {
				t.Fatalf("Put (size %d) after release = %v", size, err)
			}
		}
		checkBlob(t, b, name, newData)
		checkBlob(t, b, fresh, newData)
		checkList(t, b, name, name, fresh)
	}
}

func testCanceledBefore(t *testing.T, b backend.Backend) {
	put(t, b, "blob", data(15, 10))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Put(ctx, "new", bytes.NewReader([]byte("x")), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: error = %v; want context.Canceled", err)
	}
	rc, err := b.Get(ctx, "blob", 0, -1)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: error = %v; want context.Canceled", err)
	}
	if err == nil {
		rc.Close()
	}
	if _, err := b.Stat(ctx, "blob"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a canceled context: error = %v; want context.Canceled", err)
	}
	if err := b.Delete(ctx, "blob"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a canceled context: error = %v; want context.Canceled", err)
	}
	err = b.List(ctx, "", func(backend.Info) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context: error = %v; want context.Canceled", err)
	}
	checkBlob(t, b, "blob", data(15, 10))
	checkList(t, b, "", "blob")
}

// cancelingReader cancels after yielding `after` bytes and keeps yielding
// zeros, up to limit, to see whether the backend stops reading.
type cancelingReader struct {
	n, after, limit int
	cancel          context.CancelFunc
}

var errIgnoredCancel = errors.New("backendtest: backend kept reading long after its context was canceled")

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.n >= c.limit {
		return 0, errIgnoredCancel
	}
	if c.n >= c.after {
		c.cancel()
	}
	p = p[:min(len(p), 64<<10, c.limit-c.n)]
	clear(p)
	c.n += len(p)
	return len(p), nil
}

func testCanceledPut(t *testing.T, b backend.Backend) {
	old := data(16, 100)
	for _, known := range []bool{true, false} {
		name := fmt.Sprintf("cancel-%t", known)
		put(t, b, name, old)
		const limit = 64 << 20
		size := int64(-1)
		if known {
			size = limit
		}
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancelingReader{after: 256 << 10, limit: limit, cancel: cancel}
		err := b.Put(ctx, name, r, size)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put (size %d) canceled after %d bytes: error = %v; want context.Canceled", size, r.after, err)
		}
		checkBlob(t, b, name, old)
		checkList(t, b, name, name)
	}
}

func testCanceledGet(t *testing.T, b backend.Backend) {
	p := data(17, 4<<20)
	put(t, b, "blob", p)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rc, err := b.Get(ctx, "blob", 0, -1)
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
		t.Fatalf("reading the first KiB = %v", err)
	}
	cancel()
	if n, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
		t.Errorf("reading after cancel: %d bytes, error %v; want context.Canceled", n, err)
	}
}

func testCanceledList(t *testing.T, b backend.Backend) {
	for i := range 3 {
		put(t, b, fmt.Sprintf("l/%d", i), data(uint64(i), 10))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := b.List(ctx, "", func(backend.Info) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("List canceled in its callback: error = %v; want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("List called back %d times after its context was canceled in the first call; want 1", calls)
	}
}

func testConcurrentNames(t *testing.T, b backend.Backend) {
	ctx := testContext(t)
	const n = 16
	var wg sync.WaitGroup
	var want []string
	for i := range n {
		name := fmt.Sprintf("conc/%02d", i)
		want = append(want, name)
		wg.Go(func() {
			p := data(uint64(i), 64<<10+i)
			if err := b.Put(ctx, name, stream{bytes.NewReader(p)}, -1); err != nil {
				t.Errorf("Put(%q) = %v", name, err)
			}
		})
	}
	wg.Wait()
	for i, name := range want {
		checkBlob(t, b, name, data(uint64(i), 64<<10+i))
	}
	checkList(t, b, "conc/", want...)
}

func testConcurrentSameName(t *testing.T, b backend.Backend) {
	ctx := testContext(t)
	const writers, rounds = 6, 3
	versions := map[string]bool{}
	version := func(w, r int) []byte { return data(uint64(w*rounds+r), 128<<10+w*1000+r) }
	for w := range writers {
		for r := range rounds {
			versions[string(version(w, r))] = true
		}
	}
	check := func(what string, got []byte) {
		if !versions[string(got)] {
			t.Errorf("%s: Get = %s, which is none of the versions written", what, describe(got))
		}
	}
	var writing, reading sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		reading.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, err := b.Get(ctx, "same", 0, -1)
				if errors.Is(err, backend.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("Get during writes = %v", err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Errorf("reading during writes = %v", err)
					return
				}
				check("during writes", got)
			}
		})
	}
	for w := range writers {
		writing.Go(func() {
			for r := range rounds {
				size := int64(-1)
				if r%2 == 0 {
					size = int64(len(version(w, r)))
				}
				if err := b.Put(ctx, "same", stream{bytes.NewReader(version(w, r))}, size); err != nil {
					t.Errorf("Put(writer %d, round %d) = %v", w, r, err)
				}
			}
		})
	}
	writing.Wait()
	close(done)
	reading.Wait()
	check("after writes", get(t, b, "same", 0, -1))
	checkList(t, b, "", "same")
}
