package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestRebuild(t *testing.T) {
	for _, tc := range []struct {
		p       Params
		size    int
		sources []int
		targets []int
	}{
		{Params{4, 2, MinBlockSize}, 3*MinBlockSize + 5, []int{0, 1, 2, 3}, []int{4, 5}},
		{Params{4, 2, MinBlockSize}, 3*MinBlockSize + 5, []int{1, 2, 4, 5}, []int{0, 3}},
		{Params{4, 2, MinBlockSize}, 3*MinBlockSize + 5, []int{5, 3, 1, 0}, []int{2}},
		{Params{4, 2, MinBlockSize}, 0, []int{0, 1, 2, 3}, []int{5}},
		{Params{4, 2, MinBlockSize}, 1, []int{2, 3, 4, 5}, []int{0, 1}},
		{Params{6, 3, 64 << 10}, 1<<20 + 77, []int{0, 2, 4, 6, 7, 8}, []int{1, 3, 5}},
		{Params{1, 2, MinBlockSize}, 2*MinBlockSize - 1, []int{2}, []int{0, 1}},
	} {
		t.Run(fmt.Sprintf("%d+%d/%d/%v<-%v", tc.p.K, tc.p.M, tc.size, tc.targets, tc.sources), func(t *testing.T) {
			shards, res := encodeMem(t, tc.p, testKey, testVID, testData(tc.size, 3))
			m := newMemStore(shards)
			ws := make([]io.Writer, tc.p.N())
			bufs := make([]bytes.Buffer, tc.p.N())
			for _, tg := range tc.targets {
				ws[tg] = &bufs[tg]
			}
			roots, err := Rebuild(context.Background(), tc.p, int64(tc.size), testVID, m.open, tc.sources, tc.targets, ws)
			if err != nil {
				t.Fatalf("Rebuild = %v", err)
			}
			for _, tg := range tc.targets {
				if !bytes.Equal(bufs[tg].Bytes(), shards[tg]) {
					t.Errorf("rebuilt shard %d differs from the encoded one (%d vs %d bytes)", tg, bufs[tg].Len(), len(shards[tg]))
				}
			}
			for _, i := range append(append([]int{}, tc.sources...), tc.targets...) {
				if roots[i] != res.Roots[i] {
					t.Errorf("root of shard %d = %x; want %x", i, roots[i], res.Roots[i])
				}
			}
			for _, c := range m.calls() {
				if c.off != 0 || c.length != tc.p.ShardFileSize(int64(tc.size)) {
					t.Errorf("opened shard %d at %d+%d; want whole files", c.shard, c.off, c.length)
				}
			}
		})
	}
}

func TestRebuildBadSources(t *testing.T) {
	p := Params{4, 2, MinBlockSize}
	size := 5*MinBlockSize + 3
	shards, res := encodeMem(t, p, testKey, testVID, testData(size, 1))
	other, _ := encodeMem(t, p, testKey, testVID, testData(size, 2))
	rebuild := func(shards [][]byte, m *memStore) ([][32]byte, []byte, error) {
		if m == nil {
			m = newMemStore(shards)
		}
		var out bytes.Buffer
		ws := make([]io.Writer, p.N())
		ws[5] = &out
		roots, err := Rebuild(context.Background(), p, int64(size), testVID, m.open, []int{0, 1, 2, 3}, []int{5}, ws)
		return roots, out.Bytes(), err
	}
	t.Run("bit flip", func(t *testing.T) {
		bad := cloneShards(shards)
		off, _ := blockSpan(p, int64(size), 3)
		bad[2][off+ChecksumSize+10] ^= 0x40
		if _, _, err := rebuild(bad, nil); !errors.Is(err, ErrChecksum) {
			t.Fatalf("Rebuild with a flipped bit = %v; want ErrChecksum", err)
		}
	})
	t.Run("edited, checksum recomputed: only the roots tell", func(t *testing.T) {
		bad := cloneShards(shards)
		tamper(p, bad, int64(size), 2, 3, 10, 0x40)
		roots, _, err := rebuild(bad, nil)
		if err != nil {
			t.Fatalf("Rebuild = %v; want it to complete", err)
		}
		if roots[2] == res.Roots[2] || roots[5] == res.Roots[5] {
			t.Fatal("the roots do not expose the edited source")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		bad := cloneShards(shards)
		bad[1] = bad[1][:len(bad[1])-100]
		if _, _, err := rebuild(bad, nil); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Rebuild with a truncated source = %v; want ErrTruncated", err)
		}
	})
	t.Run("another shard index", func(t *testing.T) {
		bad := cloneShards(shards)
		bad[0] = shards[1]
		if _, _, err := rebuild(bad, nil); !errors.Is(err, ErrHeaderMismatch) {
			t.Fatalf("Rebuild with shard 1 as shard 0 = %v; want ErrHeaderMismatch", err)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		m := newMemStore(shards)
		m.failAt[3] = 3000
		if _, _, err := rebuild(shards, m); !errors.Is(err, errLost) {
			t.Fatalf("Rebuild with a failing source = %v; want its error", err)
		}
	})
	t.Run("swapped: only the roots tell", func(t *testing.T) {
		bad := cloneShards(shards)
		bad[2] = other[2] // same index, same header, valid checksums
		roots, out, err := rebuild(bad, nil)
		if err != nil {
			t.Fatalf("Rebuild = %v; want it to complete", err)
		}
		if bytes.Equal(out, shards[5]) {
			t.Fatal("rebuilt shard is right although a source was swapped")
		}
		if roots[2] == res.Roots[2] || roots[5] == res.Roots[5] {
			t.Fatal("the roots do not expose the swapped source")
		}
	})
	t.Run("arguments", func(t *testing.T) {
		ws := make([]io.Writer, p.N())
		ws[5] = io.Discard
		m := newMemStore(shards)
		for _, c := range []struct{ src, tgt []int }{{[]int{0, 1, 2}, []int{5}}, {[]int{0, 1, 2, 2}, []int{5}}, {[]int{0, 1, 2, 3}, []int{3}}, {[]int{0, 1, 2, 3}, []int{4}}} {
			if _, err := Rebuild(context.Background(), p, int64(size), testVID, m.open, c.src, c.tgt, ws); err == nil {
				t.Errorf("Rebuild(sources %v, targets %v) succeeded; want an error", c.src, c.tgt)
			}
		}
	})
}
