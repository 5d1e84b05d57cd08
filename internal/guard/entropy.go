package guard

import "math"

// Entropy sampling: every byte of the first entropyFull bytes, then the
// first entropyRun bytes of every entropyStride bytes. A few MiB of sample
// pin the entropy of a byte stream to the second decimal, and counting
// 1/32 of a large object keeps the binary path near memory speed.
const (
	entropyFull   = 1 << 20
	entropyStride = 128 << 10
	entropyRun    = 4 << 10
)

// byteHist counts byte values over the sampled ranges of a stream.
type byteHist struct {
	h   [4][256]uint64 // four tables so that consecutive bytes do not wait on each other
	off int64          // stream offset of the next byte
	n   int64          // bytes counted
}

func (e *byteHist) write(b []byte) {
	off := e.off
	e.off += int64(len(b))
	for len(b) > 0 {
		var take int64
		if off < entropyFull {
			take = min(int64(len(b)), entropyFull-off)
			e.count(b[:take])
		} else {
			pos := off % entropyStride
			if pos < entropyRun {
				take = min(int64(len(b)), entropyRun-pos)
				e.count(b[:take])
			} else {
				take = min(int64(len(b)), entropyStride-pos)
			}
		}
		b = b[take:]
		off += take
	}
}

func (e *byteHist) count(b []byte) {
	e.n += int64(len(b))
	h0, h1, h2, h3 := &e.h[0], &e.h[1], &e.h[2], &e.h[3]
	for len(b) >= 4 {
		h0[b[0]]++
		h1[b[1]]++
		h2[b[2]]++
		h3[b[3]]++
		b = b[4:]
	}
	for _, c := range b {
		h0[c]++
	}
}

// entropy returns the Shannon entropy of the counted bytes in bits per
// byte with the Miller-Madow correction ((K-1)/2N nats for K byte values
// seen in N bytes), which removes most of the downward bias of small
// samples: 1 KB of random bytes measures 7.8 bits uncorrected, 8.0 with
// it. The result is clamped to [0, 8].
func (e *byteHist) entropy() float64 {
	if e.n == 0 {
		return 0
	}
	n := float64(e.n)
	var h float64
	k := 0
	for v := range 256 {
		c := e.h[0][v] + e.h[1][v] + e.h[2][v] + e.h[3][v]
		if c == 0 {
			continue
		}
		k++
		p := float64(c) / n
		h -= p * math.Log2(p)
	}
	h += float64(k-1) / (2 * n * math.Ln2)
	return math.Min(8, math.Max(0, h))
}
