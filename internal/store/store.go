// Package store is the one type users of Rhizome's library hold: it puts,
// reads, lists, versions and deletes objects, turning each write into an
// encrypted, erasure-coded set of shards spread over independent backends
// plus a signed manifest dispersed with the shares of its key.
//
// The store validates names, classifies errors into a small closed set of
// kinds (see Kind), logs and counts once, so drivers and pure packages stay
// small.
package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/codec"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/keys"
	"github.com/rhizome-data/rhizome/internal/placement"
)

// Kinds of error the store returns. Every error from the store wraps
// exactly one of them, so front ends (CLI exit codes, S3 error codes) map
// errors in one place.
var (
	// ErrNotFound: no such bucket, key or version.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request itself is wrong (bad name, bad range, bad
	// config value).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request conflicts with the state (bucket exists,
	// bucket not empty).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: too few backends answered to read or write safely.
	ErrUnavailable = errors.New("unavailable")
	// ErrCorrupt: stored data failed verification (tampered or damaged
	// beyond what parity can rebuild).
	ErrCorrupt = errors.New("corrupt")
	// ErrForbidden: retention or policy forbids the operation.
	ErrForbidden = errors.New("forbidden")
)

// Error is the store's error: a kind, what was being done, and the cause.
type Error struct {
	Kind error  // one of ErrNotFound ... ErrForbidden
	Op   string // e.g. "get lake/a.csv"
	Err  error  // cause, may be nil
	Msg  string // human explanation, may be empty
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("store: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	switch {
	case e.Msg != "":
		b.WriteString(e.Msg)
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Kind.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func errorf(kind error, op string, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Op: op, Err: cause, Msg: fmt.Sprintf(format, args...)}
}

// Options tune Open. A nil *Options means defaults.
type Options struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Wrap, when set, wraps each backend after it is opened (tests use it
	// for fault injection; the server for metrics).
	Wrap func(name string, b backend.Backend) backend.Backend
	// Index overrides the index the config names.
	Index index.Index
	// OnAlert, when set, is called for every write the guard flags
	// (the server counts them in /metrics).
	OnAlert func(Alert)
}

// Store is a Rhizome object store.
type Store struct {
	cfg      *config.Config
	backends []backend.Backend
	pb       []placement.Backend
	byName   map[string]int
	idx      index.Index
	priv     ed25519.PrivateKey
	pub      ed25519.PublicKey
	master   []byte
	params   codec.Params
	log      *slog.Logger
	now      func() time.Time
	warnings []string

	guard   *guardState
	onAlert func(Alert)

	vidMu   sync.Mutex
	lastVID [8]byte
	commits keyLocks // one commit of a key at a time in this process

	maint maintState // repair queueing (repair.go)
}

// Config returns the store's configuration.
func (s *Store) Config() *config.Config { return s.cfg }

// Index returns the store's index.
func (s *Store) Index() index.Index { return s.idx }

// Warnings returns what the config check warned about at open.
func (s *Store) Warnings() []string { return s.warnings }

// Backends returns the placement view of the configured backends.
func (s *Store) Backends() []placement.Backend { return s.pb }

// Backend returns the opened backend with the given name.
func (s *Store) Backend(name string) (backend.Backend, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return s.backends[i], true
}

// Close releases the index.
// Close waits briefly for pending guard webhooks, then closes the index.
func (s *Store) Close() error {
	s.drainWebhooks(webhookDrain)
	return s.idx.Close()
}

// New assembles a store from already opened parts. Most callers use Open.
func New(cfg *config.Config, bs []backend.Backend, idx index.Index, priv ed25519.PrivateKey, master []byte, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	warn, err := cfg.Check()
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: "open", Err: err}
	}
	if len(bs) != len(cfg.Backends) {
		return nil, errorf(ErrInvalid, "open", nil, "%d backends opened for %d configured", len(bs), len(cfg.Backends))
	}
	s := &Store{
		cfg: cfg, backends: bs, idx: idx, priv: priv, pub: priv.Public().(ed25519.PublicKey),
		master: master, log: opts.Logger, now: opts.Now, warnings: warn,
		byName: map[string]int{},
		params: codec.Params{K: cfg.K, M: cfg.M, BlockSize: int(cfg.BlockSize)},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.onAlert = opts.OnAlert
	s.guard = newGuardState(s)
	if err := s.params.Validate(); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: "open", Err: err}
	}
	for i, b := range cfg.Backends {
		s.pb = append(s.pb, placement.Backend{Name: b.Name, Region: b.Region})
		s.byName[b.Name] = i
	}
	return s, nil
}

// newVersionID returns a 32-hex-character ID: 8 bytes of unix nanoseconds
// (big-endian, strictly increasing within this process) and 8 random bytes.
func (s *Store) newVersionID() (string, time.Time) { return s.newVersionIDAfter("") }

// newVersionIDAfter draws a version ID greater than after (another
// process's, possibly from a clock ahead of ours).
func (s *Store) newVersionIDAfter(after string) (string, time.Time) {
	s.vidMu.Lock()
	defer s.vidMu.Unlock()
	t := s.now().UTC()
	ns := uint64(t.UnixNano())
	last := binary.BigEndian.Uint64(s.lastVID[:])
	if at, ok := VersionTime(after); ok {
		last = max(last, uint64(at.UnixNano()))
	}
	if ns <= last {
		ns = last + 1
		t = time.Unix(0, int64(ns)).UTC()
	}
	binary.BigEndian.PutUint64(s.lastVID[:], ns)
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], ns)
	if _, err := rand.Read(b[8:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:]), t
}

func vidBytes(id string) [16]byte {
	var b [16]byte
	hex.Decode(b[:], []byte(id))
	return b
}

// VersionTime returns the creation time encoded in a version ID.
func VersionTime(id string) (time.Time, bool) {
	if len(id) != 32 {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(id[:16])
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC(), true
}

// Blob names on backends. Only IDs appear: no bucket, key or metadata.
func shardName(segID string, i int) string {
	return fmt.Sprintf("d/%s/%s.%d", segID[30:32], segID, i)
}

func pieceName(vid string, i int) string {
	return fmt.Sprintf("m/%s/%s.%d", vid[30:32], vid, i)
}

// parseBlobName splits "d/xx/<id>.<i>" or "m/xx/<id>.<i>".
func parseBlobName(name string) (kind, id string, i int, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || (parts[0] != "d" && parts[0] != "m") {
		return "", "", 0, false
	}
	base := parts[2]
	dot := strings.LastIndexByte(base, '.')
	if dot != 32 || parts[1] != base[30:32] {
		return "", "", 0, false
	}
	if _, err := hex.DecodeString(base[:32]); err != nil {
		return "", "", 0, false
	}
	n := 0
	for _, c := range base[33:] {
		if c < '0' || c > '9' {
			return "", "", 0, false
		}
		n = n*10 + int(c-'0')
	}
	if len(base) == 33 || n > 255 {
		return "", "", 0, false
	}
	return parts[0], base[:32], n, true
}

// ValidBucket checks S3 bucket naming rules.
func ValidBucket(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("bucket name %q: character %q not allowed; use lowercase letters, digits, '-' and '.'", name, c)
		}
		if (i == 0 || i == len(name)-1) && (c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q must begin and end with a letter or digit", name)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("bucket name %q must not contain '..'", name)
	}
	if isIPv4(name) {
		return fmt.Errorf("bucket name %q must not look like an IP address", name)
	}
	return nil
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// MaxKeyLen is the longest key accepted, in bytes (as S3).
const MaxKeyLen = 1024

// ValidKey checks an object key.
func ValidKey(key string) error {
	switch {
	case key == "":
		return errors.New("key must not be empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("key is %d bytes; the limit is %d", len(key), MaxKeyLen)
	case strings.ContainsRune(key, 0):
		return errors.New("key must not contain NUL bytes")
	case !validUTF8(key):
		return errors.New("key must be valid UTF-8")
	}
	return nil
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// readAll reads a whole blob.
func readAll(ctx context.Context, b backend.Backend, name string) ([]byte, error) {
	rc, err := b.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 128<<20))
}

// classify maps index errors to store kinds.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, index.ErrNoSuchBucket), errors.Is(err, index.ErrNoSuchKey), errors.Is(err, index.ErrNoSuchVersion),
		errors.Is(err, index.ErrNoSuchCheckpoint), errors.Is(err, index.ErrNoSuchUpload), errors.Is(err, index.ErrNoSuchAlert):
		return &Error{Kind: ErrNotFound, Op: op, Err: err}
	case errors.Is(err, index.ErrBucketExists), errors.Is(err, index.ErrBucketNotEmpty), errors.Is(err, index.ErrConflict),
		errors.Is(err, index.ErrCheckpointExists):
		return &Error{Kind: ErrConflict, Op: op, Err: err}
	case errors.Is(err, index.ErrInvalid):
		return &Error{Kind: ErrInvalid, Op: op, Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: ErrUnavailable, Op: op, Err: err}
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	return &Error{Kind: ErrUnavailable, Op: op, Err: err}
}

var _ = os.Getpid
var _ = keys.KeySize

// keyLocks serializes work per key: the lock for a key exists while some
// goroutine holds or waits for it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
