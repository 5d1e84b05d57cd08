package guard

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// The sketches here are small, deterministic (no random seeds: the same
// bytes always give the same profile) and cheap per value, because they run
// on the write path.

const (
	hashSeed = 0x9e3779b97f4a7c15
	hashK1   = 0xa0761d6478bd642f
	hashK2   = 0xe7037ed1a0b428db
)

// mix folds the 128-bit product of a and b into 64 bits.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// fmix is the MurmurHash3 finaliser: every input bit affects every output
// bit, which the HyperLogLog needs.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashBytes is a fast non-cryptographic 64-bit hash of b.
func hashBytes(b []byte) uint64 {
	h := hashSeed ^ uint64(len(b))*hashK1
	for len(b) >= 8 {
		h = mix(h^binary.LittleEndian.Uint64(b), hashK2)
		b = b[8:]
	}
	if len(b) > 0 {
		var t uint64
		for i, c := range b {
			t |= uint64(c) << (8 * i)
		}
		h = mix(h^t, hashK1)
	}
	return fmix(h)
}

// hashUint64 hashes one 64-bit word.
func hashUint64(x uint64) uint64 { return fmix(mix(x^hashSeed, hashK2)) }

// hll is a HyperLogLog distinct counter with 2^p one-byte registers. The
// estimate uses Ertl's improved raw estimator ("New cardinality estimation
// algorithms for HyperLogLog sketches", 2017), which needs no bias tables
// and is accurate from a handful of values to billions: the relative
// standard error is about 1.04/sqrt(2^p).
type hll struct {
	p   uint8
	reg []uint8
}

func newHLL(p uint8) *hll { return &hll{p: p, reg: make([]uint8, 1<<p)} }

func (s *hll) add(h uint64) {
	idx := h >> (64 - s.p)
	rank := uint8(bits.LeadingZeros64(h<<s.p|1<<(s.p-1))) + 1
	if rank > s.reg[idx] {
		s.reg[idx] = rank
	}
}

func (s *hll) estimate() float64 {
	m := float64(len(s.reg))
	q := 64 - int(s.p)
	counts := make([]int, q+2)
	for _, r := range s.reg {
		counts[r]++
	}
	z := m * hllTau(1-float64(counts[q+1])/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + float64(counts[k]))
	}
	z += m * hllSigma(float64(counts[0])/m)
	return m * m / (2 * math.Ln2) / z
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}

// kll is a KLL quantile sketch (Karnin, Lang, Liberty 2016) over float64
// values: compactors whose capacities shrink geometrically (factor 2/3)
// from the top level down. With k = 200 it keeps at most ~850 values and
// its rank error is about 1.3% at worst, much less on average; until the
// first compaction it is exact. Level 0 is an unsorted buffer of at least
// kllBuffer values; the levels above are kept sorted, so that a compaction
// there is a linear merge. The coin used by compactions is a deterministic
// generator, so a stream always gives the same sketch.
type kll struct {
	k       int
	levels  [][]float64
	caps    []int // capacity of each level, recomputed when a level is added
	stored  int   // values held, all levels
	limit   int   // sum of caps: compress when stored reaches it
	n       int64
	coin    uint64
	scratch []float64
	cache   []weighted // sorted(), until the next change
}

const kllK = 200

// kllBuffer is the least capacity of level 0: a larger unsorted buffer
// there means fewer sorts, and more accuracy, for 2 KiB more.
const kllBuffer = 4096

func newKLL() *kll {
	s := &kll{k: kllK, levels: [][]float64{nil}, coin: hashSeed}
	s.resize()
	return s
}

// resize recomputes the level capacities after the number of levels changed.
func (s *kll) resize() {
	s.caps = s.caps[:0]
	s.limit = 0
	for h := range s.levels {
		depth := len(s.levels) - 1 - h
		c := max(int(math.Ceil(float64(s.k)*math.Pow(2.0/3.0, float64(depth)))), 2)
		if h == 0 {
			c = max(c, kllBuffer)
		}
		s.caps = append(s.caps, c)
		s.limit += c
	}
}

func (s *kll) add(x float64) {
	s.cache = nil
	s.levels[0] = append(s.levels[0], x)
	s.n++
	s.stored++
	if s.stored >= s.limit {
		s.compress()
	}
}

// merge adds o's values to s: levels are concatenated (and kept sorted
// above level 0), then compacted down to size.
func (s *kll) merge(o *kll) {
	s.cache = nil
	if len(s.levels) < len(o.levels) {
		for len(s.levels) < len(o.levels) {
			s.levels = append(s.levels, nil)
		}
		s.resize()
	}
	for h, l := range o.levels {
		s.levels[h] = append(s.levels[h], l...)
		if h > 0 {
			slices.Sort(s.levels[h])
		}
		s.stored += len(l)
	}
	s.n += o.n
	for s.stored >= s.limit {
		s.compress()
	}
}

// compress compacts the lowest level that is at its capacity: half of its
// values, the odd or the even positions by a coin flip, go one level up,
// where each weighs twice as much.
func (s *kll) compress() {
	for h := range s.levels {
		if len(s.levels[h]) < s.caps[h] {
			continue
		}
		if h+1 == len(s.levels) {
			s.levels = append(s.levels, nil)
			s.resize()
		}
		l := s.levels[h]
		if h == 0 {
			sortFloats(l)
		}
		var rest []float64
		if len(l)%2 == 1 {
			rest = l[len(l)-1:]
			l = l[:len(l)-1]
		}
		s.coin ^= s.coin << 13
		s.coin ^= s.coin >> 7
		s.coin ^= s.coin << 17
		half := s.scratch[:0]
		for i := int(s.coin & 1); i < len(l); i += 2 {
			half = append(half, l[i])
		}
		// merge the sorted half into the sorted level above
		up := s.levels[h+1]
		merged := make([]float64, 0, max(len(up)+len(half), s.caps[h+1]+1))
		i, j := 0, 0
		for i < len(up) && j < len(half) {
			if half[j] < up[i] {
				merged = append(merged, half[j])
				j++
			} else {
				merged = append(merged, up[i])
				i++
			}
		}
		merged = append(merged, up[i:]...)
		merged = append(merged, half[j:]...)
		s.levels[h+1] = merged
		s.scratch = half[:0]
		s.stored -= len(l) / 2
		if rest != nil {
			l = append(l[:0], rest[0])
		} else {
			l = l[:0]
		}
		s.levels[h] = l
		return
	}
}

// radixPool holds the scratch key buffers of sortFloats.
var radixPool = sync.Pool{New: func() any { return new([]uint64) }}

// sortFloats sorts xs (no NaNs) ascending: a least-significant-digit
// radix sort on order-preserving bit patterns, 8 bits a pass, skipping the
// passes in which all keys share the digit. On the few thousand values of
// a sketch buffer it is several times faster than a comparison sort.
func sortFloats(xs []float64) {
	n := len(xs)
	if n < 256 {
		slices.Sort(xs)
		return
	}
	bp := radixPool.Get().(*[]uint64)
	if cap(*bp) < 2*n {
		*bp = make([]uint64, 2*n)
	}
	keys, other := (*bp)[:n], (*bp)[n:2*n]
	for i, x := range xs {
		b := math.Float64bits(x)
		if b>>63 == 1 {
			b = ^b
		} else {
			b |= 1 << 63
		}
		keys[i] = b
	}
	var count [256]int
	for shift := 0; shift < 64; shift += 8 {
		clear(count[:])
		for _, k := range keys {
			count[byte(k>>shift)]++
		}
		if count[byte(keys[0]>>shift)] == n {
			continue
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, k := range keys {
			d := byte(k >> shift)
			other[count[d]] = k
			count[d]++
		}
		keys, other = other, keys
	}
	for i, b := range keys {
		if b>>63 == 1 {
			b &^= 1 << 63
		} else {
			b = ^b
		}
		xs[i] = math.Float64frombits(b)
	}
	radixPool.Put(bp)
}

// weighted is a value with the number of stream values it stands for.
type weighted struct {
	v float64
	w int64
}

// sorted returns the sketch's values in order with their weights. Level
// 0 is sorted in place (its order does not matter), then all levels are
// merged; the result is kept until the next add.
func (s *kll) sorted() []weighted {
	if s.cache != nil {
		return s.cache
	}
	sortFloats(s.levels[0])
	out := make([]weighted, 0, s.stored)
	for h, l := range s.levels {
		w := int64(1) << h
		if len(out) == 0 {
			for _, v := range l {
				out = append(out, weighted{v, w})
			}
			continue
		}
		merged := make([]weighted, 0, len(out)+len(l))
		i, j := 0, 0
		for i < len(out) && j < len(l) {
			if l[j] < out[i].v {
				merged = append(merged, weighted{l[j], w})
				j++
			} else {
				merged = append(merged, out[i])
				i++
			}
		}
		merged = append(merged, out[i:]...)
		for _, v := range l[j:] {
			merged = append(merged, weighted{v, w})
		}
		out = merged
	}
	s.cache = out
	return out
}

// quantiles returns the values at the given ranks (0..1). The 0 and 1 ranks
// are the smallest and largest values the sketch holds; a caller that knows
// the exact extremes should put them in.
func (s *kll) quantiles(ranks []float64) []float64 {
	items := s.sorted()
	if len(items) == 0 {
		return nil
	}
	var total int64
	for _, it := range items {
		total += it.w
	}
	out := make([]float64, len(ranks))
	i := 0
	var cum int64
	for j, r := range ranks {
		target := r * float64(total)
		for i < len(items)-1 && float64(cum+items[i].w) < target {
			cum += items[i].w
			i++
		}
		out[j] = items[i].v
	}
	return out
}

// cdfLess returns the share of values < x for each x in xs (xs ascending).
func (s *kll) cdfLess(xs []float64) []float64 {
	items := s.sorted()
	out := make([]float64, len(xs))
	var total int64
	for _, it := range items {
		total += it.w
	}
	if total == 0 {
		return out
	}
	i := 0
	var cum int64
	for j, x := range xs {
		for i < len(items) && items[i].v < x {
			cum += items[i].w
			i++
		}
		out[j] = float64(cum) / float64(total)
	}
	return out
}

// topK is a space-saving heavy-hitters sketch (Metwally et al. 2005) with a
// fixed number of counters. A value's count is exact while the sketch has
// never been full, and otherwise over-estimates by at most the smallest
// counter. Counters are a plain list with an index by value until the
// first eviction, then a min-heap on counts.
type topK struct {
	cap   int
	items []tkItem
	index map[string]int
	full  bool // a counter has been evicted at least once: items is a heap
	evict int64
}

type tkItem struct {
	v string
	n int64
}

func newTopK(capacity int) *topK {
	return &topK{cap: capacity, index: make(map[string]int, capacity)}
}

// maxTopValue is the longest value the top-k sketch keeps; longer values are
// cut (and share a counter with every value with the same start).
const maxTopValue = 64

func (t *topK) add(b []byte) {
	if len(b) > maxTopValue {
		b = b[:maxTopValue]
	}
	if i, ok := t.index[string(b)]; ok {
		t.items[i].n++
		if t.full {
			t.down(i)
		}
		return
	}
	if len(t.items) < t.cap {
		t.items = append(t.items, tkItem{string(b), 1})
		t.index[t.items[len(t.items)-1].v] = len(t.items) - 1
		return
	}
	if !t.full {
		t.full = true
		for i := len(t.items)/2 - 1; i >= 0; i-- {
			t.down(i)
		}
	}
	t.evict++
	delete(t.index, t.items[0].v)
	t.items[0] = tkItem{string(b), t.items[0].n + 1}
	t.index[t.items[0].v] = 0
	t.down(0)
}

// down restores the heap below i after its count grew.
func (t *topK) down(i int) {
	its := t.items
	for {
		l := 2*i + 1
		if l >= len(its) {
			break
		}
		m := l
		if r := l + 1; r < len(its) && its[r].n < its[l].n {
			m = r
		}
		if its[i].n <= its[m].n {
			break
		}
		its[i], its[m] = its[m], its[i]
		t.index[its[i].v] = i
		t.index[its[m].v] = m
		i = m
	}
}

// top returns up to k values by count, largest first; ties by value.
func (t *topK) top(k int) []ValueCount {
	its := slices.Clone(t.items)
	slices.SortFunc(its, func(a, b tkItem) int {
		if a.n != b.n {
			if a.n > b.n {
				return -1
			}
			return 1
		}
		return strings.Compare(a.v, b.v)
	})
	if len(its) > k {
		its = its[:k]
	}
	out := make([]ValueCount, len(its))
	for i, it := range its {
		out[i] = ValueCount{Value: it.v, Count: it.n}
	}
	return out
}

// moments keeps a count, mean and variance in one pass from sums of
// deviations from the first value, which keeps the sums small (no
// cancellation for timestamps) and needs no division per value.
type moments struct {
	n      int64
	shift  float64
	s1, s2 float64
}

func (m *moments) add(x float64) {
	if m.n == 0 {
		m.shift = x
	}
	m.n++
	d := x - m.shift
	m.s1 += d
	m.s2 += d * d
}

func (m *moments) mean() float64 {
	if m.n == 0 {
		return 0
	}
	return m.shift + m.s1/float64(m.n)
}

// std is the sample standard deviation (n-1 in the denominator).
func (m *moments) std() float64 {
	if m.n < 2 {
		return 0
	}
	n := float64(m.n)
	return math.Sqrt(max(0, (m.s2-m.s1*m.s1/n)/(n-1)))
}
