package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// Multipart upload errors, each wrapped with a kind.
var (
	// ErrNoSuchUpload (with ErrNotFound): the upload ID is unknown,
	// completed or aborted.
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrInvalidPart (with ErrInvalid): a listed part was not uploaded or
	// its ETag does not match.
	ErrInvalidPart = errors.New("invalid part")
	// ErrInvalidPartOrder (with ErrInvalid): parts are not listed in
	// ascending order.
	ErrInvalidPartOrder = errors.New("parts not in ascending order")
	// ErrEntityTooSmall (with ErrInvalid): a part other than the last is
	// smaller than MinPartSize.
	ErrEntityTooSmall = errors.New("part too small")
)

// Multipart limits, as S3.
const (
	MinPartSize = 5 << 20
	MaxParts    = 10000
)

// Upload is a multipart upload in progress.
type Upload struct {
	ID, Bucket, Key string
	Created         time.Time
	Opts            PutOptions
}

// Part is one uploaded part.
type Part struct {
	Number   int
	ETag     string
	Size     int64
	Modified time.Time
	// Checksums are the part's client checksums (name -> value), as
	// given to PutPart.
	Checksums map[string]string
}

// partData is what the index keeps of a part: its segment and checksums.
// The segment's fields are at the top level, so the records of parts
// stored before checksums were kept read the same.
type partData struct {
	manifest.Segment
	Checksums map[string]string `json:"part_sums,omitempty"`
}

func partOf(p index.Part) Part {
	var d partData
	json.Unmarshal(p.Data, &d)
	return Part{Number: p.Number, ETag: p.ETag, Size: p.Size, Modified: p.Modified, Checksums: d.Checksums}
}

// CompletePart names a part in CompleteUpload.
type CompletePart struct {
	Number int
	ETag   string
}

type uploadMeta struct {
	ContentType string            `json:"ct,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Checksums   map[string]string `json:"sums,omitempty"`
	Identity    string            `json:"who,omitempty"`
	SumAlgo     string            `json:"sum_algo,omitempty"`
	SumType     string            `json:"sum_type,omitempty"`
}

func (um uploadMeta) opts() PutOptions {
	return PutOptions{ContentType: um.ContentType, Meta: um.Meta, Checksums: um.Checksums, Identity: um.Identity,
		ChecksumAlgorithm: um.SumAlgo, ChecksumType: um.SumType}
}

// CreateUpload starts a multipart upload of bucket/key.
func (s *Store) CreateUpload(ctx context.Context, bucket, key string, opts *PutOptions) (*Upload, error) {
	op := "create upload " + bucket + "/" + key
	if err := ValidKey(key); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if _, err := s.idx.Bucket(ctx, bucket); err != nil {
		return nil, classify(op, err)
	}
	if opts == nil {
		opts = &PutOptions{}
	}
	id, t := s.newVersionID()
	meta, _ := json.Marshal(uploadMeta{opts.ContentType, opts.Meta, opts.Checksums, opts.Identity, opts.ChecksumAlgorithm, opts.ChecksumType})
	if err := s.idx.CreateUpload(ctx, index.Upload{ID: id, Bucket: bucket, Key: key, Created: t, Meta: meta}); err != nil {
		return nil, classify(op, err)
	}
	return &Upload{ID: id, Bucket: bucket, Key: key, Created: t, Opts: *opts}, nil
}

func (s *Store) upload(ctx context.Context, op, id string) (index.Upload, error) {
	u, err := s.idx.Upload(ctx, id)
	if errors.Is(err, index.ErrNoSuchUpload) {
		return u, &Error{Kind: ErrNotFound, Op: op, Err: ErrNoSuchUpload,
			Msg: fmt.Sprintf("upload %s does not exist (never created, completed, aborted or expired)", id)}
	}
	return u, classify(op, err)
}

// Upload returns an upload in progress, with the options it was created
// with.
func (s *Store) Upload(ctx context.Context, uploadID string) (*Upload, error) {
	u, err := s.upload(ctx, "upload "+uploadID, uploadID)
	if err != nil {
		return nil, err
	}
	var um uploadMeta
	json.Unmarshal(u.Meta, &um)
	return &Upload{ID: u.ID, Bucket: u.Bucket, Key: u.Key, Created: u.Created, Opts: um.opts()}, nil
}

// UploadBucketKey returns the bucket and key an upload writes to.
func (s *Store) UploadBucketKey(ctx context.Context, uploadID string) (bucket, key string, err error) {
	u, err := s.upload(ctx, "upload "+uploadID, uploadID)
	return u.Bucket, u.Key, err
}

// PutPart stores part number of the upload: it is encrypted, sharded and
// protected as it arrives. Putting the same number again replaces it.
func (s *Store) PutPart(ctx context.Context, uploadID string, number int, r io.Reader, opts *PutOptions) (*Part, error) {
	op := fmt.Sprintf("upload part %d of %s", number, uploadID)
	if number < 1 || number > MaxParts {
		return nil, errorf(ErrInvalid, op, nil, "part number %d; use 1 to %d", number, MaxParts)
	}
	if _, err := s.upload(ctx, op, uploadID); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &PutOptions{}
	}
	size := int64(-1)
	if opts.SizeKnown {
		size = opts.Size
		r = &exactReader{r: r, want: size}
	}
	h := newContentHash()
	plain := io.Writer(h)
	if opts.Plain != nil {
		plain = io.MultiWriter(h, opts.Plain)
	}
	segID, _ := s.newVersionID()
	seg, err := s.writeSegment(ctx, segID, r, size, plain)
	if errors.Is(err, ErrBodySize) {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: err}
	}
	if err != nil {
		return nil, classify(op, err)
	}
	sum := h.Sum(nil)
	// The checksums are read only now: trailer checksums arrive with the
	// end of the body.
	sums := opts.Checksums
	if opts.PartSums != nil {
		sums = maps.Clone(sums)
		if sums == nil {
			sums = map[string]string{}
		}
		maps.Copy(sums, opts.PartSums())
	}
	data, _ := json.Marshal(partData{Segment: seg, Checksums: sums})
	p := index.Part{UploadID: uploadID, Number: number, ETag: hex.EncodeToString(sum[:16]), Size: seg.Size, Modified: s.now().UTC(), Data: data}
	old, err := s.idx.PutPart(ctx, p)
	if err != nil {
		s.deleteSegment(context.WithoutCancel(ctx), seg)
		return nil, classify(op, err)
	}
	if old != nil {
		s.dropPartData(context.WithoutCancel(ctx), *old)
	}
	return &Part{Number: number, ETag: p.ETag, Size: p.Size, Modified: p.Modified, Checksums: sums}, nil
}

// CopyPart stores bytes [off, off+length) of src as part number: they are
// read and re-encoded.
func (s *Store) CopyPart(ctx context.Context, uploadID string, number int, src *ObjectInfo, off, length int64) (*Part, error) {
	return s.CopyPartWith(ctx, uploadID, number, src, off, length, nil)
}

// CopyPartWith is CopyPart with options: Plain and PartSums are used as
// PutPart uses them (to checksum the copied bytes); the size is the
// range's.
func (s *Store) CopyPartWith(ctx context.Context, uploadID string, number int, src *ObjectInfo, off, length int64, opts *PutOptions) (*Part, error) {
	op := fmt.Sprintf("copy part %d of %s", number, uploadID)
	if src == nil || src.DeleteMarker {
		return nil, errorf(ErrInvalid, op, nil, "the source is a delete marker")
	}
	if length < 0 {
		length = src.Size - off
	}
	if off < 0 || off+length > src.Size {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: ErrRange, Msg: fmt.Sprintf("range %d+%d outside the source's %d bytes", off, length, src.Size)}
	}
	pr, pw := io.Pipe()
	go func() {
		var err error
		if length > 0 {
			_, err = s.Read(ctx, src, pw, off, length)
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	po := &PutOptions{}
	if opts != nil {
		po.Plain, po.PartSums = opts.Plain, opts.PartSums
	}
	po.Size, po.SizeKnown = length, true
	return s.PutPart(ctx, uploadID, number, pr, po)
}

// ListParts returns the upload's parts with numbers above marker.
func (s *Store) ListParts(ctx context.Context, uploadID string, marker, limit int) ([]Part, bool, error) {
	op := "list parts of " + uploadID
	if _, err := s.upload(ctx, op, uploadID); err != nil {
		return nil, false, err
	}
	ps, err := s.idx.Parts(ctx, uploadID)
	if err != nil {
		return nil, false, classify(op, err)
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []Part
	for _, p := range ps {
		if p.Number <= marker {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, partOf(p))
	}
	return out, false, nil
}

// CompleteOptions tune CompleteUploadWith. A nil *CompleteOptions is fine.
type CompleteOptions struct {
	// Identity names the writer.
	Identity string
	// If, when not nil, makes the completion conditional (see Condition).
	// When it fails, the upload stays as it was: it can be completed
	// again or aborted.
	If *Condition
	// Checksum, when not nil, is called with the listed parts, in order,
	// as stored (with their checksums); what it returns becomes the
	// object's checksums. An error from it refuses the completion and is
	// returned as it is; the upload stays as it was.
	Checksum func(parts []Part) (map[string]string, error)
}

// CompleteUpload joins the listed parts into a new version of the upload's
// key. It writes only a manifest: the parts' shards become the version's
// segments. Parts not listed are discarded.
func (s *Store) CompleteUpload(ctx context.Context, uploadID string, parts []CompletePart, identity string) (*ObjectInfo, error) {
	return s.CompleteUploadWith(ctx, uploadID, parts, &CompleteOptions{Identity: identity})
}

// CompleteUploadWith is CompleteUpload with options.
func (s *Store) CompleteUploadWith(ctx context.Context, uploadID string, parts []CompletePart, opts *CompleteOptions) (*ObjectInfo, error) {
	op := "complete upload " + uploadID
	if opts == nil {
		opts = &CompleteOptions{}
	}
	identity := opts.Identity
	u, err := s.upload(ctx, op, uploadID)
	if err != nil {
		return nil, err
	}
	if err := s.precheck(ctx, op, u.Bucket, u.Key, opts.If); err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, &Error{Kind: ErrInvalid, Op: op, Err: ErrInvalidPart, Msg: "the request lists no parts"}
	}
	stored, err := s.idx.Parts(ctx, uploadID)
	if err != nil {
		return nil, classify(op, err)
	}
	byNum := map[int]index.Part{}
	for _, p := range stored {
		byNum[p.Number] = p
	}
	var um uploadMeta
	json.Unmarshal(u.Meta, &um)
	m := &manifest.Manifest{Kind: manifest.KindObject, Bucket: u.Bucket, Key: u.Key,
		ContentType: um.ContentType, Meta: um.Meta, Checksums: um.Checksums, Identity: identity}
	etags := newContentHash()
	used := map[int]bool{}
	var listed []Part
	for i, cp := range parts {
		if i > 0 && cp.Number <= parts[i-1].Number {
			return nil, &Error{Kind: ErrInvalid, Op: op, Err: ErrInvalidPartOrder,
				Msg: fmt.Sprintf("part %d listed after part %d; list parts in ascending order", cp.Number, parts[i-1].Number)}
		}
		p, ok := byNum[cp.Number]
		if !ok || trimQuotes(cp.ETag) != p.ETag {
			return nil, &Error{Kind: ErrInvalid, Op: op, Err: ErrInvalidPart,
				Msg: fmt.Sprintf("part %d was not uploaded or its ETag %s does not match", cp.Number, cp.ETag)}
		}
		if i < len(parts)-1 && p.Size < MinPartSize {
			return nil, &Error{Kind: ErrInvalid, Op: op, Err: ErrEntityTooSmall,
				Msg: fmt.Sprintf("part %d is %d bytes; every part but the last must be at least %d", cp.Number, p.Size, MinPartSize)}
		}
		var seg manifest.Segment
		if err := json.Unmarshal(p.Data, &seg); err != nil {
			return nil, &Error{Kind: ErrCorrupt, Op: op, Err: err}
		}
		raw, _ := hex.DecodeString(p.ETag)
		etags.Write(raw)
		m.Segments = append(m.Segments, seg)
		m.Size += seg.Size
		used[cp.Number] = true
		listed = append(listed, partOf(p))
	}
	if opts.Checksum != nil {
		sums, err := opts.Checksum(listed)
		if err != nil {
			return nil, err
		}
		if sums != nil {
			m.Checksums = sums
		}
	}
	sum := etags.Sum(nil)
	m.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(sum[:16]), len(parts))
	m.ID, m.Time = s.newVersionID()
	info, err := s.commitIf(ctx, m, opts.If)
	if err != nil {
		return nil, classify(op, commitConflict(op, err))
	}
	for _, p := range stored {
		if !used[p.Number] {
			s.dropPartData(context.WithoutCancel(ctx), p)
		}
	}
	if err := s.idx.DeleteUpload(ctx, uploadID); err != nil {
		s.log.Warn("upload record not removed", "upload", uploadID, "err", err)
	}
	return info, nil
}

// AbortUpload discards the upload and every part's shards.
func (s *Store) AbortUpload(ctx context.Context, uploadID string) error {
	op := "abort upload " + uploadID
	if _, err := s.upload(ctx, op, uploadID); err != nil {
		return err
	}
	ps, err := s.idx.Parts(ctx, uploadID)
	if err != nil {
		return classify(op, err)
	}
	if err := s.idx.DeleteUpload(ctx, uploadID); err != nil {
		return classify(op, err)
	}
	for _, p := range ps {
		s.dropPartData(ctx, p)
	}
	return nil
}

// ListUploads lists uploads in progress, by key then ID.
func (s *Store) ListUploads(ctx context.Context, bucket, prefix, keyMarker, uploadIDMarker string, limit int) ([]Upload, bool, error) {
	op := "list uploads " + bucket
	us, trunc, err := s.idx.Uploads(ctx, bucket, prefix, keyMarker, uploadIDMarker, limit)
	if err != nil {
		return nil, false, classify(op, err)
	}
	out := make([]Upload, len(us))
	for i, u := range us {
		var um uploadMeta
		json.Unmarshal(u.Meta, &um)
		out[i] = Upload{ID: u.ID, Bucket: u.Bucket, Key: u.Key, Created: u.Created, Opts: um.opts()}
	}
	return out, trunc, nil
}

// CleanUploads aborts uploads started more than olderThan ago.
func (s *Store) CleanUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := s.now().Add(-olderThan)
	bs, err := s.idx.Buckets(ctx)
	if err != nil {
		return 0, classify("clean uploads", err)
	}
	n := 0
	for _, b := range bs {
		km, im := "", ""
		for {
			us, trunc, err := s.idx.Uploads(ctx, b.Name, "", km, im, 1000)
			if err != nil {
				return n, classify("clean uploads", err)
			}
			for _, u := range us {
				if u.Created.Before(cutoff) {
					if err := s.AbortUpload(ctx, u.ID); err != nil && !errors.Is(err, ErrNotFound) {
						return n, err
					}
					n++
				}
			}
			if !trunc || len(us) == 0 {
				break
			}
			km, im = us[len(us)-1].Key, us[len(us)-1].ID
		}
	}
	return n, nil
}

func (s *Store) dropPartData(ctx context.Context, p index.Part) {
	var seg manifest.Segment
	if json.Unmarshal(p.Data, &seg) == nil {
		s.deleteSegment(ctx, seg)
	}
}

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
