package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/keys"
	"github.com/rhizome-data/rhizome/internal/manifest"
	"github.com/rhizome-data/rhizome/internal/placement"
)

// piecesOutcome is what repairing a version's manifest pieces did.
type piecesOutcome struct {
	rewritten []int
	revised   bool
	err       error
}

// pieces repairs the manifest pieces of v, whose segments are now those of
// m. When segments moved, a piece's backend is gone or being emptied, or
// fewer than k pieces survive, it writes a revision; otherwise it rewrites
// each missing or damaged piece in place, bit for bit.
func (run *repairRun) pieces(ctx context.Context, v index.Version, m *manifest.Manifest, moved bool, healthy int) piecesOutcome {
	s := run.s
	_, names := piecePlacement(m)
	relocate := moved
	for _, name := range names {
		if _, ok := s.byName[name]; !ok {
			relocate = true
		}
		if _, ok := run.evac[name]; ok {
			relocate = true
		}
	}
	if !relocate {
		raw, issues := s.readPieces(ctx, m, nil)
		for _, i := range s.badPieces(raw, v.Manifest) {
			raw[i] = nil
			issues[i] = &ShardIssue{Index: i, Backend: m.Placement[i], Issue: IssueCorrupt}
		}
		var fix, good []int
		for i, name := range m.Placement {
			switch {
			case name == "":
			case issues[i] == nil:
				good = append(good, i)
			case issues[i].Issue != IssueUnavailable:
				fix = append(fix, i)
			}
		}
		if len(fix) == 0 {
			return piecesOutcome{}
		}
		k := 0
		if len(good) > 0 {
			h, _ := manifest.ParsePiece(raw[good[0]])
			k = h.K
		}
		if len(good) >= k && k > 0 {
			var out piecesOutcome
			var errs []error
			for _, i := range fix {
				b, err := regeneratePiece(raw, good, i, s.master, s.pub)
				if err == nil {
					bi := s.byName[m.Placement[i]]
					err = s.backends[bi].Put(ctx, pieceName(m.ID, i), bytes.NewReader(b), int64(len(b)))
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("manifest piece %d on %s: %w", i, m.Placement[i], err))
					continue
				}
				out.rewritten = append(out.rewritten, i)
			}
			out.err = errors.Join(errs...)
			return out
		}
		// Too few good pieces to regenerate any: write a new revision.
	}
	revised, err := run.revise(ctx, v, m, healthy)
	return piecesOutcome{revised: revised, err: err}
}

// regeneratePiece rebuilds manifest piece i of a version from the good
// pieces in raw, bit for bit as Seal wrote it: every piece carries the same
// ciphertext, and its Shamir share is the value at x = i+1 of the
// polynomial that any k shares fix. Evaluating at x means interpolating at
// 0 after shifting every x by it (x - t is x xor t in GF(2^8)). The piece
// is checked by opening the manifest with it before it is returned.
func regeneratePiece(raw [][]byte, good []int, i int, master []byte, pub ed25519.PublicKey) ([]byte, error) {
	h0, err := manifest.ParsePiece(raw[good[0]])
	if err != nil {
		return nil, err
	}
	k := h0.K
	if len(good) < k || i >= h0.N {
		return nil, fmt.Errorf("store: piece %d: have %d good pieces of %d, need %d", i, len(good), h0.N, k)
	}
	t := byte(i + 1)
	shares := make([]keys.Share, k)
	for j, g := range good[:k] {
		h, err := manifest.ParsePiece(raw[g])
		if err != nil {
			return nil, err
		}
		shares[j] = keys.Share{X: byte(h.Index+1) ^ t, Y: raw[g][pieceShareOffset : pieceShareOffset+keys.KeySize]}
	}
	y, err := keys.Combine(shares)
	if err != nil {
		return nil, fmt.Errorf("store: piece %d: %w", i, err)
	}
	out := bytes.Clone(raw[good[0]])
	out[pieceIndexOffset] = byte(i)
	copy(out[pieceShareOffset:], y)
	check := make([][]byte, h0.N)
	for _, g := range good[:k-1] {
		check[g] = raw[g]
	}
	check[i] = out
	if _, err := manifest.Open(check, master, pub); err != nil {
		return nil, fmt.Errorf("store: regenerated piece %d does not open the manifest: %w", i, err)
	}
	return out, nil
}

// Offsets in a manifest piece (format 1, docs/design.md): the piece index
// byte and the start of the share.
const (
	pieceIndexOffset = 6
	pieceShareOffset = 26
)

// cleanupRecord names, for a manifest revision in progress, every piece of
// the old and the new revision. Once the index holds one of them, the
// pieces of the other are removed.
type cleanupRecord struct {
	Bucket string     `json:"b"`
	Key    string     `json:"k"`
	ID     string     `json:"id"`
	Pieces []pieceLoc `json:"p"`
}

type pieceLoc struct {
	Index   int    `json:"i"`
	Backend string `json:"be"`
}

const cleanupPrefix = "cleanup/"

// revise writes a revision of v's manifest m (same version ID, new shard
// and piece locations): re-signed, sealed under a fresh key into new pieces
// on the other half of the piece indexes, recorded in the index, and then
// the old pieces are removed. At every moment one complete revision is on
// the backends; see docs/design.md, "Manifest revisions".
func (run *repairRun) revise(ctx context.Context, v index.Version, m *manifest.Manifest, healthy int) (bool, error) {
	s := run.s
	first, names := piecePlacement(m)
	np := len(names)
	if np == 0 {
		np = len(s.pb)
	}
	np = min(np, s.cfg.K+s.cfg.M)
	newFirst := 0
	if first == 0 {
		newFirst = np
	}
	if newFirst+np > 256 {
		return false, fmt.Errorf("manifest revision needs k+m <= 128 (have %d pieces)", np)
	}
	// The new pieces' backends: the same where still usable; otherwise the
	// backend of the same shard index when the version's own segment has
	// one, else what the placement rules allow.
	newNames := make([]string, np)
	used := map[string]bool{}
	per := map[string]int{}
	take := func(j int, name string) {
		newNames[j] = name
		used[name] = true
		per[s.pb[s.byName[name]].Region]++
	}
	for j := range np {
		if j < len(names) && run.usable(names[j]) && !used[names[j]] {
			take(j, names[j])
		}
	}
	limit := s.cfg.M
	if s.cfg.Survive == placement.SurviveBackends || limit == 0 {
		limit = np
	}
	var own []string
	for _, seg := range m.Segments {
		if seg.ID == m.ID {
			own = seg.Backends
		}
	}
	rank := placement.Rank(s.pb, []byte(m.ID))
	for j := range np {
		if newNames[j] != "" {
			continue
		}
		if j < len(own) && own[j] != "" && run.usable(own[j]) && !used[own[j]] &&
			per[s.pb[s.byName[own[j]]].Region] < limit {
			take(j, own[j])
			continue
		}
		for _, bi := range rank {
			b := s.pb[bi]
			if !used[b.Name] && per[b.Region] < limit && run.usable(b.Name) {
				take(j, b.Name)
				break
			}
		}
		if newNames[j] == "" {
			return false, fmt.Errorf("manifest piece %d: no configured backend can take it", j)
		}
	}
	rm := *m
	rm.Placement = make([]string, newFirst+np)
	copy(rm.Placement[newFirst:], newNames)
	env, err := manifest.Encode(&rm, s.priv)
	if err != nil {
		return false, err
	}
	pieces, err := manifest.Seal(env, vidBytes(m.ID), s.cfg.K, newFirst+np, s.master)
	if err != nil {
		return false, err
	}
	rec := cleanupRecord{Bucket: v.Bucket, Key: v.Key, ID: v.ID}
	for i, name := range m.Placement {
		if name != "" {
			rec.Pieces = append(rec.Pieces, pieceLoc{i, name})
		}
	}
	for j, name := range newNames {
		rec.Pieces = append(rec.Pieces, pieceLoc{newFirst + j, name})
	}
	recb, _ := json.Marshal(rec)
	if err := s.idx.PutState(ctx, cleanupPrefix+v.ID, recb); err != nil {
		return false, err
	}
	errs := make([]error, np)
	var wg sync.WaitGroup
	for j, name := range newNames {
		i := newFirst + j
		wg.Go(func() {
			bi := s.byName[name]
			errs[j] = s.backends[bi].Put(ctx, pieceName(m.ID, i), bytes.NewReader(pieces[i]), int64(len(pieces[i])))
			if errs[j] != nil {
				errs[j] = fmt.Errorf("manifest piece %d on %s: %w", i, name, errs[j])
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		}
	}
	bg := context.WithoutCancel(ctx)
	if ok < max(s.cfg.WriteQuorum, s.cfg.K) || ctx.Err() != nil {
		s.cleanupRevision(bg, v.ID)
		return false, fmt.Errorf("manifest revision: only %d of %d pieces stored: %w", ok, np, cmpErr(ctx.Err(), errors.Join(errs...)))
	}
	// Not cancellable: an index write whose context ends may still
	// commit, and the clean-up below must know which revision won.
	uctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	err = s.idx.UpdateVersion(uctx, v.Bucket, v.Key, v.ID, func(c *index.Version) error {
		if !bytes.Equal(c.Manifest, v.Manifest) {
			return errStale
		}
		c.Manifest = env
		c.Shards = healthy
		return nil
	})
	if err == nil || errors.Is(err, errStale) {
		s.cleanupRevision(bg, v.ID)
	} // else unknown: the next repair cleans up
	if err != nil {
		return false, fmt.Errorf("manifest revision: %w", err)
	}
	s.log.Info("manifest revised", "bucket", v.Bucket, "key", v.Key, "version", v.ID, "placement", strings.Join(newNames, ","))
	if ok < np {
		// Readable and above quorum; the missing pieces are rewritten in
		// place by the next repair.
		return true, fmt.Errorf("manifest revision: %d of %d pieces stored: %w", ok, np, errors.Join(errs...))
	}
	return true, nil
}

// cleanupRevisions finishes revisions that a crash interrupted.
func (s *Store) cleanupRevisions(ctx context.Context) (int64, error) {
	recs, err := s.idx.States(ctx, cleanupPrefix)
	if err != nil {
		return 0, classify("repair", err)
	}
	var n int64
	for name := range recs {
		n += s.cleanupRevision(ctx, strings.TrimPrefix(name, cleanupPrefix))
	}
	return n, nil
}

// cleanupRevision removes, for a revision of version id, the pieces of
// whichever revision the index does not hold, and then the record. It
// returns how many pieces it removed.
func (s *Store) cleanupRevision(ctx context.Context, id string) int64 {
	b, err := s.idx.State(ctx, cleanupPrefix+id)
	if err != nil {
		return 0
	}
	var rec cleanupRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		s.idx.DeleteState(ctx, cleanupPrefix+id)
		return 0
	}
	keep := map[pieceLoc]bool{}
	v, err := s.idx.Version(ctx, rec.Bucket, rec.Key, rec.ID)
	switch {
	case err == nil:
		m, err := manifest.Decode(v.Manifest, s.pub)
		if err != nil {
			return 0
		}
		for i, name := range m.Placement {
			if name != "" {
				keep[pieceLoc{i, name}] = true
			}
		}
	case errors.Is(err, index.ErrNoSuchVersion), errors.Is(err, index.ErrNoSuchBucket):
		// Removed for good: none of its pieces stays.
	default:
		return 0
	}
	var n int64
	failed := false
	for _, p := range rec.Pieces {
		if keep[p] {
			continue
		}
		bi, ok := s.byName[p.Backend]
		if !ok {
			continue
		}
		if err := s.backends[bi].Delete(ctx, pieceName(rec.ID, p.Index)); err != nil {
			failed = true
			continue
		}
		n++
	}
	if !failed {
		if err := s.idx.DeleteState(ctx, cleanupPrefix+id); err != nil {
			s.log.Warn("revision record not removed", "version", id, "err", err)
		}
	}
	return n
}
