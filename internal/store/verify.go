package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Health of a version after verification.
const (
	Healthy    = "healthy"    // every shard and manifest piece present and intact
	Damaged    = "damaged"    // readable, but some shards or pieces need repair
	Unreadable = "unreadable" // more damage than parity covers
)

// VerifyResult is the outcome for one version.
type VerifyResult struct {
	Bucket, Key, VersionID string
	Size                   int64
	Health                 string
	Problems               []ShardProblem
	BadPieces              []int // manifest pieces missing or damaged
	Err                    error // why unreadable
}

// VerifyOptions select what Verify checks.
type VerifyOptions struct {
	Bucket, Prefix string
	// AllVersions checks every version, not only current ones.
	AllVersions bool
	// Progress is called after each version with the bytes it covered.
	Progress func(VerifyResult)
}

// Verify reads every shard of the selected versions, checks every checksum,
// shard root and the authentication of every block, and the manifest pieces
// on the backends. It calls fn for each version; fn's error stops it.
func (s *Store) Verify(ctx context.Context, o VerifyOptions, fn func(VerifyResult) error) error {
	buckets := []string{o.Bucket}
	if o.Bucket == "" {
		bs, err := s.idx.Buckets(ctx)
		if err != nil {
			return classify("verify", err)
		}
		buckets = buckets[:0]
		for _, b := range bs {
			buckets = append(buckets, b.Name)
		}
	}
	for _, b := range buckets {
		err := s.eachVersion(ctx, b, o.Prefix, o.AllVersions, func(v index.Version) error {
			if v.DeleteMarker {
				return nil
			}
			return fn(s.VerifyVersion(ctx, v))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachVersion walks versions under a prefix: all of them, or the current
// non-deleted ones.
func (s *Store) eachVersion(ctx context.Context, bucket, prefix string, all bool, fn func(index.Version) error) error {
	if !all {
		after := ""
		for {
			r, err := s.idx.List(ctx, index.ListOptions{Bucket: bucket, Prefix: prefix, StartAfter: after, Limit: 1000})
			if err != nil {
				return classify("list "+bucket, err)
			}
			for _, v := range r.Versions {
				if err := fn(v); err != nil {
					return err
				}
			}
			if !r.Truncated {
				return nil
			}
			after = r.Next
		}
	}
	km, vm := "", ""
	for {
		r, err := s.idx.ListVersions(ctx, index.ListVersionsOptions{Bucket: bucket, Prefix: prefix, KeyMarker: km, VersionIDMarker: vm, Limit: 1000})
		if err != nil {
			return classify("list versions "+bucket, err)
		}
		for _, v := range r.Versions {
			if err := fn(v); err != nil {
				return err
			}
		}
		if !r.Truncated {
			return nil
		}
		km, vm = r.NextKeyMarker, r.NextVersionIDMarker
	}
}

// VerifyVersion checks one version completely.
func (s *Store) VerifyVersion(ctx context.Context, v index.Version) VerifyResult {
	res := VerifyResult{Bucket: v.Bucket, Key: v.Key, VersionID: v.ID, Size: v.Size, Health: Healthy}
	m, err := manifest.Decode(v.Manifest, s.pub)
	if err != nil {
		res.Health, res.Err = Unreadable, err
		return res
	}
	for _, seg := range m.Segments {
		dec, err := s.decoder(seg)
		if err != nil {
			res.Health, res.Err = Unreadable, err
			return res
		}
		roots := make([][32]byte, len(seg.Roots))
		for i, r := range seg.Roots {
			copy(roots[i][:], r)
		}
		rep, err := dec.Verify(ctx, vidBytes(seg.ID), roots)
		var rr ReadReport
		s.noteReport(&rr, seg, rep)
		for i, st := range rep.Shards {
			if seg.Backends[i] == "" && st != codec.ShardUnavailable && st != codec.ShardCorrupt {
				rr.Problems = append(rr.Problems, ShardProblem{Segment: seg.ID, Index: i, State: codec.ShardUnavailable,
					Err: errors.New("never written (under-protected write)")})
			}
		}
		// The decoder reads only the bytes the format says exist: a shard
		// file with bytes appended is caught by its size.
		rr.Problems = append(rr.Problems, s.checkShardSizes(ctx, seg, rep)...)
		res.Problems = append(res.Problems, rr.Problems...)
		if err != nil {
			res.Health, res.Err = Unreadable, err
			return res
		}
	}
	res.BadPieces = s.checkPieces(ctx, m)
	if len(res.Problems) > 0 || len(res.BadPieces) > 0 {
		res.Health = Damaged
	}
	return res
}

// checkPieces reads the version's manifest pieces from the backends and
// returns the indexes of missing or damaged ones. A version whose pieces
// no longer open to the same manifest (edited on a backend) has all of them
// reported.
func (s *Store) checkPieces(ctx context.Context, m *manifest.Manifest) []int {
	raw := make([][]byte, len(m.Placement))
	var wg sync.WaitGroup
	for i, name := range m.Placement {
		j, ok := s.byName[name]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := readAll(ctx, s.backends[j], pieceName(m.ID, i)); err == nil {
				raw[i] = b
			}
		}()
	}
	wg.Wait()
	var bad []int
	for i, b := range raw {
		if b == nil && m.Placement[i] != "" { // "": a revision's unused half
			bad = append(bad, i)
		}
	}
	res, err := manifest.Open(raw, s.master, s.pub)
	if err != nil || res.Manifest.ID != m.ID {
		all := make([]int, len(raw))
		for i := range all {
			all[i] = i
		}
		return all
	}
	bad = append(bad, res.Bad...)
	sort.Ints(bad)
	return dedupe(bad)
}

func dedupe(xs []int) []int {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// String renders a one-line summary.
func (r VerifyResult) String() string {
	s := fmt.Sprintf("%s %s/%s (version %s)", r.Health, r.Bucket, r.Key, r.VersionID)
	for _, p := range r.Problems {
		s += "; " + p.String()
	}
	if len(r.BadPieces) > 0 {
		s += fmt.Sprintf("; manifest pieces %v missing or damaged", r.BadPieces)
	}
	if r.Err != nil {
		s += "; " + r.Err.Error()
	}
	return s
}

// checkShardSizes stats the shards the decoder found healthy and reports
// those whose size differs from what the format defines.
func (s *Store) checkShardSizes(ctx context.Context, seg manifest.Segment, rep codec.Report) []ShardProblem {
	want := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}.ShardFileSize(seg.Size)
	var out []ShardProblem
	for i, name := range seg.Backends {
		j, ok := s.byName[name]
		if !ok || (i < len(rep.Shards) && rep.Shards[i] != codec.ShardOK) {
			continue
		}
		st, err := s.backends[j].Stat(ctx, shardName(seg.ID, i))
		if err == nil && st.Size != want {
			out = append(out, ShardProblem{Segment: seg.ID, Index: i, Backend: name, State: codec.ShardCorrupt,
				Err: fmt.Errorf("shard file is %d bytes; the format defines %d", st.Size, want)})
		}
	}
	return out
}
