package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/minio/highwayhash"
)

var testHeader = Header{K: 4, M: 2, Index: 5, BlockSize: 1 << 20, VersionID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}

// testHeaderHex is testHeader marshaled. It pins format version 1: if this
// test fails, the on-backend format changed.
const testHeaderHex = "525a5348" + "01" + "04" + "02" + "05" + "00100000" +
	"0102030405060708090a0b0c0d0e0f10" + "000000000000000000000000"

func TestMarshalHeaderGolden(t *testing.T) {
	b := MarshalHeader(testHeader)
	if len(b) != HeaderSize {
		t.Fatalf("len(MarshalHeader) = %d; want %d", len(b), HeaderSize)
	}
	if got := hex.EncodeToString(b[:40]); got != testHeaderHex {
		t.Errorf("MarshalHeader()[:40] = %s; want %s", got, testHeaderHex)
	}
	var sum [8]byte
	binary.LittleEndian.PutUint64(sum[:], highwayhash.Sum64(b[:40], checksumKey))
	if !bytes.Equal(b[40:], sum[:]) {
		t.Errorf("MarshalHeader()[40:] = %x; want HighwayHash-64 %x", b[40:], sum)
	}
	h, err := ParseHeader(b)
	if err != nil || h != testHeader {
		t.Fatalf("ParseHeader(MarshalHeader(h)) = %+v, %v; want %+v", h, err, testHeader)
	}
}

// reseal recomputes the checksum of a header edited by a test.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint64(b[40:], highwayhash.Sum64(b[:40], checksumKey))
	return b
}

func TestParseHeaderErrors(t *testing.T) {
	good := MarshalHeader(testHeader)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name    string
		b       []byte
		want    string
		version bool // also ErrUnsupportedVersion
	}{
		{"empty", nil, "0 bytes, want 48", false},
		{"short", good[:47], "47 bytes, want 48", false},
		{"long", append(bytes.Clone(good), 0), "49 bytes, want 48", false},
		{"magic", edit(func(b []byte) []byte { b[0] = 'X'; return reseal(b) }), `magic "XZSH", want "RZSH"`, false},
		{"version", edit(func(b []byte) []byte { b[4] = 2; return reseal(b) }), "unsupported format version 2, this build reads version 1", true},
		{"checksum", edit(func(b []byte) []byte { b[20] ^= 1; return b }), "checksum", false},
		{"checksum byte", edit(func(b []byte) []byte { b[47] ^= 0x80; return b }), "checksum", false},
		{"reserved", edit(func(b []byte) []byte { b[30] = 7; return reseal(b) }), "reserved byte 30 is 0x07, want 0", false},
		{"K zero", edit(func(b []byte) []byte { b[5] = 0; return reseal(b) }), "K = 0", false},
		{"too many shards", edit(func(b []byte) []byte { b[5], b[6] = 200, 100; return reseal(b) }), "K+M = 300", false},
		{"index", edit(func(b []byte) []byte { b[7] = 6; return reseal(b) }), "shard index 6, want 0 to 5", false},
		{"block size small", edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 4095); return reseal(b) }), "BlockSize = 4095", false},
		{"block size large", edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 1<<31); return reseal(b) }), "BlockSize = 2147483648", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader(tc.b)
			if err == nil {
				t.Fatalf("ParseHeader = %+v, nil; want error %q", h, tc.want)
			}
			if !errors.Is(err, ErrBadHeader) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseHeader = %v; want ErrBadHeader containing %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsupportedVersion) != tc.version {
				t.Errorf("errors.Is(%v, ErrUnsupportedVersion) = %v; want %v", err, !tc.version, tc.version)
			}
		})
	}
}

func TestMarshalHeaderInvalidPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MarshalHeader(index out of range) did not panic")
		}
	}()
	MarshalHeader(Header{K: 4, M: 2, Index: 6, BlockSize: 4096})
}

func FuzzParseHeader(f *testing.F) {
	good := MarshalHeader(testHeader)
	f.Add(good)
	f.Add(MarshalHeader(Header{K: 1, M: 0, Index: 0, BlockSize: MinBlockSize}))
	f.Add(MarshalHeader(Header{K: 255, M: 1, Index: 255, BlockSize: MaxBlockSize}))
	f.Add([]byte{})
	f.Add(good[:47])
	f.Add(reseal(append(bytes.Clone(good[:4]), append([]byte{2}, good[5:]...)...)))
	bad := bytes.Clone(good)
	bad[30] = 1
	f.Add(reseal(bad))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("ParseHeader error %v does not wrap ErrBadHeader", err)
			}
			return
		}
		if got := MarshalHeader(h); !bytes.Equal(got, b) {
			t.Fatalf("MarshalHeader(ParseHeader(%x)) = %x", b, got)
		}
	})
}
