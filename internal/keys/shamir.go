// Package keys holds Rhizome's key material handling: per-version data keys,
// their dispersal across shards by Shamir secret sharing over GF(2^8) (any k
// shares rebuild the key, fewer reveal nothing about it), the optional master
// key that wraps a data key before it is shared, and the store's ed25519
// signing key.
package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// ErrShares is returned by Combine when the shares given cannot be combined:
// too few, duplicate or zero x coordinates, or unequal lengths.
var ErrShares = errors.New("keys: bad shares")

// Share is one point of a split secret: X is the evaluation point (1..255),
// Y holds one byte per secret byte.
type Share struct {
	X byte
	Y []byte
}

// Split divides secret into n shares so that any k of them rebuild it and
// k-1 or fewer reveal nothing. Shares get x coordinates 1..n. rnd supplies
// the random polynomial coefficients (crypto/rand.Reader when nil).
func Split(secret []byte, n, k int, rnd io.Reader) ([]Share, error) {
	if k < 1 || n < k || n > 255 {
		return nil, fmt.Errorf("keys: split %d-of-%d: need 1 <= k <= n <= 255", k, n)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	shares := make([]Share, n)
	for i := range shares {
		shares[i] = Share{X: byte(i + 1), Y: make([]byte, len(secret))}
	}
	coef := make([]byte, k) // coef[0] is the secret byte
	for b, s := range secret {
		coef[0] = s
		if _, err := io.ReadFull(rnd, coef[1:]); err != nil {
			return nil, fmt.Errorf("keys: split: random: %w", err)
		}
		for i := range shares {
			shares[i].Y[b] = evalPoly(coef, shares[i].X)
		}
	}
	clear(coef)
	return shares, nil
}

// Combine rebuilds the secret from exactly the shares given by Lagrange
// interpolation at x=0. Callers pass k shares; passing fewer than k yields a
// wrong secret, which the AEAD that the secret keys then refuses.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrShares)
	}
	size := len(shares[0].Y)
	seen := map[byte]bool{}
	for _, s := range shares {
		if s.X == 0 || seen[s.X] {
			return nil, fmt.Errorf("%w: x=%d is zero or repeated", ErrShares, s.X)
		}
		if len(s.Y) != size {
			return nil, fmt.Errorf("%w: lengths differ (%d and %d)", ErrShares, size, len(s.Y))
		}
		seen[s.X] = true
	}
	// Lagrange basis at 0: l_i = prod_{j!=i} x_j / (x_j - x_i); in GF(2^8)
	// subtraction is xor.
	basis := make([]byte, len(shares))
	for i, si := range shares {
		l := byte(1)
		for j, sj := range shares {
			if i == j {
				continue
			}
			l = gfMul(l, gfDiv(sj.X, sj.X^si.X))
		}
		basis[i] = l
	}
	out := make([]byte, size)
	for b := range out {
		var v byte
		for i, s := range shares {
			v ^= gfMul(basis[i], s.Y[b])
		}
		out[b] = v
	}
	return out, nil
}

func evalPoly(coef []byte, x byte) byte {
	// Horner, highest degree first.
	var v byte
	for i := len(coef) - 1; i >= 0; i-- {
		v = gfMul(v, x) ^ coef[i]
	}
	return v
}

// GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1, by log/exp tables.
var gfExp [510]byte
var gfLog [256]byte

func init() {
	x := byte(1)
	for i := 0; i < 255; i++ {
		gfExp[i] = x
		gfLog[x] = byte(i)
		// multiply by the generator 3
		x = x ^ xtime(x)
	}
	for i := 255; i < 510; i++ {
		gfExp[i] = gfExp[i-255]
	}
}

func xtime(b byte) byte {
	if b&0x80 != 0 {
		return b<<1 ^ 0x1b
	}
	return b << 1
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

func gfDiv(a, b byte) byte {
	if b == 0 {
		panic("keys: division by zero in GF(2^8)")
	}
	if a == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+255-int(gfLog[b])]
}
