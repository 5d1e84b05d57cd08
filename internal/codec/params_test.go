package codec

import (
	"errors"
	"strings"
	"testing"
)

func TestParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		want string // substring of the error; "" for valid
	}{
		{"4+2", Params{K: 4, M: 2, BlockSize: DefaultBlockSize}, ""},
		{"1+0", Params{K: 1, M: 0, BlockSize: MinBlockSize}, ""},
		{"255+1", Params{K: 255, M: 1, BlockSize: MaxBlockSize}, ""},
		{"1+255", Params{K: 1, M: 255, BlockSize: 4096}, ""},
		{"K zero", Params{K: 0, M: 2, BlockSize: 4096}, "K = 0, want 1 to 255"},
		{"K 256", Params{K: 256, M: 0, BlockSize: 4096}, "K = 256, want 1 to 255"},
		{"M negative", Params{K: 4, M: -1, BlockSize: 4096}, "M = -1, want 0 to 255"},
		{"too many shards", Params{K: 200, M: 100, BlockSize: 4096}, "K+M = 300, want at most 256"},
		{"block too small", Params{K: 4, M: 2, BlockSize: 4095}, "BlockSize = 4095, want 4096 (4 KiB) to 67108864 (64 MiB)"},
		{"block too large", Params{K: 4, M: 2, BlockSize: 64<<20 + 1}, "BlockSize = 67108865"},
		{"block zero", Params{K: 4, M: 2}, "BlockSize = 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v; want ErrInvalidParams containing %q", err, tc.want)
			}
		})
	}
}

func TestParamsSizes(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	sfull := int64((4096 + 16 + 3) / 4) // 1028
	for _, tc := range []struct {
		size      int64
		blocks    int64
		shardFile int64
	}{
		{0, 1, 48 + 16 + 4},                            // one empty block: 16-byte tag in 4 parts
		{1, 1, 48 + 16 + 5},                            // 17 bytes sealed -> 5 per shard
		{4095, 1, 48 + 16 + 1028},                      // 4111 -> 1028
		{4096, 1, 48 + 16 + sfull},                     // exactly one block
		{4097, 2, 48 + 16 + sfull + 16 + 5},            // a second, 1-byte block
		{3*4096 + 100, 4, 48 + 3*(16+sfull) + 16 + 29}, // 116 sealed -> 29
	} {
		if got := p.Blocks(tc.size); got != tc.blocks {
			t.Errorf("Blocks(%d) = %d; want %d", tc.size, got, tc.blocks)
		}
		if got := p.ShardFileSize(tc.size); got != tc.shardFile {
			t.Errorf("ShardFileSize(%d) = %d; want %d", tc.size, got, tc.shardFile)
		}
	}
	if got := (Params{K: 4, M: 2}).N(); got != 6 {
		t.Errorf("N() = %d; want 6", got)
	}
}
