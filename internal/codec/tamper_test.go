package codec

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// Tampering: shards edited by someone who can recompute the public
// checksums. The AEAD must catch it; the decoder must return the right data
// when K honest shards remain, and otherwise an error, never wrong bytes.

type tamperCase struct {
	name    string
	edit    func(p Params, shards [][]byte, size int64) [][]byte
	corrupt []int // shards WriteRange must report Corrupt (and Verify too)
}

func TestTamperRecovered(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(6*4096 + 1001) // last block: 1017 sealed bytes, 255 per shard with 3 padding bytes
	data := testData(int(size), 11)
	shards, res := encodeMem(t, p, testKey, testVID, data)
	otherVID := [16]byte{9}
	other, _ := encodeMem(t, p, bytes.Repeat([]byte{7}, 32), otherVID, data)

	for _, tc := range []tamperCase{
		{"data shard block edited", func(p Params, s [][]byte, size int64) [][]byte {
			tamper(p, s, size, 1, 2, 10, 0xff)
			return s
		}, []int{1}},
		{"first block of shard 0", func(p Params, s [][]byte, size int64) [][]byte {
			tamper(p, s, size, 0, 0, 0, 1)
			return s
		}, []int{0}},
		{"two data shards edited", func(p Params, s [][]byte, size int64) [][]byte {
			tamper(p, s, size, 0, 3, 500, 1)
			tamper(p, s, size, 3, 3, 7, 1)
			return s
		}, []int{0, 3}},
		{"last block tag edited", func(p Params, s [][]byte, size int64) [][]byte {
			_, sz := blockSpan(p, size, 6)
			tamper(p, s, size, 3, 6, sz-4, 0x80) // the tag sits at the end of the last data shard
			return s
		}, []int{3}},
		{"padding edited", func(p Params, s [][]byte, size int64) [][]byte {
			_, sz := blockSpan(p, size, 6)
			tamper(p, s, size, 3, 6, sz-1, 0x01)
			return s
		}, []int{3}},
		{"shard of another version", func(p Params, s [][]byte, size int64) [][]byte {
			s[2] = bytes.Clone(other[2])
			return s
		}, []int{2}},
		{"data shards swapped", func(p Params, s [][]byte, size int64) [][]byte {
			s[1], s[2] = s[2], s[1]
			return s
		}, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemStore(tc.edit(p, cloneShards(shards), size))
			got, rep, err := decodeAll(t, p, testKey, size, m)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("WriteRange = %d bytes, %v; want the data", len(got), err)
			}
			checkCorrupt(t, "WriteRange", rep, tc.corrupt)
			d, _ := NewDecoder(p, testKey, testAAD, size, m.open)
			rep, err = d.Verify(context.Background(), testVID, res.Roots)
			if err != nil {
				t.Fatalf("Verify = %v; want nil (recoverable)", err)
			}
			checkCorrupt(t, "Verify", rep, tc.corrupt)
		})
	}
}

// checkCorrupt checks that exactly the shards in want are Corrupt.
func checkCorrupt(t *testing.T, op string, rep Report, want []int) {
	t.Helper()
	for j, st := range rep.Shards {
		bad := false
		for _, w := range want {
			bad = bad || w == j
		}
		if bad != (st == ShardCorrupt) {
			t.Errorf("%s: Shards[%d] = %v (%v); want corrupt: %v", op, j, st, rep.Errs[j], bad)
		}
	}
	if !rep.Degraded {
		t.Errorf("%s: Degraded = false", op)
	}
}

// TestTamperParity: a parity shard edited with a recomputed checksum is not
// read by a healthy WriteRange but Verify finds it.
func TestTamperParity(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(3 * 4096)
	data := testData(int(size), 12)
	shards, res := encodeMem(t, p, testKey, testVID, data)
	s := cloneShards(shards)
	tamper(p, s, size, 5, 1, 33, 0x40)
	m := newMemStore(s)
	got, rep, err := decodeAll(t, p, testKey, size, m)
	if err != nil || !bytes.Equal(got, data) || rep.Degraded {
		t.Fatalf("WriteRange = %d bytes, %v, degraded %v; want the data, healthy", len(got), err, rep.Degraded)
	}
	for _, roots := range [][][32]byte{res.Roots, nil} {
		d, _ := NewDecoder(p, testKey, testAAD, size, m.open)
		rep, err := d.Verify(context.Background(), testVID, roots)
		if err != nil {
			t.Fatal(err)
		}
		checkCorrupt(t, "Verify", rep, []int{5})
		if roots == nil && !errors.Is(rep.Errs[5], ErrInconsistent) {
			t.Errorf("Verify without roots: Errs[5] = %v; want ErrInconsistent", rep.Errs[5])
		}
	}
}

func TestVerifyRootsAndHeaders(t *testing.T) {
	p := Params{K: 3, M: 2, BlockSize: 4096}
	size := int64(2*4096 + 5)
	data := testData(int(size), 13)
	shards, res := encodeMem(t, p, testKey, testVID, data)
	d, _ := NewDecoder(p, testKey, testAAD, size, newMemStore(shards).open)

	roots := append([][32]byte(nil), res.Roots...)
	roots[4][0] ^= 1
	rep, err := d.Verify(context.Background(), testVID, roots)
	if err != nil || rep.Shards[4] != ShardCorrupt || !errors.Is(rep.Errs[4], ErrRootMismatch) {
		t.Errorf("Verify(wrong root 4) = %v, shard 4 %v %v; want nil, corrupt: root mismatch", err, rep.Shards[4], rep.Errs[4])
	}
	checkCorrupt(t, "Verify(wrong root)", rep, []int{4})

	rep, err = d.Verify(context.Background(), [16]byte{1}, res.Roots)
	if !errors.Is(err, ErrTooFewShards) {
		t.Errorf("Verify(other version ID) = %v; want ErrTooFewShards (every header mismatches)", err)
	}
	for j := range rep.Shards {
		if rep.Shards[j] != ShardCorrupt || !errors.Is(rep.Errs[j], ErrHeaderMismatch) {
			t.Errorf("Verify(other version ID): shard %d = %v, %v; want corrupt: header mismatch", j, rep.Shards[j], rep.Errs[j])
		}
	}

	s := cloneShards(shards)
	s[0][3] = 'X' // magic
	d, _ = NewDecoder(p, testKey, testAAD, size, newMemStore(s).open)
	rep, err = d.Verify(context.Background(), testVID, res.Roots)
	if err != nil || !errors.Is(rep.Errs[0], ErrBadHeader) {
		t.Errorf("Verify(bad magic in shard 0) = %v, %v; want nil, ErrBadHeader", err, rep.Errs[0])
	}
	checkCorrupt(t, "Verify(bad header)", rep, []int{0})

	if _, err := d.Verify(context.Background(), testVID, res.Roots[:2]); err == nil {
		t.Errorf("Verify(2 roots for 5 shards) = nil; want error")
	}
}

// TestTamperDetected: changes no K-subset can undo. Each must fail, and
// whatever was written before the failure must be a prefix of the object.
func TestTamperDetected(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	size := int64(4*4096 + 500)
	data := testData(int(size), 14)
	shards, _ := encodeMem(t, p, testKey, testVID, data)
	sfull := int64(ChecksumSize + p.fullShardBlockSize())

	for _, tc := range []struct {
		name string
		edit func(s [][]byte) [][]byte
		key  []byte
		aad  []byte
		size int64
		want error
	}{
		{"blocks 1 and 2 swapped in every shard", func(s [][]byte) [][]byte {
			for j := range s {
				a, b := p.blockOffset(1), p.blockOffset(2)
				tmp := bytes.Clone(s[j][a : a+sfull])
				copy(s[j][a:], s[j][b:b+sfull])
				copy(s[j][b:], tmp)
			}
			return s
		}, testKey, testAAD, size, ErrTampered},
		{"final block dropped, size shortened", func(s [][]byte) [][]byte {
			for j := range s {
				s[j] = s[j][:p.blockOffset(4)]
			}
			return s
		}, testKey, testAAD, 4 * 4096, ErrTampered},
		{"size that drops the final block", nil, testKey, testAAD, 4 * 4096, ErrTampered},
		{"size that shortens the final block", nil, testKey, testAAD, size - 1, ErrTampered},
		{"last block truncated in every shard", func(s [][]byte) [][]byte {
			for j := range s {
				s[j] = s[j][:len(s[j])-1]
			}
			return s
		}, testKey, testAAD, size, ErrTooFewShards},
		{"size claims an extra block", nil, testKey, testAAD, size + 4096, ErrTooFewShards},
		{"M+1 shards edited with checksums", func(s [][]byte) [][]byte {
			tamper(p, s, size, 0, 2, 1, 1)
			tamper(p, s, size, 1, 2, 1, 1)
			tamper(p, s, size, 4, 2, 1, 1)
			return s
		}, testKey, testAAD, size, ErrTampered},
		{"wrong key", nil, bytes.Repeat([]byte{1}, 32), testAAD, size, ErrTampered},
		{"wrong additional data", nil, testKey, []byte("version-2"), size, ErrTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cloneShards(shards)
			if tc.edit != nil {
				s = tc.edit(s)
			}
			d, err := NewDecoder(p, tc.key, tc.aad, tc.size, newMemStore(s).open)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = d.WriteRange(context.Background(), &out, 0, -1)
			if !errors.Is(err, tc.want) {
				t.Errorf("WriteRange = %v; want %v", err, tc.want)
			}
			if got := out.Bytes(); len(got) >= int(tc.size) || !bytes.Equal(got, data[:len(got)]) {
				t.Errorf("WriteRange wrote %d bytes that are not a proper prefix of the object", len(got))
			}
			if _, err := d.Verify(context.Background(), testVID, nil); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v; want %v", err, tc.want)
			}
		})
	}
}
