package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/minio/highwayhash"

	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/keys"
	"github.com/rhizome-data/rhizome/internal/manifest"
	"github.com/rhizome-data/rhizome/internal/placement"
)

// PutOptions describe the object being written. A nil *PutOptions is fine.
type PutOptions struct {
	// Size is the exact length of the body, or -1 (the default when 0 is
	// not meant: use SizeKnown) when unknown.
	Size      int64
	SizeKnown bool
	// ContentType and Meta are stored in the (encrypted) manifest.
	ContentType string
	Meta        map[string]string
	// Checksums are client-supplied checksums to keep (name -> value).
	Checksums map[string]string
	// Identity names the writer (an access key, or "cli").
	Identity string
	// Plain, when set, also receives every plaintext byte as it streams
	// (for profiling and client checksums). An error from it aborts the put.
	Plain io.Writer
	// SkipGuard writes without profiling or checks (rollbacks restoring
	// known-good versions).
	SkipGuard bool
	// If, when not nil, makes the write conditional (see Condition).
	If *Condition
	// ChecksumAlgorithm and ChecksumType are kept with a multipart upload
	// (CreateUpload) for the front end that computes the object's
	// checksum from its parts' (see CompleteOptions.Checksum); the store
	// does not interpret them.
	ChecksumAlgorithm, ChecksumType string
	// PartSums, when not nil, is called by PutPart and CopyPart once the
	// whole body has streamed through Plain, and what it returns is kept
	// with the part's Checksums: checksums the front end computes itself.
	PartSums func() map[string]string
}

// ObjectInfo describes a stored version.
type ObjectInfo struct {
	index.Version
	Manifest *manifest.Manifest
	// Protected is false when fewer than k+m shards of some segment were
	// written: readable, but repair should add the missing shards.
	Protected bool
}

// Put stores r as a new version of bucket/key. The version becomes visible
// only when every written shard and a write quorum of manifest pieces are
// stored; on any error nothing becomes visible.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, opts *PutOptions) (*ObjectInfo, error) {
	op := "put " + bucket + "/" + key
	if opts == nil {
		opts = &PutOptions{}
	}
	if err := ValidKey(key); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if _, err := s.idx.Bucket(ctx, bucket); err != nil {
		return nil, classify(op, err)
	}
	if err := s.precheck(ctx, op, bucket, key, opts.If); err != nil {
		return nil, err
	}
	vid, t := s.newVersionID()
	size := int64(-1)
	if opts.SizeKnown {
		size = opts.Size
		r = &exactReader{r: r, want: size}
	}
	h := newContentHash()
	ws := []io.Writer{h}
	if opts.Plain != nil {
		ws = append(ws, opts.Plain)
	}
	gw := s.guardStart(ctx, bucket, key, opts.Identity, !opts.SkipGuard, size)
	if opts.SkipGuard {
		gw = nil
	}
	if gw != nil {
		ws = append(ws, gw.profiler)
	}
	plain := io.MultiWriter(ws...)
	var (
		data   []byte
		inline bool
		seg    manifest.Segment
		err    error
	)
	if lim := s.cfg.InlineLimit(); lim > 0 && size <= lim {
		// Small (or of unknown size, until shown otherwise): keep it in
		// the manifest if it ends within the limit.
		data, inline, err = readInline(r, lim)
		if err == nil && inline {
			_, err = plain.Write(data)
		} else if err == nil {
			r = io.MultiReader(bytes.NewReader(data), r)
		}
	}
	if err == nil && !inline {
		seg, err = s.writeSegment(ctx, vid, r, size, plain)
	}
	if errors.Is(err, ErrBodySize) {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if err != nil {
		return nil, classify(op, err)
	}
	sum := h.Sum(nil)
	m := &manifest.Manifest{
		Kind: manifest.KindObject, ID: vid, Bucket: bucket, Key: key, Time: t,
		Size: seg.Size, ETag: hex.EncodeToString(sum[:16]), ContentHash: hex.EncodeToString(sum),
		ContentType: opts.ContentType, Meta: opts.Meta, Checksums: opts.Checksums,
		Segments: []manifest.Segment{seg}, Identity: opts.Identity,
	}
	if inline {
		m.Size, m.Data, m.Segments = int64(len(data)), data, nil
	}
	rec, err := s.judge(ctx, gw, false)
	if err != nil {
		s.deleteSegment(context.WithoutCancel(ctx), seg)
		return nil, err
	}
	m.Extra, m.Quarantine = rec.extra(), rec.quarantine()
	info, err := s.commitIf(ctx, m, opts.If)
	if err != nil {
		s.deleteSegment(context.WithoutCancel(ctx), seg)
		return nil, classify(op, commitConflict(op, err))
	}
	s.afterCommit(ctx, gw, rec, info)
	return info, nil
}

// writeSegment encodes r into shards of a new segment named id and writes
// them to the backends placement picks. It returns once every shard that
// could be written is durable, or fails if fewer than the write quorum were.
func (s *Store) writeSegment(ctx context.Context, id string, r io.Reader, size int64, plain io.Writer) (manifest.Segment, error) {
	n := s.params.N()
	picks := placement.Pick(s.pb, s.cfg.K, s.cfg.M, s.cfg.Survive, []byte(id), nil)
	dataKey, err := keys.NewDataKey()
	if err != nil {
		return manifest.Segment{}, err
	}
	seg := manifest.Segment{
		ID: id, K: s.cfg.K, M: s.cfg.M, BlockSize: s.params.BlockSize, Key: dataKey,
		Backends: make([]string, n), Roots: make([][]byte, n),
	}
	shardSize := int64(-1)
	if size >= 0 {
		shardSize = s.params.ShardFileSize(size)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writers := make([]io.Writer, n)
	pipes := make([]*handoffWriter, n)
	putErrs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i >= len(picks) {
			putErrs[i] = fmt.Errorf("no backend available for shard %d", i)
			continue
		}
		pr, pw := newHandoff()
		pipes[i], writers[i] = pw, pw
		b, name := s.backends[picks[i]], shardName(id, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.Put(ctx, name, pr, shardSize)
			if err != nil {
				err = fmt.Errorf("shard %d on %s: %w", i, s.pb[picks[i]].Name, err)
			}
			putErrs[i] = err
			// Unblock the encoder if Put gave up early, telling it why.
			pr.CloseWithError(cmp.Or(err, errShardFailed))
		}()
	}
	res, encErr := codec.Encode(ctx, s.params, keys.Derive(dataKey, "block"), vidAAD(id), vidBytes(id), r, writers,
		&codec.EncodeOptions{MinShards: s.cfg.WriteQuorum, Plain: plain})
	for i, pw := range pipes {
		if pw == nil {
			continue
		}
		if encErr != nil || (res.ShardErrs != nil && res.ShardErrs[i] != nil) {
			pw.CloseWithError(errAbandoned)
		} else {
			pw.Close()
		}
	}
	wg.Wait()
	if encErr != nil {
		s.deleteShards(context.WithoutCancel(ctx), seg.ID, picks, putErrs)
		if errors.Is(encErr, codec.ErrTooFewShards) {
			var causes []error
			for _, e := range putErrs {
				if e != nil && !errors.Is(e, errAbandoned) {
					causes = append(causes, e)
				}
			}
			return seg, errorf(ErrUnavailable, "", errors.Join(causes...),
				"%d of %d backends failed; a write needs write_quorum=%d (no version was created)", len(causes), n, s.cfg.WriteQuorum)
		}
		return seg, encErr
	}
	seg.Size = res.Size
	ok := 0
	var failures []error
	for i := 0; i < n; i++ {
		if i < len(picks) && putErrs[i] == nil && res.ShardErrs[i] == nil {
			seg.Backends[i] = s.pb[picks[i]].Name
			seg.Roots[i] = res.Roots[i][:]
			ok++
			continue
		}
		e := putErrs[i]
		if e == nil {
			e = res.ShardErrs[i]
		}
		failures = append(failures, e)
	}
	if ok < s.cfg.WriteQuorum {
		s.deleteShards(context.WithoutCancel(ctx), seg.ID, picks, putErrs)
		return seg, errorf(ErrUnavailable, "", errors.Join(failures...),
			"only %d of %d shards stored; need write_quorum=%d (no version was created)", ok, n, s.cfg.WriteQuorum)
	}
	if ok < n {
		s.log.Warn("write under-protected", "segment", id, "shards_written", ok, "shards", n, "err", errors.Join(failures...))
	}
	return seg, nil
}

// readInline reads r if it ends within limit bytes (whole is true), or its
// first limit+1 bytes otherwise.
func readInline(r io.Reader, limit int64) (data []byte, whole bool, err error) {
	buf := make([]byte, limit+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if n == 0 {
			return nil, true, nil
		}
		return buf[:n:n], true, nil
	case err != nil:
		return nil, false, err
	}
	return buf, false, nil
}

var (
	errShardFailed = errors.New("shard write failed")
	errAbandoned   = errors.New("write abandoned: too few other shards succeeded")
)

func vidAAD(id string) []byte { b := vidBytes(id); return b[:] }

func (s *Store) deleteShards(ctx context.Context, id string, picks []int, putErrs []error) {
	for i, p := range picks {
		if putErrs[i] == nil {
			_ = s.backends[p].Delete(ctx, shardName(id, i))
		}
	}
}

func (s *Store) deleteSegment(ctx context.Context, seg manifest.Segment) {
	for i, b := range seg.Backends {
		if j, ok := s.byName[b]; ok {
			_ = s.backends[j].Delete(ctx, shardName(seg.ID, i))
		}
	}
}

// commit chains, signs and disperses the manifest, then records it in the
// index. It is the moment a version becomes visible.
func (s *Store) commit(ctx context.Context, m *manifest.Manifest) (*ObjectInfo, error) {
	return s.commitIf(ctx, m, nil)
}

// commitIf is commit, recording the version only if cond holds in the
// index transaction that records it; when it does not, the manifest
// pieces are removed and the error is an *errCommitCondition.
func (s *Store) commitIf(ctx context.Context, m *manifest.Manifest, cond *Condition) (*ObjectInfo, error) {
	if m.Kind == manifest.KindObject {
		// Writers of one key in this process commit one at a time, so
		// they link without retries; other processes are caught by the
		// check in the index transaction.
		defer s.commits.lock(m.Bucket + "\x00" + m.Key)()
	}
	for attempt := 1; ; attempt++ {
		// The chain link: the key's current version as this commit sees
		// it. The index transaction below checks it is still current, so
		// concurrent writers of one key chain one after the other.
		prevID := ""
		m.Prev = ""
		if m.Kind == manifest.KindObject {
			if prev, err := s.idx.Latest(ctx, m.Bucket, m.Key, timeZero); err == nil {
				m.Prev, prevID = manifest.Hash(prev.Manifest), prev.ID
			}
		}
		if prevID > m.ID {
			// A write of the key that began after this one committed
			// first: this version comes after it, in ID (time) order as
			// in the chain, and is the current one, as in S3 (the last
			// write to finish wins). Its segment keeps the ID it was
			// written under.
			m.ID, m.Time = s.newVersionIDAfter(prevID)
		}
		picks := placement.Pick(s.pb, s.cfg.K, s.cfg.M, s.cfg.Survive, []byte(m.ID), nil)
		m.Placement = make([]string, len(picks))
		for i, p := range picks {
			m.Placement[i] = s.pb[p].Name
		}
		env, err := manifest.Encode(m, s.priv)
		if err != nil {
			return nil, err
		}
		stored, err := s.writePieces(ctx, m.ID, env, picks)
		if err != nil {
			return nil, err
		}
		v := versionOf(m, env)
		if m.Inlined() {
			// An inlined object is as protected as its pieces.
			v.Shards = stored
		}
		if m.Kind == manifest.KindObject {
			err = s.idx.PutVersionIf(ctx, v, func(cur *index.Version) error {
				if err := cond.check(cur); err != nil {
					return &errCommitCondition{err}
				}
				if curID := idOf(cur); curID != prevID && attempt < maxChainAttempts {
					return errChainMoved
				}
				return nil
			})
			if err != nil {
				s.deletePieces(context.WithoutCancel(ctx), m.ID, picks)
				if errors.Is(err, errChainMoved) {
					continue
				}
				return nil, err
			}
		}
		// A missing piece costs an inlined object one of its copies, and
		// any version one share of its key: repair adds it back.
		info := &ObjectInfo{Version: v, Manifest: m, Protected: s.protected(m) && stored == len(picks)}
		s.queueUnderProtected(ctx, info)
		return info, nil
	}
}

// maxChainAttempts bounds how often a commit re-links its manifest when
// other writes of the same key keep committing first; the last attempt
// commits whatever it linked to.
const maxChainAttempts = 8

// errChainMoved: another version of the key committed between reading
// the chain link and recording this version.
var errChainMoved = errors.New("the key's current version changed during the commit")

func idOf(v *index.Version) string {
	if v == nil {
		return ""
	}
	return v.ID
}

// writePieces stores the version's manifest pieces and returns how many
// were stored, failing below the write quorum.
func (s *Store) writePieces(ctx context.Context, vid string, env []byte, picks []int) (int, error) {
	pieces, err := manifest.Seal(env, vidBytes(vid), s.cfg.K, len(picks), s.master)
	if err != nil {
		return 0, err
	}
	errs := make([]error, len(picks))
	var wg sync.WaitGroup
	for i, p := range picks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.backends[p].Put(ctx, pieceName(vid, i), bytesReader(pieces[i]), int64(len(pieces[i])))
		}()
	}
	wg.Wait()
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		}
	}
	quorum := min(s.cfg.WriteQuorum, len(picks))
	if ok < quorum || ok < s.cfg.K {
		s.deletePieces(context.WithoutCancel(ctx), vid, picks)
		return ok, errorf(ErrUnavailable, "", errors.Join(errs...),
			"only %d of %d manifest pieces stored; need write_quorum=%d (no version was created)", ok, len(picks), quorum)
	}
	if ok < len(picks) {
		s.log.Warn("manifest pieces missing", "version", vid, "stored", ok, "pieces", len(picks), "err", errors.Join(errs...))
	}
	return ok, nil
}

func (s *Store) deletePieces(ctx context.Context, vid string, picks []int) {
	for i, p := range picks {
		_ = s.backends[p].Delete(ctx, pieceName(vid, i))
	}
}

func versionOf(m *manifest.Manifest, env []byte) index.Version {
	shards := 0
	for i, seg := range m.Segments {
		if w := seg.Written(); i == 0 || w < shards {
			shards = w
		}
	}
	if len(m.Segments) == 0 {
		shards = len(m.Placement)
	}
	return index.Version{
		Bucket: m.Bucket, Key: m.Key, ID: m.ID, Time: m.Time, Size: m.Size, ETag: m.ETag,
		DeleteMarker: m.DeleteMarker, Shards: shards, Manifest: env, Quarantined: m.Quarantine,
	}
}

// protected reports whether every segment has all k+m shards.
func (s *Store) protected(m *manifest.Manifest) bool {
	for _, seg := range m.Segments {
		if seg.Written() < seg.K+seg.M {
			return false
		}
	}
	return true
}

func manifestHash(env []byte) string { return manifest.Hash(env) }

// ErrBodySize is wrapped (with ErrInvalid) when a body is shorter or longer
// than the size announced for it.
var ErrBodySize = errors.New("body size differs from the announced size")

// exactReader fails a body that ends before, or runs past, its announced
// size, so a truncated upload never becomes a version.
type exactReader struct {
	r         io.Reader
	want, got int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.got == e.want {
		var one [1]byte
		n, err := e.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrBodySize, e.want)
		}
		return 0, err
	}
	if int64(len(p)) > e.want-e.got {
		p = p[:e.want-e.got]
	}
	n, err := e.r.Read(p)
	e.got += int64(n)
	if err == io.EOF && e.got < e.want {
		return n, fmt.Errorf("%w: ended after %d of %d bytes", ErrBodySize, e.got, e.want)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// contentHashKey keys the content hash. It is public: the hash is a fast
// fingerprint of the plaintext (for ETags and change detection), not a
// secret. Integrity against an adversary comes from the per-block AEAD
// under the data key, which the signed manifest fixes.
var contentHashKey = []byte("rhizome/v1/content-hash/00000000")

// newContentHash returns the plaintext fingerprint: HighwayHash-256 runs at
// about 10 GB/s here, five times BLAKE3 and ten times SHA-256, so it keeps
// the write path bound by I/O.
func newContentHash() hash.Hash {
	h, err := highwayhash.New(contentHashKey)
	if err != nil {
		panic("store: content hash: " + err.Error())
	}
	return h
}
