package guard

import (
	"crypto/rand"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestHLLAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name string
		bits uint8
		n    int
	}{
		{"p10 tiny", colHLLBits, 10},
		{"p10 small", colHLLBits, 700},
		{"p10 mid", colHLLBits, 5000},
		{"p10 large", colHLLBits, 300000},
		{"p14 rows", rowHLLBits, 5000},
		{"p14 large", rowHLLBits, 200000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newHLL(tc.bits)
			for i := range tc.n {
				b := []byte("value-" + strconv.Itoa(i))
				s.add(hashBytes(b))
				s.add(hashBytes(b)) // repeats do not count
			}
			got := s.estimate()
			// four standard errors of 1.04/sqrt(m), or one value
			bound := 4 * 1.04 / math.Sqrt(float64(int(1)<<tc.bits)) * float64(tc.n)
			if math.Abs(got-float64(tc.n)) > max(bound, 1) {
				t.Errorf("estimate(%d distinct) = %.0f; want within %.0f", tc.n, got, bound)
			}
		})
	}
}

func TestHLLEmpty(t *testing.T) {
	if got := newHLL(colHLLBits).estimate(); got != 0 {
		t.Errorf("estimate() of nothing = %v; want 0", got)
	}
}

func TestKLLQuantiles(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 1))
	for _, n := range []int{100, 5000, 200000} {
		s := newKLL()
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = rng.NormFloat64()*10 + 50
			s.add(vals[i])
		}
		slices.Sort(vals)
		q := s.quantiles(QuantileRanks)
		for i, r := range QuantileRanks {
			// the rank of the returned value in the true data
			rank := float64(sortSearchFloat(vals, q[i])) / float64(n)
			if math.Abs(rank-r) > 0.015 {
				t.Errorf("n=%d: quantile(%.2f) = %.3f at rank %.4f; want rank within 0.015", n, r, q[i], rank)
			}
		}
		if n <= kllBuffer && !slices.Equal(q, exactQuantiles(vals, QuantileRanks)) {
			t.Errorf("n=%d: quantiles not exact below the buffer size", n)
		}
		if s.stored > 3*kllK+kllBuffer {
			t.Errorf("n=%d: sketch holds %d values; want at most %d", n, s.stored, 3*kllK+kllBuffer)
		}
	}
}

func sortSearchFloat(sorted []float64, x float64) int {
	i, _ := slices.BinarySearch(sorted, x)
	return i
}

func exactQuantiles(sorted []float64, ranks []float64) []float64 {
	out := make([]float64, len(ranks))
	for i, r := range ranks {
		k := int(math.Ceil(r*float64(len(sorted)))) - 1
		out[i] = sorted[max(0, min(k, len(sorted)-1))]
	}
	return out
}

func TestKLLMerge(t *testing.T) {
	a, b, all := newKLL(), newKLL(), newKLL()
	for i := range 60000 {
		x := float64(i)
		if i%2 == 0 {
			a.add(x)
		} else {
			b.add(x + 60000)
		}
		all.add(x)
	}
	a.merge(b)
	if a.n != 60000 {
		t.Fatalf("merged count = %d; want 60000", a.n)
	}
	med := a.quantiles([]float64{0.5})[0]
	if math.Abs(med-60000) > 0.02*120000 {
		t.Errorf("median of merged = %.0f; want about 60000", med)
	}
}

func TestSortFloats(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(2, 2))
	for _, n := range []int{0, 1, 100, 255, 256, 4096, 10000} {
		xs := make([]float64, n)
		for i := range xs {
			switch i % 7 {
			case 0:
				xs[i] = -rng.ExpFloat64() * 1e6
			case 1:
				xs[i] = 0
			case 2:
				xs[i] = math.Copysign(0, -1)
			case 3:
				xs[i] = math.Inf(1)
			case 4:
				xs[i] = math.Inf(-1)
			default:
				xs[i] = rng.NormFloat64()
			}
		}
		want := slices.Clone(xs)
		slices.Sort(want)
		sortFloats(xs)
		if !slices.Equal(xs, want) {
			t.Errorf("sortFloats(%d values) differs from slices.Sort", n)
		}
	}
}

func TestTopK(t *testing.T) {
	s := newTopK(10)
	// a Zipf-like stream: value i occurs 1000/i times, plus noise
	var stream []string
	for i := 1; i <= 5; i++ {
		for range 1000 / i {
			stream = append(stream, "heavy"+strconv.Itoa(i))
		}
	}
	for i := range 2000 {
		stream = append(stream, "noise"+strconv.Itoa(i))
	}
	rng := mrand.New(mrand.NewPCG(3, 3))
	rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	for _, v := range stream {
		s.add([]byte(v))
	}
	top := s.top(5)
	for i, vc := range top {
		want := "heavy" + strconv.Itoa(i+1)
		if vc.Value != want {
			t.Errorf("top[%d] = %q; want %q", i, vc.Value, want)
		}
		if exact := int64(1000 / (i + 1)); vc.Count < exact || vc.Count > exact+int64(len(stream)/10) {
			t.Errorf("count(%s) = %d; want in [%d, %d]", vc.Value, vc.Count, exact, exact+int64(len(stream)/10))
		}
	}
}

func TestTopKExactWhenSmall(t *testing.T) {
	s := newTopK(topCapacity)
	for i := range 1000 {
		s.add([]byte(strconv.Itoa(i % 7)))
	}
	top := s.top(20)
	if len(top) != 7 || s.full {
		t.Fatalf("top = %v (full %v); want 7 exact values", top, s.full)
	}
	for _, vc := range top {
		if want := int64(1000/7) + map[bool]int64{true: 1}[vc.Value < strconv.Itoa(1000%7)]; vc.Count != want {
			t.Errorf("count(%s) = %d; want %d", vc.Value, vc.Count, want)
		}
	}
}

func TestMoments(t *testing.T) {
	var m moments
	xs := []float64{1.5e9 + 1, 1.5e9 + 2, 1.5e9 + 3, 1.5e9 + 4}
	for _, x := range xs {
		m.add(x)
	}
	if got := m.mean(); got != 1.5e9+2.5 {
		t.Errorf("mean = %v; want %v", got, 1.5e9+2.5)
	}
	if got, want := m.std(), math.Sqrt(5.0/3); math.Abs(got-want) > 1e-9 {
		t.Errorf("std = %v; want %v", got, want)
	}
}

func TestEntropy(t *testing.T) {
	random := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	text := []byte("carat,cut,color,clarity,depth,table,price,x,y,z\n0.23,Ideal,E,SI2,61.5,55,326,3.95,3.98,2.43\n")
	for len(text) < 1<<16 {
		text = append(text, text...)
	}
	for _, tc := range []struct {
		name     string
		data     []byte
		min, max float64
	}{
		{"random 1 KiB", random(1 << 10), 7.6, 8},
		{"random 64 MiB", random(64 << 20), 7.99, 8},
		{"zeros", make([]byte, 1<<20), 0, 0},
		{"csv text", text, 3, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h byteHist
			for i := 0; i < len(tc.data); i += 100000 {
				h.write(tc.data[i:min(len(tc.data), i+100000)])
			}
			if got := h.entropy(); got < tc.min || got > tc.max {
				t.Errorf("entropy = %.4f; want in [%v, %v]", got, tc.min, tc.max)
			}
		})
	}
}

func TestEntropySamplesLargeStreams(t *testing.T) {
	var h byteHist
	h.write(make([]byte, 64<<20))
	want := int64(entropyFull + (64<<20-entropyFull)/entropyStride*entropyRun)
	if h.n != want {
		t.Errorf("counted %d bytes of 64 MiB; want %d", h.n, want)
	}
}

func TestHashBytesSpreads(t *testing.T) {
	seen := map[uint64]bool{}
	for i := range 100000 {
		h := hashBytes([]byte(strconv.Itoa(i)))
		if seen[h] {
			t.Fatalf("hash collision at %d", i)
		}
		seen[h] = true
	}
	// fixed: profiles (their distinct counts) must not change between runs
	if got := hashBytes([]byte("abc")); got != 0xbfc1adcb6f5dbd1f {
		t.Errorf("hashBytes(abc) = %#x; the hash changed", got)
	}
}
