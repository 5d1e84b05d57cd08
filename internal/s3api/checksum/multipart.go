package checksum

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// Checksum types of a multipart object, as S3 spells them in
// x-amz-checksum-type.
const (
	// Composite is the checksum of the concatenated binary checksums of
	// the parts, written "<base64>-N" for N parts.
	Composite = "COMPOSITE"
	// FullObject is the checksum of the whole object's bytes, as a
	// single PUT of them would have; for multipart uploads only the CRCs
	// have it, combined from the parts' CRCs without reading the data.
	FullObject = "FULL_OBJECT"
)

// DefaultType is the checksum type S3 gives a multipart upload of algo
// that names none: FULL_OBJECT for CRC64NVME (its only type), COMPOSITE
// for the others.
func DefaultType(algo string) string {
	if name, _ := Canonical(algo); name == CRC64NVME {
		return FullObject
	}
	return Composite
}

// CanonicalType returns the S3 spelling of a checksum type, matched
// case-insensitively, or ok=false.
func CanonicalType(typ string) (string, bool) {
	for _, t := range []string{Composite, FullObject} {
		if strings.EqualFold(t, typ) {
			return t, true
		}
	}
	return "", false
}

// Supports reports whether S3 defines multipart checksums of algo with
// type typ: CRC32 and CRC32C have both types, CRC64NVME only FULL_OBJECT,
// SHA1 and SHA256 only COMPOSITE.
func Supports(algo, typ string) bool {
	name, ok := Canonical(algo)
	if !ok {
		return false
	}
	switch typ {
	case Composite:
		return name != CRC64NVME
	case FullObject:
		return name == CRC32 || name == CRC32C || name == CRC64NVME
	}
	return false
}

// CompositeOf returns the COMPOSITE checksum of an object whose parts have
// the given binary checksums: the algo checksum of their concatenation,
// base64, followed by "-" and the number of parts.
func CompositeOf(algo string, parts [][]byte) (string, error) {
	h, err := New(algo)
	if err != nil {
		return "", err
	}
	for _, p := range parts {
		h.Write(p)
	}
	return Encode(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// crcParams describe a reflected CRC as hash/crc32 and hash/crc64 compute
// it: width in bits and the reversed polynomial.
type crcParams struct {
	width uint
	poly  uint64
}

func crcOf(algo string) (crcParams, bool) {
	switch name, _ := Canonical(algo); name {
	case CRC32:
		return crcParams{32, crc32.IEEE}, true
	case CRC32C:
		return crcParams{32, crc32.Castagnoli}, true
	case CRC64NVME:
		return crcParams{64, crc64NVMEPoly}, true
	}
	return crcParams{}, false
}

// mul multiplies a and b modulo the polynomial, in the reflected bit
// order (the top bit is x^0), as zlib's multmodp.
func (c crcParams) mul(a, b uint64) uint64 {
	m := uint64(1) << (c.width - 1)
	var p uint64
	if a == 0 {
		return 0
	}
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// shift returns x^(8n) modulo the polynomial: the operator that appends n
// zero bytes to a CRC register.
func (c crcParams) shift(n int64) uint64 {
	p := uint64(1) << (c.width - 1)  // x^0
	sq := uint64(1) << (c.width - 2) // x^1
	for range 3 {
		sq = c.mul(sq, sq) // x^2, x^4, x^8
	}
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = c.mul(sq, p)
		}
		sq = c.mul(sq, sq)
	}
	return p
}

// Combiner joins the CRCs of consecutive pieces of data into the CRC of
// their concatenation, without the data (the FULL_OBJECT checksum of a
// multipart upload).
type Combiner struct {
	c    crcParams
	algo string
	sum  uint64
	n    int64
}

// NewCombiner starts the CRC of empty data for algo, which must be CRC32,
// CRC32C or CRC64NVME.
func NewCombiner(algo string) (*Combiner, error) {
	c, ok := crcOf(algo)
	if !ok {
		return nil, fmt.Errorf("%w: %q has no full-object multipart checksum (use CRC32, CRC32C or CRC64NVME)", ErrUnknownAlgorithm, algo)
	}
	name, _ := Canonical(algo)
	return &Combiner{c: c, algo: name}, nil
}

// Add appends a piece of size bytes whose CRC (binary, big-endian) is sum.
func (cb *Combiner) Add(sum []byte, size int64) error {
	if len(sum) != int(cb.c.width/8) || size < 0 {
		return fmt.Errorf("%w: a %s of %d bytes over %d bytes of data", ErrInvalidValue, cb.algo, len(sum), size)
	}
	var v uint64
	if cb.c.width == 32 {
		v = uint64(binary.BigEndian.Uint32(sum))
	} else {
		v = binary.BigEndian.Uint64(sum)
	}
	if cb.n == 0 {
		cb.sum = v
	} else {
		cb.sum = cb.c.mul(cb.c.shift(size), cb.sum) ^ v
	}
	cb.n += size
	return nil
}

// Sum returns the CRC of everything added, binary and big-endian.
func (cb *Combiner) Sum() []byte {
	if cb.c.width == 32 {
		return binary.BigEndian.AppendUint32(nil, uint32(cb.sum))
	}
	return binary.BigEndian.AppendUint64(nil, cb.sum)
}
