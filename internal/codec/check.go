package codec

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
)

// ErrTrailingData is returned by CheckShard when a shard file is longer
// than Params.ShardFileSize.
var ErrTrailingData = errors.New("codec: data past the end of the shard")

// CheckShard reads one whole shard file from r and checks it on its own: the
// header against p, index and vid, every block checksum, the length, and the
// root. It finds bit rot and replaced shards with one backend's data only;
// it cannot authenticate content, which needs K shards (Decoder.Verify).
// Errors wrap ErrBadHeader, ErrHeaderMismatch, ErrChecksum, ErrTruncated,
// ErrTrailingData or ErrRootMismatch, or are r's own error.
func CheckShard(r io.Reader, p Params, size int64, index int, vid [16]byte, root [32]byte) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if index < 0 || index >= p.N() || size < 0 {
		return fmt.Errorf("codec: CheckShard: shard %d of %d, size %d", index, p.N(), size)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(br, hb[:]); err != nil {
		_, err := readError(index, err)
		return fmt.Errorf("%w (header)", err)
	}
	h, err := ParseHeader(hb[:])
	if err != nil {
		return fmt.Errorf("codec: shard %d: %w", index, err)
	}
	if want := (Header{K: p.K, M: p.M, Index: index, BlockSize: p.BlockSize, VersionID: vid}); h != want {
		return fmt.Errorf("codec: shard %d: %w: has %+v, want %+v", index, ErrHeaderMismatch, h, want)
	}
	buf := make([]byte, ChecksumSize+p.fullShardBlockSize())
	hash := blake3.New()
	blocks := p.Blocks(size)
	for i := range blocks {
		rec := buf[:ChecksumSize+p.shardBlockSize(p.blockLen(size, i))]
		if _, err := io.ReadFull(br, rec); err != nil {
			_, err := readError(index, err)
			return fmt.Errorf("%w (block %d)", err, i)
		}
		if checksum(rec[ChecksumSize:]) != [ChecksumSize]byte(rec[:ChecksumSize]) {
			return fmt.Errorf("codec: shard %d: block %d: %w", index, i, ErrChecksum)
		}
		hash.Write(rec[:ChecksumSize])
	}
	if n, _ := br.Read(buf[:1]); n > 0 {
		return fmt.Errorf("codec: shard %d: %w (over %d bytes)", index, ErrTrailingData, p.ShardFileSize(size))
	}
	var got [32]byte
	hash.Sum(got[:0])
	if got != root {
		return fmt.Errorf("codec: shard %d: %w: blocks hash to %x, want %x", index, ErrRootMismatch, got, root)
	}
	return nil
}
