package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

var (
	testKey = []byte("0123456789abcdef0123456789abcdef")
	testAAD = []byte("version-1")
	testVID = [16]byte{0xde, 0xad, 0xbe, 0xef}
)

// pattern is a fast reader of n deterministic pseudo-random bytes.
type pattern struct {
	n, off int64
	buf    []byte
}

var patternBufs sync.Map // seed -> []byte

func newPattern(n int64, seed byte) *pattern {
	if b, ok := patternBufs.Load(seed); ok {
		return &pattern{n: n, buf: b.([]byte)}
	}
	buf := make([]byte, 1<<20+7) // not a multiple of any block size
	x := uint32(seed)*2654435761 + 1
	for i := range buf {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		buf[i] = byte(x)
	}
	patternBufs.Store(seed, buf)
	return &pattern{n: n, buf: buf}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	n := 0
	for n < len(b) {
		n += copy(b[n:], p.buf[(p.off+int64(n))%int64(len(p.buf)):])
	}
	p.off += int64(n)
	return n, nil
}

// testData returns n deterministic bytes.
func testData(n int, seed byte) []byte {
	b, err := io.ReadAll(newPattern(int64(n), seed))
	if err != nil {
		panic(err)
	}
	return b
}

// encodeMem encodes data into in-memory shard files.
func encodeMem(tb testing.TB, p Params, key []byte, vid [16]byte, data []byte) ([][]byte, Result) {
	tb.Helper()
	bufs := make([]bytes.Buffer, p.N())
	ws := make([]io.Writer, p.N())
	for i := range ws {
		ws[i] = &bufs[i]
	}
	res, err := Encode(context.Background(), p, key, testAAD, vid, bytes.NewReader(data), ws, nil)
	if err != nil {
		tb.Fatalf("Encode(%+v, %d bytes) = %v", p, len(data), err)
	}
	shards := make([][]byte, p.N())
	for i := range bufs {
		shards[i] = bufs[i].Bytes()
	}
	return shards, res
}

// cloneShards deep-copies shard files so a test can damage them.
func cloneShards(shards [][]byte) [][]byte {
	out := make([][]byte, len(shards))
	for i, s := range shards {
		out[i] = bytes.Clone(s)
	}
	return out
}

var errLost = errors.New("test: shard lost")

// memStore serves shard files from memory and counts what is asked of it.
type memStore struct {
	shards [][]byte
	lost   map[int]bool  // open fails
	failAt map[int]int64 // reading fails at this file offset

	mu    sync.Mutex
	opens []openCall
}

type openCall struct {
	shard       int
	off, length int64
}

func newMemStore(shards [][]byte) *memStore {
	return &memStore{shards: shards, lost: map[int]bool{}, failAt: map[int]int64{}}
}

func (m *memStore) open(_ context.Context, shard int, off, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	m.opens = append(m.opens, openCall{shard, off, length})
	m.mu.Unlock()
	if m.lost[shard] {
		return nil, fmt.Errorf("shard %d: %w", shard, errLost)
	}
	b := m.shards[shard]
	end := min(off+length, int64(len(b)))
	if off > end {
		off = end
	}
	var r io.Reader = bytes.NewReader(b[off:end])
	if at, ok := m.failAt[shard]; ok && at < end {
		r = io.MultiReader(io.LimitReader(r, max(at-off, 0)), errReader{})
	}
	return io.NopCloser(r), nil
}

func (m *memStore) calls() []openCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]openCall(nil), m.opens...)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errLost }

// decodeAll reads the whole object through m.
func decodeAll(tb testing.TB, p Params, key []byte, size int64, m *memStore) ([]byte, Report, error) {
	tb.Helper()
	d, err := NewDecoder(p, key, testAAD, size, m.open)
	if err != nil {
		tb.Fatalf("NewDecoder: %v", err)
	}
	var out bytes.Buffer
	rep, err := d.WriteRange(context.Background(), &out, 0, -1)
	return out.Bytes(), rep, err
}

// blockSpan returns where shard-block i of an object of size bytes lies in
// a shard file: its checksum starts at off, its bytes at off+ChecksumSize.
func blockSpan(p Params, size, i int64) (off int64, s int) {
	return p.blockOffset(i), p.shardBlockSize(p.blockLen(size, i))
}

// tamper XORs x into byte at of shard-block i of shard j and recomputes the
// block checksum, as an attacker who knows the public checksum key would.
func tamper(p Params, shards [][]byte, size int64, j int, i int64, at int, x byte) {
	off, s := blockSpan(p, size, i)
	blk := shards[j][off+ChecksumSize : off+ChecksumSize+int64(s)]
	blk[at] ^= x
	sum := checksum(blk)
	copy(shards[j][off:], sum[:])
}
