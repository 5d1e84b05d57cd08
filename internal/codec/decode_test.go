package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// loss is one way a shard goes bad.
type loss struct {
	name  string
	state ShardState // what the Report must say
	apply func(p Params, m *memStore, size int64, j int)
}

var losses = []loss{
	{"missing", ShardUnavailable, func(_ Params, m *memStore, _ int64, j int) { m.lost[j] = true }},
	{"read error", ShardUnavailable, func(p Params, m *memStore, size int64, j int) {
		m.failAt[j] = p.blockOffset(p.Blocks(size)/2) + 3 // in the middle block's checksum
	}},
	{"bit flip", ShardCorrupt, func(p Params, m *memStore, size int64, j int) {
		off, s := blockSpan(p, size, p.Blocks(size)-1) // the last block
		m.shards[j][off+ChecksumSize+int64(s)/2] ^= 0x10
	}},
	{"truncated", ShardCorrupt, func(p Params, m *memStore, size int64, j int) {
		m.shards[j] = m.shards[j][:p.blockOffset(p.Blocks(size)/2)+ChecksumSize+1]
	}},
}

// subsets calls f with every subset of [0, n) of at most k elements.
func subsets(n, k int, f func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		f(cur)
		if len(cur) == k {
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

// TestErasures loses every set of up to M shards in every way and checks the
// data comes back byte for byte, with the Report naming the lost shards.
func TestErasures(t *testing.T) {
	for _, p := range []Params{
		{K: 4, M: 2, BlockSize: 4096},
		{K: 3, M: 1, BlockSize: 4096},
		{K: 1, M: 2, BlockSize: 4096},
		{K: 10, M: 4, BlockSize: 4096},
	} {
		size := 3*p.BlockSize + 1000
		data := testData(size, 5)
		shards, res := encodeMem(t, p, testKey, testVID, data)
		for _, l := range losses {
			if p.K == 10 && l.name != "missing" && l.name != "bit flip" {
				continue // keep the test fast; 10+4 has 1471 patterns per way
			}
			t.Run(fmt.Sprintf("%d+%d/%s", p.K, p.M, l.name), func(t *testing.T) {
				subsets(p.N(), p.M, func(lostSet []int) {
					m := newMemStore(cloneShards(shards))
					lost := make([]bool, p.N())
					for _, j := range lostSet {
						l.apply(p, m, int64(size), j)
						lost[j] = true
					}
					got, rep, err := decodeAll(t, p, testKey, int64(size), m)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("lost %v: WriteRange = %d bytes, %v; want the data", lostSet, len(got), err)
					}
					checkReport(t, "WriteRange", lostSet, lost, l.state, rep, true)

					d, _ := NewDecoder(p, testKey, testAAD, int64(size), m.open)
					rep, err = d.Verify(context.Background(), testVID, res.Roots)
					if err != nil {
						t.Fatalf("lost %v: Verify = %v", lostSet, err)
					}
					checkReport(t, "Verify", lostSet, lost, l.state, rep, false)
				})
			})
		}
	}
}

// checkReport checks that rep marks the lost shards with state and no other
// shard as failed. With mayBeUnused, a lost parity shard may be unused.
func checkReport(t *testing.T, op string, lostSet []int, lost []bool, state ShardState, rep Report, mayBeUnused bool) {
	t.Helper()
	degraded := false
	for j, st := range rep.Shards {
		switch {
		case lost[j] && st == state:
			degraded = true
			if rep.Errs[j] == nil || !strings.Contains(rep.Errs[j].Error(), fmt.Sprintf("shard %d", j)) {
				t.Errorf("lost %v: %s: Errs[%d] = %v; want an error naming shard %d", lostSet, op, j, rep.Errs[j], j)
			}
		case lost[j] && st == ShardUnused && mayBeUnused:
		case lost[j]:
			t.Errorf("lost %v: %s: Shards[%d] = %v; want %v", lostSet, op, j, st, state)
		case st != ShardOK && st != ShardUnused:
			t.Errorf("lost %v: %s: Shards[%d] = %v (%v); want ok", lostSet, op, j, st, rep.Errs[j])
		}
	}
	if rep.Degraded != degraded {
		t.Errorf("lost %v: %s: Degraded = %v; want %v", lostSet, op, rep.Degraded, degraded)
	}
}

// TestTooManyLost loses M+1 shards: decoding fails and never yields wrong
// bytes, only a prefix of the object.
func TestTooManyLost(t *testing.T) {
	for _, p := range []Params{{K: 4, M: 2, BlockSize: 4096}, {K: 3, M: 1, BlockSize: 4096}, {K: 1, M: 0, BlockSize: 4096}} {
		size := 4*p.BlockSize + 10
		data := testData(size, 6)
		shards, res := encodeMem(t, p, testKey, testVID, data)
		for _, l := range losses {
			t.Run(fmt.Sprintf("%d+%d/%s", p.K, p.M, l.name), func(t *testing.T) {
				subsets(p.N(), p.M+1, func(lostSet []int) {
					if len(lostSet) != p.M+1 {
						return
					}
					m := newMemStore(cloneShards(shards))
					for _, j := range lostSet {
						l.apply(p, m, int64(size), j)
					}
					got, _, err := decodeAll(t, p, testKey, int64(size), m)
					if !errors.Is(err, ErrTooFewShards) {
						t.Errorf("lost %v: WriteRange = %v; want ErrTooFewShards", lostSet, err)
					}
					if len(got) >= len(data) || !bytes.Equal(got, data[:len(got)]) {
						t.Errorf("lost %v: WriteRange wrote %d bytes that are not a proper prefix of the object", lostSet, len(got))
					}
					d, _ := NewDecoder(p, testKey, testAAD, int64(size), m.open)
					if _, err := d.Verify(context.Background(), testVID, res.Roots); !errors.Is(err, ErrTooFewShards) {
						t.Errorf("lost %v: Verify = %v; want ErrTooFewShards", lostSet, err)
					}
				})
			})
		}
	}
}

func TestTooFewShardsMessage(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	data := testData(100, 1)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	m := newMemStore(shards)
	m.lost[0], m.lost[2], m.lost[5] = true, true, true
	_, _, err := decodeAll(t, p, testKey, int64(len(data)), m)
	if err == nil || !strings.Contains(err.Error(), "codec: too few shards: have 3, need 4") || !errors.Is(err, errLost) {
		t.Errorf("WriteRange = %v; want too few shards: have 3, need 4, wrapping the shard errors", err)
	}
}

// TestRanges reads every range with ends around block boundaries and checks
// the bytes and that only the blocks needed were asked for.
func TestRanges(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	bs := int64(p.BlockSize)
	size := 5*bs + 123
	data := testData(int(size), 7)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	var points []int64
	for b := int64(0); b <= 6; b++ {
		for _, d := range []int64{-1, 0, 1} {
			if x := b*bs + d; x >= 0 && x <= size {
				points = append(points, x)
			}
		}
	}
	points = append(points, size-1, size)
	sfull := int64(p.fullShardBlockSize())
	for _, off := range points {
		for _, end := range points {
			if end < off {
				continue
			}
			m := newMemStore(shards)
			d, _ := NewDecoder(p, testKey, testAAD, size, m.open)
			var out bytes.Buffer
			rep, err := d.WriteRange(context.Background(), &out, off, end-off)
			if err != nil || !bytes.Equal(out.Bytes(), data[off:end]) {
				t.Fatalf("WriteRange(%d, %d) = %d bytes, %v; want data[%d:%d]", off, end-off, out.Len(), err, off, end)
			}
			if rep.Degraded {
				t.Errorf("WriteRange(%d, %d): Degraded", off, end-off)
			}
			calls := m.calls()
			if off == end {
				if len(calls) != 0 {
					t.Errorf("WriteRange(%d, 0) opened %v; want nothing", off, calls)
				}
				continue
			}
			b0, b1 := off/bs, (end-1)/bs
			wantOff := p.blockOffset(b0)
			wantLen := (b1-b0)*(ChecksumSize+sfull) + ChecksumSize + int64(p.shardBlockSize(p.blockLen(size, b1)))
			if len(calls) != p.K {
				t.Errorf("WriteRange(%d, %d) opened %d shards; want %d", off, end-off, len(calls), p.K)
			}
			for _, c := range calls {
				if c.shard >= p.K || c.off != wantOff || c.length != wantLen {
					t.Errorf("WriteRange(%d, %d) opened shard %d [%d, +%d); want a data shard at [%d, +%d) (blocks %d-%d)",
						off, end-off, c.shard, c.off, c.length, wantOff, wantLen, b0, b1)
				}
			}
		}
	}
	// Whole object through length -1, from every point.
	for _, off := range points {
		d, _ := NewDecoder(p, testKey, testAAD, size, newMemStore(shards).open)
		var out bytes.Buffer
		if _, err := d.WriteRange(context.Background(), &out, off, -1); err != nil || !bytes.Equal(out.Bytes(), data[off:]) {
			t.Errorf("WriteRange(%d, -1) = %d bytes, %v; want data[%d:]", off, out.Len(), err, off)
		}
	}
}

func TestRangeErrors(t *testing.T) {
	p := Params{K: 2, M: 1, BlockSize: 4096}
	shards, _ := encodeMem(t, p, testKey, testVID, testData(5000, 1))
	d, _ := NewDecoder(p, testKey, testAAD, 5000, newMemStore(shards).open)
	for _, r := range [][2]int64{{-1, 1}, {0, 5001}, {4999, 2}, {5001, 0}, {5001, -1}, {0, -2}} {
		if _, err := d.WriteRange(context.Background(), io.Discard, r[0], r[1]); !errors.Is(err, ErrRange) {
			t.Errorf("WriteRange(%d, %d) = %v; want ErrRange", r[0], r[1], err)
		}
	}
}

// TestReplacementStartsAtFailingBlock checks that a shard failing in the
// middle is replaced from that block on, not from the start.
func TestReplacementStartsAtFailingBlock(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(10 * 4096)
	data := testData(int(size), 8)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	m := newMemStore(cloneShards(shards))
	tamperByte := p.blockOffset(6) + ChecksumSize + 100
	m.shards[2][tamperByte] ^= 1 // bit rot in block 6 of shard 2
	got, rep, err := decodeAll(t, p, testKey, size, m)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("WriteRange = %d bytes, %v", len(got), err)
	}
	if rep.Shards[2] != ShardCorrupt || !errors.Is(rep.Errs[2], ErrChecksum) || !strings.Contains(rep.Errs[2].Error(), "block 6") {
		t.Errorf("shard 2 = %v, %v; want corrupt: checksum mismatch at block 6", rep.Shards[2], rep.Errs[2])
	}
	if rep.Shards[4] != ShardOK || rep.Shards[5] != ShardUnused {
		t.Errorf("parity shards = %v, %v; want ok (replacement), unused", rep.Shards[4], rep.Shards[5])
	}
	for _, c := range m.calls() {
		if c.shard == 4 && c.off != p.blockOffset(6) {
			t.Errorf("replacement shard 4 opened at %d; want block 6 at %d", c.off, p.blockOffset(6))
		}
	}
}

func TestWriteRangeContextCanceled(t *testing.T) {
	p := Params{K: 2, M: 1, BlockSize: 4096}
	shards, _ := encodeMem(t, p, testKey, testVID, testData(50000, 1))
	ctx, cancel := context.WithCancel(context.Background())
	open := func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
		if shard == 1 {
			cancel()
			<-ctx.Done() // a backend that hangs until the caller gives up
			return nil, ctx.Err()
		}
		return io.NopCloser(bytes.NewReader(shards[shard][off : off+length])), nil
	}
	d, _ := NewDecoder(p, testKey, testAAD, 50000, open)
	var out bytes.Buffer
	if _, err := d.WriteRange(ctx, &out, 0, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteRange = %v; want context.Canceled", err)
	}
}

func TestWriteRangeWriterError(t *testing.T) {
	p := Params{K: 2, M: 1, BlockSize: 4096}
	shards, _ := encodeMem(t, p, testKey, testVID, testData(50000, 1))
	d, _ := NewDecoder(p, testKey, testAAD, 50000, newMemStore(shards).open)
	errOut := errors.New("client went away")
	if _, err := d.WriteRange(context.Background(), &failingWriter{after: 10000, err: errOut}, 0, -1); !errors.Is(err, errOut) {
		t.Errorf("WriteRange = %v; want %v", err, errOut)
	}
}

// TestConcurrentReads shares one Decoder between goroutines.
func TestConcurrentReads(t *testing.T) {
	p := Params{K: 3, M: 2, BlockSize: 4096}
	size := 20*4096 + 1
	data := testData(size, 10)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	m := newMemStore(shards)
	m.lost[1] = true
	d, _ := NewDecoder(p, testKey, testAAD, int64(size), m.open)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			off := int64(g * 5000)
			var out bytes.Buffer
			if _, err := d.WriteRange(context.Background(), &out, off, 30000); err != nil || !bytes.Equal(out.Bytes(), data[off:off+30000]) {
				t.Errorf("goroutine %d: WriteRange = %d bytes, %v", g, out.Len(), err)
			}
		})
	}
	wg.Wait()
}

func TestNewDecoderArguments(t *testing.T) {
	open := newMemStore(nil).open
	for _, tc := range []struct {
		name string
		p    Params
		key  []byte
		size int64
		open Opener
		want string
	}{
		{"params", Params{K: 4, M: 2, BlockSize: 1}, testKey, 0, open, "BlockSize = 1"},
		{"key", Params{K: 4, M: 2, BlockSize: 4096}, nil, 0, open, "key is 0 bytes, want 32"},
		{"size", Params{K: 4, M: 2, BlockSize: 4096}, testKey, -1, open, "size -1"},
		{"opener", Params{K: 4, M: 2, BlockSize: 4096}, testKey, 0, nil, "nil Opener"},
	} {
		if _, err := NewDecoder(tc.p, tc.key, testAAD, tc.size, tc.open); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewDecoder = %v; want error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestNoGoroutineLeak checks that failed and successful calls leave no
// goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(9*4096 + 3)
	data := testData(int(size), 15)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	for lostN := range 4 {
		m := newMemStore(cloneShards(shards))
		for j := range lostN {
			m.lost[j] = true
		}
		tamper(p, m.shards, size, 5, 4, 0, 1)
		decodeAll(t, p, testKey, size, m)
		d, _ := NewDecoder(p, testKey, testAAD, size, m.open)
		d.Verify(context.Background(), testVID, nil)
		d.WriteRange(context.Background(), &failingWriter{after: 5000, err: errLost}, 0, -1)
	}
	ws := []io.Writer{io.Discard, &failingWriter{err: errLost}, &failingWriter{err: errLost}, io.Discard, io.Discard, io.Discard}
	Encode(context.Background(), p, testKey, testAAD, testVID, newPattern(1<<20, 1), ws, nil)
	Encode(context.Background(), p, testKey, testAAD, testVID, &errorReader{errLost}, ws, nil)
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines before, %d after", before, runtime.NumGoroutine())
}
