package codec

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/minio/highwayhash"
)

// magic opens every shard file.
const magic = "RZSH"

// Header field offsets (format version 1).
const (
	offMagic     = 0  // 4 bytes "RZSH"
	offVersion   = 4  // 1 byte, FormatVersion
	offK         = 5  // 1 byte
	offM         = 6  // 1 byte
	offIndex     = 7  // 1 byte
	offBlockSize = 8  // uint32 big-endian
	offVersionID = 12 // 16 bytes
	offReserved  = 28 // 12 zero bytes
	offHeaderSum = 40 // 8 bytes HighwayHash-64 of bytes [0, 40)
)

// checksumKey keys the HighwayHash checksums of shard-blocks and headers. It
// is public on purpose: checksums detect accidental damage (bit rot, torn or
// truncated writes); the AEAD detects deliberate changes. It is the SHA-256
// of "rhizome codec shard checksum key v1".
var checksumKey = mustHex("c7dfe1c071a983e86537fded39ad759c78ed5f3af5810cb7846bcb976d3145d5")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// ErrBadHeader is returned (wrapped, with the reason) by ParseHeader when the
// bytes are not a valid shard header.
var ErrBadHeader = errors.New("codec: bad header")

// ErrUnsupportedVersion is returned, together with ErrBadHeader, when a
// header is well formed but written by a newer format version.
var ErrUnsupportedVersion = errors.New("codec: unsupported format version")

// Header is the first HeaderSize bytes of every shard file. It makes a shard
// file self-describing: which object version it belongs to, which shard it
// is and how to read it.
type Header struct {
	K, M      int      // data and parity shards of the object
	Index     int      // this shard: 0 <= Index < K+M; data shards come first
	BlockSize int      // plaintext bytes per block
	VersionID [16]byte // the object version the shard belongs to
}

// Params returns the coding parameters recorded in h.
func (h Header) Params() Params { return Params{K: h.K, M: h.M, BlockSize: h.BlockSize} }

// Validate reports whether h can be marshaled and would be accepted by
// ParseHeader.
func (h Header) Validate() error {
	if s := h.problem(); s != "" {
		return fmt.Errorf("%w: %s", ErrInvalidParams, s)
	}
	return nil
}

func (h Header) problem() string {
	if s := h.Params().problem(); s != "" {
		return s
	}
	if h.Index < 0 || h.Index >= h.K+h.M {
		return fmt.Sprintf("shard index %d, want 0 to %d (K+M-1)", h.Index, h.K+h.M-1)
	}
	return ""
}

// MarshalHeader returns the HeaderSize bytes of h. It panics if h is not
// valid (see Header.Validate); Encode only marshals headers it built from
// validated Params.
func MarshalHeader(h Header) []byte {
	if err := h.Validate(); err != nil {
		panic("codec: MarshalHeader: " + err.Error())
	}
	b := make([]byte, HeaderSize)
	copy(b[offMagic:], magic)
	b[offVersion] = FormatVersion
	b[offK] = byte(h.K)
	b[offM] = byte(h.M)
	b[offIndex] = byte(h.Index)
	binary.BigEndian.PutUint32(b[offBlockSize:], uint32(h.BlockSize))
	copy(b[offVersionID:], h.VersionID[:])
	binary.LittleEndian.PutUint64(b[offHeaderSum:], highwayhash.Sum64(b[:offHeaderSum], checksumKey))
	return b
}

// ParseHeader parses exactly HeaderSize bytes written by MarshalHeader. Every
// error wraps ErrBadHeader and says what is wrong. A header ParseHeader
// accepts marshals back to the same bytes.
func ParseHeader(b []byte) (Header, error) {
	if len(b) != HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadHeader, len(b), HeaderSize)
	}
	if string(b[offMagic:offMagic+len(magic)]) != magic {
		return Header{}, fmt.Errorf("%w: magic %q, want %q", ErrBadHeader, b[offMagic:offMagic+len(magic)], magic)
	}
	if v := b[offVersion]; v != FormatVersion {
		return Header{}, fmt.Errorf("%w: %w %d, this build reads version %d",
			ErrBadHeader, ErrUnsupportedVersion, v, FormatVersion)
	}
	stored := binary.LittleEndian.Uint64(b[offHeaderSum:])
	if sum := highwayhash.Sum64(b[:offHeaderSum], checksumKey); stored != sum {
		return Header{}, fmt.Errorf("%w: checksum %016x, computed %016x", ErrBadHeader, stored, sum)
	}
	for i := offReserved; i < offHeaderSum; i++ {
		if b[i] != 0 {
			return Header{}, fmt.Errorf("%w: reserved byte %d is %#02x, want 0", ErrBadHeader, i, b[i])
		}
	}
	h := Header{
		K:         int(b[offK]),
		M:         int(b[offM]),
		Index:     int(b[offIndex]),
		BlockSize: int(binary.BigEndian.Uint32(b[offBlockSize:])),
	}
	copy(h.VersionID[:], b[offVersionID:])
	if s := h.problem(); s != "" {
		return Header{}, fmt.Errorf("%w: %s", ErrBadHeader, s)
	}
	return h, nil
}
