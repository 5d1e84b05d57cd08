// Package manifest defines version manifests: what one immutable version of
// one key is (its name, size, hashes and the segments of shards that hold its
// bytes), their signed, versioned binary envelope, and the per-backend
// manifest pieces that disperse an encrypted manifest together with one
// secret share of the key that opens it.
//
// A manifest is the unit of truth: the index is a cache of manifests, and
// rebuilding the index means collecting pieces from backends, combining k of
// them, opening and verifying each manifest.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kinds of manifest.
const (
	KindObject     = "object"     // a version of a key (or a delete marker)
	KindBucket     = "bucket"     // creation or deletion of a bucket
	KindCheckpoint = "checkpoint" // a named, hashed state of a prefix
	KindReview     = "review"     // a decision on a quarantined version
)

// Format is the manifest payload format written by this package.
const Format = 1

// Manifest describes one version.
type Manifest struct {
	Format       int               `json:"f"`
	Kind         string            `json:"kind"`
	ID           string            `json:"id"` // version ID, 32 hex chars
	Bucket       string            `json:"b"`
	Key          string            `json:"k,omitempty"`
	Time         time.Time         `json:"t"`
	DeleteMarker bool              `json:"dm,omitempty"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag,omitempty"`
	ContentHash  string            `json:"sum,omitempty"` // hex HighwayHash-256 of the plaintext (see store.ContentHash)
	ContentType  string            `json:"ct,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"` // user metadata and standard headers
	Checksums    map[string]string `json:"sums,omitempty"` // client checksums, e.g. "CRC32C" -> base64
	Segments     []Segment         `json:"seg,omitempty"`  // the bytes, in order
	// Data holds a small object's bytes inline, instead of segments: the
	// manifest is only ever stored encrypted, in every piece, so the bytes
	// are as confidential as shards and as available as the manifest.
	Data         []byte          `json:"data,omitempty"`
	Prev         string          `json:"prev,omitempty"`   // hex SHA-256 of the previous version's envelope of this key
	Identity     string          `json:"who,omitempty"`    // who wrote it (access key or "cli")
	Extra        json.RawMessage `json:"x,omitempty"`      // reserved for later features (profiles)
	Placement    []string        `json:"place,omitempty"`  // backends holding manifest piece i
	BucketDelete bool            `json:"bdel,omitempty"`   // KindBucket: the bucket was deleted
	Checkpoint   *Checkpoint     `json:"cp,omitempty"`     // KindCheckpoint
	Review       *Review         `json:"review,omitempty"` // KindReview
	// Quarantine is set when the guard held the version back at write
	// time: readers keep the previous version until a review approves it.
	Quarantine bool `json:"quar,omitempty"`
}

// Segment is a run of the object's bytes stored as one erasure-coded,
// sealed stream: its own shards on its own backends, under its own key.
// A plain put has one segment whose ID is the version ID; copies and
// rollbacks reference the segments of older versions; multipart uploads
// have one segment per part.
type Segment struct {
	ID        string   `json:"id"` // names the shard files
	Size      int64    `json:"size"`
	K         int      `json:"k"`
	M         int      `json:"m"`
	BlockSize int      `json:"bs"`
	Key       []byte   `json:"key"`   // data key (the manifest itself is only stored encrypted)
	Backends  []string `json:"be"`    // backend of shard i; "" = shard not written
	Roots     [][]byte `json:"roots"` // shard i root hash (codec), nil when not written
}

// Checkpoint records the state of a prefix at one instant: every key's
// current version and the hash of its manifest, and one root hash over them.
type Checkpoint struct {
	Name    string            `json:"name"`
	Prefix  string            `json:"prefix,omitempty"`
	At      time.Time         `json:"at"`
	Root    string            `json:"root"` // hex SHA-256, see store.CheckpointRoot
	Entries []CheckpointEntry `json:"entries"`
}

// Review is a decision on a quarantined version.
type Review struct {
	VersionID string `json:"v"`
	Decision  string `json:"decision"` // approved or rejected
}

// CheckpointEntry is one key of a checkpoint.
type CheckpointEntry struct {
	Key          string `json:"k"`
	VersionID    string `json:"v"`
	ManifestHash string `json:"h"`
}

// Inlined reports whether m is an object version whose bytes (none, for
// an empty object) are in Data rather than in segments: its pieces are
// its only copies.
func (m *Manifest) Inlined() bool {
	return m.Kind == KindObject && !m.DeleteMarker && len(m.Segments) == 0
}

// Written returns how many of the segment's shards were stored.
func (s Segment) Written() int {
	n := 0
	for _, b := range s.Backends {
		if b != "" {
			n++
		}
	}
	return n
}

// Envelope layout: "RZM1" | u32 payload length | payload (JSON) | ed25519 signature (64).
var magic = []byte("RZM1")

const maxPayload = 64 << 20

// Errors returned by Decode.
var (
	// ErrMalformed is returned for bytes that are not a manifest envelope.
	ErrMalformed = errors.New("manifest: malformed")
	// ErrSignature is returned when the signature does not verify: the
	// manifest was modified or signed by another store.
	ErrSignature = errors.New("manifest: bad signature (tampered or from another store)")
)

// Encode serializes and signs m.
func Encode(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if m.Format == 0 {
		m.Format = Format
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	out := make([]byte, 0, 8+len(payload)+ed25519.SignatureSize)
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(payload)))
	out = append(out, payload...)
	out = append(out, ed25519.Sign(key, out)...)
	return out, nil
}

// Decode checks the envelope and signature and parses the manifest.
func Decode(b []byte, pub ed25519.PublicKey) (*Manifest, error) {
	if len(b) < 8+ed25519.SignatureSize || !bytes.Equal(b[:4], magic) {
		return nil, fmt.Errorf("%w: bad magic or too short (%d bytes)", ErrMalformed, len(b))
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if n > maxPayload || int(n) != len(b)-8-ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: payload length %d does not match envelope of %d bytes", ErrMalformed, n, len(b))
	}
	body := b[:8+n]
	if !ed25519.Verify(pub, body, b[8+n:]) {
		return nil, ErrSignature
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b[8 : 8+n]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Hash is the chain hash of an encoded envelope (hex SHA-256).
func Hash(envelope []byte) string {
	h := sha256.Sum256(envelope)
	return hex.EncodeToString(h[:])
}

func (m *Manifest) validate() error {
	if m.Format != Format {
		return fmt.Errorf("%w: format %d not supported (this build reads %d)", ErrMalformed, m.Format, Format)
	}
	if len(m.ID) != 32 {
		return fmt.Errorf("%w: version ID %q", ErrMalformed, m.ID)
	}
	if _, err := hex.DecodeString(m.ID); err != nil {
		return fmt.Errorf("%w: version ID %q", ErrMalformed, m.ID)
	}
	switch m.Kind {
	case KindObject, KindBucket:
	case KindReview:
		if m.Review == nil || len(m.Review.VersionID) != 32 {
			return fmt.Errorf("%w: review without a version", ErrMalformed)
		}
	case KindCheckpoint:
		if m.Checkpoint == nil || m.Checkpoint.Name == "" {
			return fmt.Errorf("%w: checkpoint without a name", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrMalformed, m.Kind)
	}
	var total int64
	for i, s := range m.Segments {
		n := s.K + s.M
		if s.K < 1 || s.M < 0 || n > 256 || s.Size < 0 || s.BlockSize <= 0 ||
			len(s.Backends) != n || len(s.Roots) != n || len(s.Key) != 32 || len(s.ID) != 32 {
			return fmt.Errorf("%w: segment %d inconsistent", ErrMalformed, i)
		}
		total += s.Size
	}
	if len(m.Data) > 0 {
		if len(m.Segments) > 0 || m.Kind != KindObject || m.DeleteMarker {
			return fmt.Errorf("%w: inline data next to segments or outside an object", ErrMalformed)
		}
		total = int64(len(m.Data))
	}
	if m.Kind == KindObject && !m.DeleteMarker && total != m.Size {
		return fmt.Errorf("%w: segments hold %d bytes, manifest says %d", ErrMalformed, total, m.Size)
	}
	return nil
}
