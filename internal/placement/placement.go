// Package placement decides which backends hold the shards of a version.
// It is pure: no I/O, no clock.
//
// Backends carry a region label. Under the default policy (Survive ==
// SurviveRegion) no region holds more than m shards of any version, so the
// loss of a whole region leaves at least k shards readable. A layout that
// cannot give that guarantee is refused by Check unless the operator asks
// only to survive the loss of m backends (SurviveBackends). With more
// backends than k+m, versions are spread by rendezvous (highest random
// weight) hashing, so adding or removing one backend moves only its share.
package placement

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Survival policies.
const (
	SurviveRegion   = "region"   // any one region may be lost
	SurviveBackends = "backends" // any m backends may be lost
)

// Backend is what placement needs to know of a backend.
type Backend struct {
	Name   string
	Region string
}

// ErrLayout is returned by Check when the layout cannot be used.
var ErrLayout = errors.New("placement: impossible layout")

// Check validates k, m and the backends under the survive policy. It returns
// warnings for layouts that are accepted but weaker than they might look.
func Check(bs []Backend, k, m int, survive string) (warnings []string, err error) {
	n := k + m
	switch {
	case k < 1:
		return nil, fmt.Errorf("%w: k=%d; k (data shards) must be at least 1", ErrLayout, k)
	case m < 0:
		return nil, fmt.Errorf("%w: m=%d; m (parity shards) cannot be negative", ErrLayout, m)
	case n > 256:
		return nil, fmt.Errorf("%w: k+m=%d; at most 256 shards", ErrLayout, n)
	case len(bs) < n:
		return nil, fmt.Errorf("%w: %d backends configured but k+m=%d shards need %d distinct backends; add backends or lower k or m", ErrLayout, len(bs), n, n)
	}
	seen := map[string]bool{}
	for _, b := range bs {
		if b.Name == "" {
			return nil, fmt.Errorf("%w: a backend has no name", ErrLayout)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("%w: backend name %q used twice", ErrLayout, b.Name)
		}
		seen[b.Name] = true
		if b.Region == "" {
			return nil, fmt.Errorf("%w: backend %q has no region; give every backend a region label", ErrLayout, b.Name)
		}
	}
	counts := regionCounts(bs)
	switch survive {
	case SurviveRegion, "":
		if m == 0 {
			return nil, fmt.Errorf("%w: m=0 cannot survive the loss of any region; set m >= 1, or survive: backends to accept that", ErrLayout)
		}
		room := 0
		for _, c := range counts {
			room += min(c.n, m)
		}
		if room < n {
			var names []string
			for _, c := range counts {
				names = append(names, fmt.Sprintf("%s has %d", c.region, c.n))
			}
			return nil, fmt.Errorf("%w: with at most m=%d shards per region, regions (%s) can hold only %d of the %d shards, so losing one region could lose data; add regions or backends, or set survive: backends to accept surviving only the loss of %d backends",
				ErrLayout, m, strings.Join(names, ", "), room, n, m)
		}
	case SurviveBackends:
		room := 0
		for _, c := range counts {
			room += min(c.n, m)
		}
		if room < n {
			worst := counts[0]
			warnings = append(warnings, fmt.Sprintf("survive: backends: losing region %q (%d backends) can make data unreadable; only the loss of any %d backends is survived", worst.region, worst.n, m))
		}
	default:
		return nil, fmt.Errorf("%w: survive: %q; use %q or %q", ErrLayout, survive, SurviveRegion, SurviveBackends)
	}
	return warnings, nil
}

type regionCount struct {
	region string
	n      int
}

func regionCounts(bs []Backend) []regionCount {
	m := map[string]int{}
	for _, b := range bs {
		m[b.Region]++
	}
	out := make([]regionCount, 0, len(m))
	for r, n := range m {
		out = append(out, regionCount{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].region < out[j].region
	})
	return out
}

// Rank returns all backend indexes ordered by rendezvous weight for id,
// highest first.
func Rank(bs []Backend, id []byte) []int {
	type scored struct {
		i     int
		score uint64
	}
	s := make([]scored, len(bs))
	for i, b := range bs {
		h := sha256.New()
		h.Write(id)
		h.Write([]byte{0})
		h.Write([]byte(b.Name))
		s[i] = scored{i, binary.BigEndian.Uint64(h.Sum(nil))}
	}
	sort.Slice(s, func(a, b int) bool { return s[a].score > s[b].score })
	out := make([]int, len(s))
	for i, x := range s {
		out[i] = x.i
	}
	return out
}

// Pick returns the backend index for each of the k+m shards of the version
// with this id, honouring the per-region cap of the survive policy.
// skip lists backends that must not be used (down); Pick then fills from
// the next-ranked eligible backends and returns fewer than k+m indexes
// only when no eligible backend remains.
func Pick(bs []Backend, k, m int, survive string, id []byte, skip map[int]bool) []int {
	n := k + m
	limit := n
	if survive != SurviveBackends {
		limit = m
	}
	per := map[string]int{}
	out := make([]int, 0, n)
	for _, i := range Rank(bs, id) {
		if len(out) == n {
			break
		}
		if skip[i] || per[bs[i].Region] >= limit {
			continue
		}
		per[bs[i].Region]++
		out = append(out, i)
	}
	return out
}
