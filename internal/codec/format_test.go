package codec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/highwayhash"
	"github.com/zeebo/blake3"
)

// TestFormatByHand reads shard files following docs/codec-format.md only,
// with the primitives used directly, so the document and the code agree.
func TestFormatByHand(t *testing.T) {
	p := Params{K: 3, M: 2, BlockSize: 4096}
	size := 2*4096 + 1234
	data := testData(size, 16)
	shards, res := encodeMem(t, p, testKey, testVID, data)

	block, _ := aes.NewCipher(testKey)
	gcm, _ := cipher.NewGCM(block)
	rs, _ := reedsolomon.New(p.K, p.M)
	sfull := (4096 + 16 + p.K - 1) / p.K
	nblocks := 3
	var plain []byte
	roots := make([]*blake3.Hasher, p.N())
	for j := range roots {
		roots[j] = blake3.New()
		h := shards[j][:48]
		if string(h[0:4]) != "RZSH" || h[4] != 1 || h[5] != 3 || h[6] != 2 || h[7] != byte(j) ||
			binary.BigEndian.Uint32(h[8:12]) != 4096 || !bytes.Equal(h[12:28], testVID[:]) ||
			!bytes.Equal(h[28:40], make([]byte, 12)) ||
			binary.LittleEndian.Uint64(h[40:48]) != highwayhash.Sum64(h[:40], checksumKey) {
			t.Errorf("shard %d header %x does not follow the document", j, h)
		}
	}
	for i := range nblocks {
		l := min(size-i*4096, 4096)
		s := (l + 16 + p.K - 1) / p.K
		off := 48 + i*(16+sfull)
		parts := make([][]byte, p.N())
		for j := range parts {
			sum := shards[j][off : off+16]
			parts[j] = shards[j][off+16 : off+16+s]
			if want := highwayhash.Sum128(parts[j], checksumKey); !bytes.Equal(sum, want[:]) {
				t.Errorf("block %d shard %d: checksum %x; want %x", i, j, sum, want)
			}
			roots[j].Write(sum)
		}
		if ok, err := rs.Verify(parts); !ok || err != nil {
			t.Errorf("block %d: parity does not verify: %v", i, err)
		}
		sealed := bytes.Join(parts[:p.K], nil)
		if !bytes.Equal(sealed[l+16:], make([]byte, len(sealed)-l-16)) {
			t.Errorf("block %d: padding %x; want zeros", i, sealed[l+16:])
		}
		var nonce [12]byte
		binary.BigEndian.PutUint64(nonce[:8], uint64(i))
		if i == nblocks-1 {
			nonce[11] = 1
		}
		pt, err := gcm.Open(nil, nonce[:], sealed[:l+16], testAAD)
		if err != nil {
			t.Fatalf("block %d does not open: %v", i, err)
		}
		plain = append(plain, pt...)
	}
	if !bytes.Equal(plain, data) {
		t.Errorf("plaintext read by hand differs")
	}
	for j, h := range roots {
		var got [32]byte
		h.Sum(got[:0])
		if got != res.Roots[j] {
			t.Errorf("root %d = %x; Encode returned %x", j, got, res.Roots[j])
		}
	}
}

// TestFormatGolden pins the bytes Encode writes. If it fails, the
// on-backend format changed (or a dependency changed its output): that
// needs a new format version, not a new golden value.
func TestFormatGolden(t *testing.T) {
	p := Params{K: 4, M: 2, BlockSize: 4096}
	shards, _ := encodeMem(t, p, testKey, testVID, testData(9000, 17))
	h := sha256.New()
	for _, s := range shards {
		h.Write(s)
	}
	const want = "b5ee0bfe91df6d4718cb097aafd8fd449cd01db38a5612ac173c81bd06f9ef30"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("SHA-256 of the shard files = %s; want %s", got, want)
	}
}
