package manifest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/rhizome-data/rhizome/internal/keys"
)

// Piece layout (format 1), all integers big-endian:
//
//	0   "RZP1"
//	4   k (u8), n (u8), index (u8), reserved (u8, 0)
//	8   version ID (16 bytes)
//	24  share length s (u16), share (s bytes)
//	    ciphertext length c (u32), ciphertext (c bytes)
//
// The ciphertext is the signed envelope sealed with AES-256-GCM under the
// version key VK (fresh per version; nonce zero because VK seals exactly one
// message; additional data = version ID). The share is piece index's Shamir
// share of VK (xor-wrapped by the master key when one is configured). Every
// piece carries the whole ciphertext, which is small; any k pieces open it.
var pieceMagic = []byte("RZP1")

// ErrUnreadable is returned by Open when no k-subset of the pieces given
// opens to a manifest that verifies: too few pieces, or too many damaged.
var ErrUnreadable = errors.New("manifest: cannot open manifest from pieces")

// PieceHeader is the clear part of a piece.
type PieceHeader struct {
	K, N, Index int
	VersionID   [16]byte
}

// Seal encrypts a signed envelope for version vid and returns n pieces,
// any k of which open it.
func Seal(envelope []byte, vid [16]byte, k, n int, master []byte) ([][]byte, error) {
	vk, err := keys.NewDataKey()
	if err != nil {
		return nil, err
	}
	ct, err := sealWith(vk, vid, envelope)
	if err != nil {
		return nil, err
	}
	shares, err := keys.Split(keys.Wrap(master, vk, vid[:]), n, k, nil)
	if err != nil {
		return nil, err
	}
	clear(vk)
	out := make([][]byte, n)
	for i, sh := range shares {
		b := make([]byte, 0, 24+2+len(sh.Y)+4+len(ct))
		b = append(b, pieceMagic...)
		b = append(b, byte(k), byte(n), byte(i), 0)
		b = append(b, vid[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(sh.Y)))
		b = append(b, sh.Y...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ct)))
		b = append(b, ct...)
		out[i] = b
	}
	return out, nil
}

type piece struct {
	PieceHeader
	share []byte
	ct    []byte
}

// ParsePiece checks a piece's framing and returns its header.
func ParsePiece(b []byte) (PieceHeader, error) {
	p, err := parsePiece(b)
	return p.PieceHeader, err
}

func parsePiece(b []byte) (piece, error) {
	var p piece
	if len(b) < 26 || !bytes.Equal(b[:4], pieceMagic) {
		return p, fmt.Errorf("%w: piece: bad magic or too short (%d bytes)", ErrMalformed, len(b))
	}
	p.K, p.N, p.Index = int(b[4]), int(b[5]), int(b[6])
	if p.K < 1 || p.N < p.K || p.Index >= p.N || b[7] != 0 {
		return p, fmt.Errorf("%w: piece: k=%d n=%d index=%d", ErrMalformed, p.K, p.N, p.Index)
	}
	copy(p.VersionID[:], b[8:24])
	s := int(binary.BigEndian.Uint16(b[24:26]))
	rest := b[26:]
	if s != keys.KeySize || len(rest) < s+4 {
		return p, fmt.Errorf("%w: piece: share length %d", ErrMalformed, s)
	}
	p.share, rest = rest[:s], rest[s:]
	c := int(binary.BigEndian.Uint32(rest[:4]))
	rest = rest[4:]
	if c != len(rest) || c > maxPayload+64 {
		return p, fmt.Errorf("%w: piece: ciphertext length %d, have %d bytes", ErrMalformed, c, len(rest))
	}
	p.ct = rest
	return p, nil
}

// OpenResult tells what Open found.
type OpenResult struct {
	Envelope []byte
	Manifest *Manifest
	// Bad lists the piece indexes that were malformed or did not fit the
	// manifest that opened (tampered or stale): candidates for repair.
	Bad []int
}

// Open combines pieces of one version (in any order, nil entries ignored,
// damaged ones tolerated as long as k good ones remain), decrypts and
// verifies the manifest.
func Open(raw [][]byte, master []byte, pub ed25519.PublicKey) (*OpenResult, error) {
	var ps []piece
	var bad []int
	for i, b := range raw {
		if b == nil {
			continue
		}
		p, err := parsePiece(b)
		if err != nil {
			bad = append(bad, i)
			continue
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: no well-formed pieces", ErrUnreadable)
	}
	// Group by (vid, k, n, ciphertext); try the largest group first.
	type group struct {
		hdr    PieceHeader
		ct     []byte
		pieces []piece
	}
	groups := map[[32]byte]*group{}
	for _, p := range ps {
		h := sha256.New()
		h.Write(p.VersionID[:])
		h.Write([]byte{byte(p.K), byte(p.N)})
		h.Write(p.ct)
		var id [32]byte
		copy(id[:], h.Sum(nil))
		g := groups[id]
		if g == nil {
			g = &group{hdr: p.PieceHeader, ct: p.ct}
			groups[id] = g
		}
		g.pieces = append(g.pieces, p)
	}
	order := make([]*group, 0, len(groups))
	for _, g := range groups {
		order = append(order, g)
	}
	sort.Slice(order, func(i, j int) bool { return len(order[i].pieces) > len(order[j].pieces) })

	var lastErr error = fmt.Errorf("fewer than k pieces agree")
	for _, g := range order {
		k := g.hdr.K
		// Shares may come from pieces whose ciphertext copy was damaged, so
		// use every piece of this version with the same k and n.
		var cand []piece
		seen := map[int]bool{}
		for _, p := range ps {
			if p.VersionID == g.hdr.VersionID && p.K == k && p.N == g.hdr.N && !seen[p.Index] {
				seen[p.Index] = true
				cand = append(cand, p)
			}
		}
		if len(cand) < k {
			lastErr = fmt.Errorf("have %d pieces, need %d", len(cand), k)
			continue
		}
		var res *OpenResult
		subsets(len(cand), k, func(idx []int) bool {
			shares := make([]keys.Share, k)
			for i, j := range idx {
				shares[i] = keys.Share{X: byte(cand[j].Index + 1), Y: cand[j].share}
			}
			wrapped, err := keys.Combine(shares)
			if err != nil {
				return true
			}
			vk := keys.Unwrap(master, wrapped, g.hdr.VersionID[:])
			env, err := openWith(vk, g.hdr.VersionID, g.ct)
			if err != nil {
				return true
			}
			m, err := Decode(env, pub)
			if err != nil {
				lastErr = err
				return true
			}
			res = &OpenResult{Envelope: env, Manifest: m}
			// Pieces that do not fit: other ciphertexts, or shares that
			// disagree with the key (checked by interpolating each one).
			for _, p := range ps {
				if p.VersionID != g.hdr.VersionID {
					continue
				}
				if !bytes.Equal(p.ct, g.ct) || !shareFits(p, cand, idx, wrapped) {
					bad = append(bad, p.Index)
				}
			}
			return false
		})
		if res != nil {
			sort.Ints(bad)
			res.Bad = bad
			return res, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrUnreadable, lastErr)
}

// shareFits reports whether p's share lies on the polynomial that the
// chosen k shares define: swapping one chosen share for p must give the
// same secret.
func shareFits(p piece, cand []piece, idx []int, secret []byte) bool {
	for _, j := range idx {
		if cand[j].Index == p.Index {
			return bytes.Equal(cand[j].share, p.share)
		}
	}
	shares := make([]keys.Share, 0, len(idx))
	shares = append(shares, keys.Share{X: byte(p.Index + 1), Y: p.share})
	for _, j := range idx[1:] {
		shares = append(shares, keys.Share{X: byte(cand[j].Index + 1), Y: cand[j].share})
	}
	got, err := keys.Combine(shares)
	return err == nil && bytes.Equal(got, secret)
}

func sealWith(key []byte, vid [16]byte, plain []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	return aead.Seal(nil, nonce[:], plain, vid[:]), nil
}

func openWith(key []byte, vid [16]byte, ct []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	return aead.Open(nil, nonce[:], ct, vid[:])
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(keys.Derive(key, "manifest"))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return cipher.NewGCM(blk)
}

// subsets calls fn for each k-subset of 0..n-1 until fn returns false.
func subsets(n, k int, fn func([]int) bool) {
	idx := make([]int, k)
	var rec func(start, depth int) bool
	rec = func(start, depth int) bool {
		if depth == k {
			return fn(idx)
		}
		for i := start; i <= n-(k-depth); i++ {
			idx[depth] = i
			if !rec(i+1, depth+1) {
				return false
			}
		}
		return true
	}
	rec(0, 0)
}
