package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

var roundTripParams = []Params{
	{K: 4, M: 2, BlockSize: 4096},
	{K: 1, M: 0, BlockSize: 4096},
	{K: 3, M: 1, BlockSize: 4096},
	{K: 10, M: 4, BlockSize: 4096},
	{K: 1, M: 2, BlockSize: 5000}, // replication; odd block size
}

func roundTripSizes(bs int) []int {
	return []int{0, 1, 15, 16, 17, bs - 1, bs, bs + 1, 2*bs - 1, 2 * bs, 7*bs + 333}
}

func TestRoundTrip(t *testing.T) {
	for _, p := range roundTripParams {
		for _, size := range roundTripSizes(p.BlockSize) {
			t.Run(fmt.Sprintf("%d+%d/bs=%d/size=%d", p.K, p.M, p.BlockSize, size), func(t *testing.T) {
				checkRoundTrip(t, p, size)
			})
		}
	}
}

func TestRoundTripMiB(t *testing.T) {
	checkRoundTrip(t, Params{K: 4, M: 2, BlockSize: 1 << 20}, 3<<20+12345)
}

func checkRoundTrip(t *testing.T, p Params, size int) {
	t.Helper()
	data := testData(size, byte(size))
	shards, res := encodeMem(t, p, testKey, testVID, data)
	if res.Size != int64(size) || res.Blocks != p.Blocks(int64(size)) {
		t.Errorf("Result = {Size: %d, Blocks: %d}; want {%d, %d}", res.Size, res.Blocks, size, p.Blocks(int64(size)))
	}
	if len(res.Roots) != p.N() || len(res.ShardErrs) != p.N() {
		t.Fatalf("len(Roots), len(ShardErrs) = %d, %d; want %d", len(res.Roots), len(res.ShardErrs), p.N())
	}
	for i, sh := range shards {
		if res.ShardErrs[i] != nil {
			t.Errorf("ShardErrs[%d] = %v", i, res.ShardErrs[i])
		}
		if got, want := int64(len(sh)), p.ShardFileSize(int64(size)); got != want {
			t.Errorf("len(shard %d) = %d; want ShardFileSize = %d", i, got, want)
		}
		h, err := ParseHeader(sh[:HeaderSize])
		if want := (Header{K: p.K, M: p.M, Index: i, BlockSize: p.BlockSize, VersionID: testVID}); err != nil || h != want {
			t.Errorf("header of shard %d = %+v, %v; want %+v", i, h, err, want)
		}
	}
	got, rep, err := decodeAll(t, p, testKey, int64(size), newMemStore(shards))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("WriteRange = %d bytes, %v; want the %d bytes encoded", len(got), err, size)
	}
	for i, st := range rep.Shards {
		if want := map[bool]ShardState{true: ShardOK, false: ShardUnused}[i < p.K]; st != want {
			t.Errorf("Report.Shards[%d] = %v; want %v", i, st, want)
		}
	}
	if rep.Degraded {
		t.Errorf("Report.Degraded = true for healthy shards")
	}
	d, _ := NewDecoder(p, testKey, testAAD, int64(size), newMemStore(shards).open)
	rep, err = d.Verify(context.Background(), testVID, res.Roots)
	if err != nil || rep.Degraded {
		t.Fatalf("Verify = %+v, %v; want healthy", rep, err)
	}
	for i, st := range rep.Shards {
		if st != ShardOK {
			t.Errorf("Verify: Shards[%d] = %v; want ok", i, st)
		}
	}
}

func TestEncodeDeterministic(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	data := testData(3*4096+5, 1)
	a, ra := encodeMem(t, p, testKey, testVID, data)
	b, rb := encodeMem(t, p, testKey, testVID, data)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) || ra.Roots[i] != rb.Roots[i] {
			t.Errorf("shard %d differs between two encodes of the same input", i)
		}
	}
	otherKey := bytes.Clone(testKey)
	otherKey[0] ^= 1
	c, rc := encodeMem(t, p, otherKey, testVID, data)
	for i := range a {
		if bytes.Equal(a[i][HeaderSize:], c[i][HeaderSize:]) || ra.Roots[i] == rc.Roots[i] {
			t.Errorf("shard %d is the same under another key", i)
		}
	}
}

// TestEncodeRepair rebuilds one lost shard by encoding again with only its
// writer, as repair does.
func TestEncodeRepair(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	data := testData(5*4096+1, 2)
	shards, res := encodeMem(t, p, testKey, testVID, data)
	var rebuilt bytes.Buffer
	ws := make([]io.Writer, p.N())
	ws[4] = &rebuilt
	if _, err := Encode(context.Background(), p, testKey, testAAD, testVID, bytes.NewReader(data), ws, nil); !errors.Is(err, ErrTooFewShards) {
		t.Errorf("Encode with 1 writer and default MinShards = %v; want ErrTooFewShards", err)
	}
	res2, err := Encode(context.Background(), p, testKey, testAAD, testVID, bytes.NewReader(data), ws, &EncodeOptions{MinShards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rebuilt.Bytes(), shards[4]) || res2.Roots[4] != res.Roots[4] {
		t.Errorf("rebuilt shard 4 differs from the original")
	}
}

func TestEncodePlain(t *testing.T) {
	p := Params{K: 3, M: 1, BlockSize: 4096}
	data := testData(10*4096+77, 3)
	var plain bytes.Buffer
	ws := []io.Writer{io.Discard, io.Discard, io.Discard, io.Discard}
	if _, err := Encode(context.Background(), p, testKey, testAAD, testVID, bytes.NewReader(data), ws, &EncodeOptions{Plain: &plain}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain.Bytes(), data) {
		t.Errorf("Plain got %d bytes; want the %d plaintext bytes in order", plain.Len(), len(data))
	}

	errPlain := errors.New("plain writer broke")
	_, err := Encode(context.Background(), p, testKey, testAAD, testVID, newPattern(1<<30, 1), ws,
		&EncodeOptions{Plain: &failingWriter{after: 5000, err: errPlain}})
	if !errors.Is(err, errPlain) {
		t.Errorf("Encode with failing Plain = %v; want %v", err, errPlain)
	}
}

func TestEncodeReaderError(t *testing.T) {
	p := Params{K: 3, M: 1, BlockSize: 4096}
	errRead := errors.New("source broke")
	r := io.MultiReader(newPattern(3*4096+10, 1), &errorReader{err: errRead})
	ws := []io.Writer{io.Discard, io.Discard, io.Discard, io.Discard}
	if _, err := Encode(context.Background(), p, testKey, testAAD, testVID, r, ws, nil); !errors.Is(err, errRead) {
		t.Errorf("Encode = %v; want %v", err, errRead)
	}
}

func TestEncodeContextCanceled(t *testing.T) {
	p := Params{K: 3, M: 1, BlockSize: 4096}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ws := []io.Writer{io.Discard, io.Discard, io.Discard, io.Discard}
	if _, err := Encode(ctx, p, testKey, testAAD, testVID, newPattern(1<<30, 1), ws, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Encode(canceled ctx) = %v; want context.Canceled", err)
	}
}

func TestEncodeArguments(t *testing.T) {
	p := Params{K: 3, M: 1, BlockSize: 4096}
	ws := []io.Writer{io.Discard, io.Discard, io.Discard, io.Discard}
	for _, tc := range []struct {
		name string
		p    Params
		key  []byte
		ws   []io.Writer
		opts *EncodeOptions
		want string
	}{
		{"params", Params{K: 0, M: 1, BlockSize: 4096}, testKey, ws, nil, "K = 0"},
		{"key", p, testKey[:16], ws, nil, "key is 16 bytes, want 32"},
		{"writers", p, testKey, ws[:3], nil, "have 3 shard writers, want K+M = 4"},
		{"min shards", p, testKey, ws, &EncodeOptions{MinShards: 5}, "MinShards = 5, want 1 to 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(context.Background(), tc.p, tc.key, testAAD, testVID, bytes.NewReader(nil), tc.ws, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Encode = %v; want error containing %q", err, tc.want)
			}
		})
	}
}

// failingWriter accepts after bytes, then fails.
type failingWriter struct {
	w     io.Writer
	after int
	err   error
}

func (f *failingWriter) Write(b []byte) (int, error) {
	if len(b) > f.after {
		n := f.after
		f.after = 0
		if f.w != nil {
			f.w.Write(b[:n])
		}
		return n, f.err
	}
	f.after -= len(b)
	if f.w != nil {
		return f.w.Write(b)
	}
	return len(b), nil
}

type errorReader struct{ err error }

func (e *errorReader) Read([]byte) (int, error) { return 0, e.err }

func TestEncodeFailingWriters(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	data := testData(20*4096+9, 4)
	errDisk := errors.New("disk full")

	t.Run("one fails", func(t *testing.T) {
		bufs := make([]bytes.Buffer, p.N())
		ws := make([]io.Writer, p.N())
		for i := range ws {
			ws[i] = &bufs[i]
		}
		ws[1] = &failingWriter{w: &bufs[1], after: 3 * 1000, err: errDisk}
		res, err := Encode(context.Background(), p, testKey, testAAD, testVID, bytes.NewReader(data), ws, nil)
		if err != nil {
			t.Fatalf("Encode = %v; want success with 5 of 6 writers", err)
		}
		for i, e := range res.ShardErrs {
			if (i == 1) != (e != nil) {
				t.Errorf("ShardErrs[%d] = %v", i, e)
			}
		}
		if !errors.Is(res.ShardErrs[1], errDisk) || !strings.Contains(res.ShardErrs[1].Error(), "shard 1") {
			t.Errorf("ShardErrs[1] = %v; want %v naming shard 1", res.ShardErrs[1], errDisk)
		}
		shards := make([][]byte, p.N())
		for i := range bufs {
			shards[i] = bufs[i].Bytes()
			if i != 1 && int64(len(shards[i])) != p.ShardFileSize(int64(len(data))) {
				t.Errorf("shard %d is %d bytes; want complete", i, len(shards[i]))
			}
		}
		// The partial shard 1 is read up to where it stops, then replaced.
		got, rep, err := decodeAll(t, p, testKey, int64(len(data)), newMemStore(shards))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("decode = %d bytes, %v; want the data", len(got), err)
		}
		if rep.Shards[1] != ShardCorrupt || !errors.Is(rep.Errs[1], ErrTruncated) {
			t.Errorf("Report shard 1 = %v, %v; want corrupt, truncated", rep.Shards[1], rep.Errs[1])
		}
	})

	t.Run("too many fail", func(t *testing.T) {
		ws := make([]io.Writer, p.N())
		for i := range ws {
			ws[i] = io.Discard
		}
		ws[0] = &failingWriter{after: 2000, err: errDisk}
		ws[5] = &failingWriter{after: 7000, err: errDisk}
		res, err := Encode(context.Background(), p, testKey, testAAD, testVID, bytes.NewReader(data), ws, nil)
		if !errors.Is(err, ErrTooFewShards) || !errors.Is(err, errDisk) {
			t.Fatalf("Encode = %v; want ErrTooFewShards wrapping %v", err, errDisk)
		}
		if !strings.Contains(err.Error(), "have 4, need 5") {
			t.Errorf("Encode = %q; want it to say have 4, need 5", err)
		}
		if res.ShardErrs[0] == nil || res.ShardErrs[5] == nil {
			t.Errorf("ShardErrs = %v; want errors for shards 0 and 5", res.ShardErrs)
		}
	})

	t.Run("min shards", func(t *testing.T) {
		ws := make([]io.Writer, p.N())
		for i := range ws {
			ws[i] = io.Discard
		}
		ws[0] = &failingWriter{after: 0, err: errDisk}
		ws[5] = &failingWriter{after: 0, err: errDisk}
		if _, err := Encode(context.Background(), p, testKey, testAAD, testVID, bytes.NewReader(data), ws, &EncodeOptions{MinShards: 4}); err != nil {
			t.Errorf("Encode(MinShards 4) with 2 of 6 writers failing = %v; want success", err)
		}
	})
}

// TestEncodeBoundedMemory checks that memory does not grow with the object:
// 512 MiB through Encode allocate a few blocks' worth, not the object.
func TestEncodeBoundedMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("512 MiB encode")
	}
	p := Params{K: 4, M: 2, BlockSize: 1 << 20}
	const size = 512 << 20
	ws := make([]io.Writer, p.N())
	for i := range ws {
		ws[i] = io.Discard
	}
	src := newPattern(size, 9)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := Encode(context.Background(), p, testKey, testAAD, testVID, src, ws, nil)
	runtime.ReadMemStats(&after)
	if err != nil || res.Size != size {
		t.Fatalf("Encode = %d bytes, %v", res.Size, err)
	}
	// Blocks in flight: window() jobs of BlockSize + N*Sfull bytes each.
	perJob := uint64(p.BlockSize + p.N()*p.fullShardBlockSize())
	limit := uint64(window()+2)*perJob + 8<<20
	t.Logf("allocated %d KiB, heap in use %+d KiB", (after.TotalAlloc-before.TotalAlloc)>>10, (int64(after.HeapInuse)-int64(before.HeapInuse))>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
		t.Errorf("Encode of %d MiB allocated %d MiB; want at most %d MiB", size>>20, alloc>>20, limit>>20)
	}
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > int64(limit) {
		t.Errorf("heap in use grew by %d MiB; want at most %d MiB", grown>>20, limit>>20)
	}
}
