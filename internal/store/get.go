package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/keys"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// ShardProblem names a shard that could not be used during a read.
type ShardProblem struct {
	Segment string
	Index   int
	Backend string
	State   codec.ShardState
	Err     error
}

func (p ShardProblem) String() string {
	return fmt.Sprintf("shard %d on %s: %s", p.Index, orNone(p.Backend), p.State)
}

func orNone(s string) string {
	if s == "" {
		return "(not written)"
	}
	return s
}

// ReadReport tells how a read went.
type ReadReport struct {
	// Degraded is true when some shard was missing, unreachable or corrupt
	// and parity was used.
	Degraded bool
	Problems []ShardProblem
}

// ErrRange is wrapped (with ErrInvalid) when a range starts past the end.
var ErrRange = errors.New("range not satisfiable")

// Read writes bytes [off, off+length) of the version to w (length -1 = to
// the end). Bytes are verified before they are written: a read never
// returns unauthenticated data, and fails instead if more than m shards of
// a block are unusable.
func (s *Store) Read(ctx context.Context, info *ObjectInfo, w io.Writer, off, length int64) (ReadReport, error) {
	m := info.Manifest
	op := "get " + m.Bucket + "/" + m.Key
	var rep ReadReport
	if off < 0 || (off > 0 && off >= m.Size) {
		return rep, &Error{Kind: ErrInvalid, Op: op, Err: ErrRange, Msg: fmt.Sprintf("offset %d is beyond the object's %d bytes", off, m.Size)}
	}
	if length < 0 || off+length > m.Size {
		length = m.Size - off
	}
	if m.Inlined() {
		// Inlined (or empty): the bytes came with the signed manifest.
		if int64(len(m.Data)) != m.Size {
			return rep, &Error{Kind: ErrCorrupt, Op: op, Err: fmt.Errorf("manifest holds %d inline bytes, expected %d", len(m.Data), m.Size)}
		}
		if _, err := w.Write(m.Data[off : off+length]); err != nil {
			return rep, &Error{Kind: ErrUnavailable, Op: op, Err: err}
		}
		return rep, nil
	}
	var segStart int64
	for _, seg := range m.Segments {
		segEnd := segStart + seg.Size
		lo, hi := max(off, segStart), min(off+length, segEnd)
		if lo < hi || (seg.Size == 0 && length == 0 && len(m.Segments) == 1) {
			dec, err := s.decoder(seg)
			if err != nil {
				return rep, &Error{Kind: ErrCorrupt, Op: op, Err: err}
			}
			r, err := dec.WriteRange(ctx, w, lo-segStart, hi-lo)
			s.noteReport(&rep, seg, r)
			if err != nil {
				return rep, readError(op, err)
			}
		}
		segStart = segEnd
	}
	if rep.Degraded {
		s.log.Warn("degraded read", "bucket", m.Bucket, "key", m.Key, "version", m.ID, "problems", len(rep.Problems))
		s.queueRepair(ctx, m, rep)
	}
	return rep, nil
}

func readError(op string, err error) error {
	var se *Error
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: ErrUnavailable, Op: op, Err: err}
	case errors.Is(err, codec.ErrTampered):
		return &Error{Kind: ErrCorrupt, Op: op, Err: err, Msg: "stored data failed authentication"}
	case errors.Is(err, codec.ErrTooFewShards):
		return &Error{Kind: ErrUnavailable, Op: op, Err: err, Msg: "too few healthy shards to read"}
	}
	return &Error{Kind: ErrUnavailable, Op: op, Err: err}
}

func (s *Store) noteReport(rep *ReadReport, seg manifest.Segment, r codec.Report) {
	if r.Degraded {
		rep.Degraded = true
	}
	for i, st := range r.Shards {
		if st == codec.ShardUnavailable || st == codec.ShardCorrupt {
			rep.Degraded = true
			p := ShardProblem{Segment: seg.ID, Index: i, Backend: seg.Backends[i], State: st}
			if i < len(r.Errs) {
				p.Err = r.Errs[i]
			}
			rep.Problems = append(rep.Problems, p)
		}
	}
}

func (s *Store) decoder(seg manifest.Segment) (*codec.Decoder, error) {
	p := codec.Params{K: seg.K, M: seg.M, BlockSize: seg.BlockSize}
	open := func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
		name := seg.Backends[shard]
		j, ok := s.byName[name]
		if !ok {
			if name == "" {
				return nil, fmt.Errorf("shard %d was never written: %w", shard, backend.ErrNotFound)
			}
			return nil, fmt.Errorf("shard %d: backend %q is no longer configured: %w", shard, name, backend.ErrNotFound)
		}
		return s.backends[j].Get(ctx, shardName(seg.ID, shard), off, length)
	}
	return codec.NewDecoder(p, keys.Derive(seg.Key, "block"), vidAAD(seg.ID), seg.Size, open, s.hedgeOption(seg))
}
