package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestCheckShard(t *testing.T) {
	p := Params{K: 3, M: 2, BlockSize: 4096}
	size := int64(4*4096 + 17)
	shards, res := encodeMem(t, p, testKey, testVID, testData(int(size), 18))
	for j, s := range shards {
		if err := CheckShard(bytes.NewReader(s), p, size, j, testVID, res.Roots[j]); err != nil {
			t.Errorf("CheckShard(intact shard %d) = %v", j, err)
		}
	}
	other, _ := encodeMem(t, p, bytes.Repeat([]byte{3}, 32), testVID, testData(int(size), 18))
	flipped := bytes.Clone(shards[1])
	flipped[p.blockOffset(2)+40] ^= 4
	tampered := cloneShards(shards)
	tamper(p, tampered, size, 1, 3, 0, 1)
	for _, tc := range []struct {
		name  string
		b     []byte
		index int
		want  error
	}{
		{"bit flip", flipped, 1, ErrChecksum},
		{"edited, checksum recomputed", tampered[1], 1, ErrRootMismatch},
		{"same version, other key", other[1], 1, ErrRootMismatch},
		{"other shard", shards[2], 1, ErrHeaderMismatch},
		{"bad header", append([]byte("XXXX"), shards[1][4:]...), 1, ErrBadHeader},
		{"truncated", shards[1][:len(shards[1])-1], 1, ErrTruncated},
		{"header only", shards[1][:HeaderSize], 1, ErrTruncated},
		{"empty", nil, 1, ErrTruncated},
		{"trailing byte", append(bytes.Clone(shards[1]), 0), 1, ErrTrailingData},
	} {
		if err := CheckShard(bytes.NewReader(tc.b), p, size, tc.index, testVID, res.Roots[tc.index]); !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckShard = %v; want %v", tc.name, err, tc.want)
		}
	}
}
