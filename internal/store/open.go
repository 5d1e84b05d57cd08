package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/fs"
	"github.com/rhizome-data/rhizome/internal/backend/observe"
	"github.com/rhizome-data/rhizome/internal/backend/s3"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/keys"
)

// Open opens the store described by cfg: its backends (the one explicit
// list of drivers is OpenBackend), its index and its keys.
func Open(ctx context.Context, cfg *config.Config, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if _, err := cfg.Check(); err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: "open", Err: err}
	}
	priv, err := keys.LoadOrCreateSigningKey(cfg.Resolve(cfg.Keys.SigningKey))
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Op: "open", Err: err}
	}
	var master []byte
	if cfg.Keys.MasterKey != "" {
		master, err = keys.LoadMasterKey(cfg.Resolve(cfg.Keys.MasterKey))
		if err != nil {
			return nil, &Error{Kind: ErrInvalid, Op: "open", Err: err, Msg: "master key configured but unusable"}
		}
	}
	bs := make([]backend.Backend, len(cfg.Backends))
	for i, bc := range cfg.Backends {
		b, err := OpenBackend(ctx, cfg, bc)
		if err != nil {
			if !errors.Is(err, errBackendConfig) {
				// Down now, maybe back later: reads and writes go on
				// without it as long as enough others answer.
				b = offline{err: err}
			} else {
				return nil, &Error{Kind: ErrInvalid, Op: "open backend " + bc.Name, Err: err}
			}
		}
		if opts.Wrap != nil {
			b = opts.Wrap(bc.Name, b)
		}
		bs[i] = observe.New(bc.Name, b, nil) // latency and errors as the store sees them
	}
	idx := opts.Index
	if idx == nil {
		path := cfg.Resolve(cfg.Index.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, &Error{Kind: ErrInvalid, Op: "open index", Err: err}
		}
		idx, err = sqlite.Open(path, nil)
		if err != nil {
			return nil, &Error{Kind: ErrUnavailable, Op: "open index", Err: err}
		}
	}
	return New(cfg, bs, idx, priv, master, opts)
}

// OpenBackend opens one configured backend. It is the one place that knows
// every driver.
func OpenBackend(ctx context.Context, cfg *config.Config, bc config.Backend) (backend.Backend, error) {
	switch bc.Type {
	case "fs":
		return fs.New(cfg.Resolve(bc.Path), &fs.Options{NoSync: bc.NoSync})
	case "s3":
		var timeout time.Duration
		if bc.Timeout != "" {
			d, err := time.ParseDuration(bc.Timeout)
			if err != nil {
				return nil, fmt.Errorf("%w: timeout %q: %v", errBackendConfig, bc.Timeout, err)
			}
			timeout = d
		}
		sc := s3.Config{
			Endpoint: bc.Endpoint, Bucket: bc.Bucket, Prefix: bc.Prefix, Region: bc.S3Region,
			PathStyle: bc.PathStyle, CredentialsFile: cfg.Resolve(bc.CredentialsFile), CAFile: cfg.Resolve(bc.CAFile),
			Timeout: timeout,
		}
		if bc.AccessKeyEnv != "" {
			sc.AccessKey = os.Getenv(bc.AccessKeyEnv)
			sc.SecretKey = os.Getenv(bc.SecretKeyEnv)
			if sc.AccessKey == "" || sc.SecretKey == "" {
				return nil, fmt.Errorf("%w: credentials: environment variables %s and %s must both be set", errBackendConfig, bc.AccessKeyEnv, bc.SecretKeyEnv)
			}
		}
		return s3.New(ctx, sc)
	}
	return nil, fmt.Errorf("%w: unknown backend type %q", errBackendConfig, bc.Type)
}

// errBackendConfig marks backend errors that are mistakes in the config
// (refused at open) rather than outages (tolerated).
var errBackendConfig = errors.New("backend config")

// offline stands in for a backend that could not be opened (its directory
// is gone, its endpoint is unreachable): every call fails with
// ErrUnavailable and the reason, so the store keeps working on the others.
type offline struct{ err error }

var _ backend.Backend = offline{}

func (o offline) fail(op string) error {
	return fmt.Errorf("%s: %w: %v", op, backend.ErrUnavailable, o.err)
}
func (o offline) Put(context.Context, string, io.Reader, int64) error { return o.fail("put") }
func (o offline) Get(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, o.fail("get")
}
func (o offline) Stat(context.Context, string) (backend.Info, error) {
	return backend.Info{}, o.fail("stat")
}
func (o offline) Delete(context.Context, string) error                         { return o.fail("delete") }
func (o offline) List(context.Context, string, func(backend.Info) error) error { return o.fail("list") }
