// Package config reads, checks and writes the store's YAML configuration,
// and makes the embedded default (six filesystem backends in three regions,
// 4+2) that lets a newcomer run Rhizome without writing any.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rhizome-data/rhizome/internal/placement"
)

// FileName is the config file's name inside a store directory.
const FileName = "rhizome.yaml"

// ErrInvalid is returned for a config that parses but cannot be used.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole store configuration.
type Config struct {
	Version     int    `yaml:"version"`
	K           int    `yaml:"k"`
	M           int    `yaml:"m"`
	BlockSize   Size   `yaml:"block_size,omitempty"`
	Survive     string `yaml:"survive,omitempty"`
	WriteQuorum int    `yaml:"write_quorum,omitempty"`
	// RetentionDays is how long every version is kept before it may be
	// removed by version ID (default 30).
	RetentionDays int `yaml:"retention_days,omitempty"`
	// ScrubRate caps the bytes per second the background scrub of
	// `rhizome serve` reads (e.g. "50MiB"); 0 means no cap.
	ScrubRate Size `yaml:"scrub_rate,omitempty"`
	// ScrubInterval is the time between the starts of two background
	// scrubs, as a Go duration (default 168h: weekly); "off" disables it.
	ScrubInterval string `yaml:"scrub_interval,omitempty"`
	// InlineMax is the size up to which an object is kept inside its
	// manifest instead of in shard files of its own (default 4KiB; 0
	// turns inlining off). See InlineLimit.
	InlineMax *Size     `yaml:"inline_max,omitempty"`
	Index     Index     `yaml:"index,omitempty"`
	Keys      Keys      `yaml:"keys,omitempty"`
	Backends  []Backend `yaml:"backends"`
	Server    Server    `yaml:"server,omitempty"`
	Guard     Guard     `yaml:"guard,omitempty"`

	// Dir is the store directory relative paths are resolved against.
	Dir string `yaml:"-"`
}

// Inlining of small objects.
const (
	// DefaultInline is the default InlineMax: one file-system block, the
	// size below which shard files of their own save no space.
	DefaultInline = 4 << 10
	// MaxInline bounds InlineMax: every manifest piece, and the index,
	// carries an inlined object whole.
	MaxInline = 64 << 10
)

// InlineLimit returns the size up to which objects are inlined: InlineMax,
// or DefaultInline when it is not set.
func (c *Config) InlineLimit() int64 {
	if c.InlineMax == nil {
		return DefaultInline
	}
	return int64(*c.InlineMax)
}

// Index selects the index database.
type Index struct {
	Type string `yaml:"type,omitempty"` // sqlite (default)
	Path string `yaml:"path,omitempty"` // sqlite file, relative to the store dir
}

// Keys names the key files.
type Keys struct {
	SigningKey string `yaml:"signing_key,omitempty"` // ed25519 seed, created on first use
	MasterKey  string `yaml:"master_key,omitempty"`  // optional: wraps every data key
}

// Server configures `rhizome serve`.
type Server struct {
	Listen  string `yaml:"listen,omitempty"`
	TLSCert string `yaml:"tls_cert,omitempty"`
	TLSKey  string `yaml:"tls_key,omitempty"`
	Users   []User `yaml:"users,omitempty"`
	// Domains enable virtual-hosted-style requests (BUCKET.DOMAIN).
	Domains []string `yaml:"domains,omitempty"`
	// Region is what GetBucketLocation reports (default us-east-1).
	Region string `yaml:"region,omitempty"`
	// UploadExpiry is how long an unfinished multipart upload is kept
	// before it is cleaned up, as a Go duration (default 24h).
	UploadExpiry string `yaml:"upload_expiry,omitempty"`
}

// User is one S3 identity. Secrets come from the environment or a file,
// never required in plaintext here.
type User struct {
	AccessKey  string            `yaml:"access_key"`
	SecretKey  string            `yaml:"secret_key,omitempty"`
	SecretEnv  string            `yaml:"secret_key_env,omitempty"`
	SecretFile string            `yaml:"secret_key_file,omitempty"`
	Buckets    map[string]string `yaml:"buckets,omitempty"` // bucket (or "*") -> "read" | "write"
}

// Backend is one storage location.
type Backend struct {
	Name   string `yaml:"name"`
	Region string `yaml:"region"`
	Type   string `yaml:"type"` // fs | s3

	// fs
	Path   string `yaml:"path,omitempty"`
	NoSync bool   `yaml:"no_sync,omitempty"`

	// s3
	Endpoint        string `yaml:"endpoint,omitempty"`
	Bucket          string `yaml:"bucket,omitempty"`
	Prefix          string `yaml:"prefix,omitempty"`
	S3Region        string `yaml:"s3_region,omitempty"`
	PathStyle       bool   `yaml:"path_style,omitempty"`
	AccessKeyEnv    string `yaml:"access_key_env,omitempty"`
	SecretKeyEnv    string `yaml:"secret_key_env,omitempty"`
	CredentialsFile string `yaml:"credentials_file,omitempty"`
	CAFile          string `yaml:"ca_file,omitempty"`
	Timeout         string `yaml:"timeout,omitempty"`
}

// Size is a byte count that YAML may give as 1048576, "1MiB" or "4 KiB".
type Size int64

// UnmarshalYAML parses sizes with binary units.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = Size(v)
	return nil
}

// MarshalYAML writes whole MiB as "NMiB".
func (s Size) MarshalYAML() (any, error) {
	if s > 0 && s%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", s>>20), nil
	}
	return int64(s), nil
}

// ParseSize parses "1048576", "1MiB", "512KiB", "1 GiB".
func ParseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.s)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a byte count like 1048576 or 1MiB", v)
	}
	return n * mult, nil
}

// Default returns the embedded default layout for a store in dir: six
// filesystem backends in three regions, k=4, m=2.
func Default(dir string) *Config {
	return Generate(dir, 6, 3, 4, 2)
}

// Generate makes a filesystem layout of n backends spread round-robin over
// r regions.
func Generate(dir string, n, r, k, m int) *Config {
	c := &Config{Version: 1, K: k, M: m, BlockSize: 1 << 20, Survive: placement.SurviveRegion, Dir: dir}
	c.Index = Index{Type: "sqlite", Path: "index.db"}
	c.Keys = Keys{SigningKey: "keys/signing.key"}
	c.Server = Server{Listen: "127.0.0.1:9000"}
	per := make([]int, r)
	for i := 0; i < n; i++ {
		reg := i % max(r, 1)
		per[reg]++
		name := fmt.Sprintf("%s-%d", regionName(reg), per[reg])
		c.Backends = append(c.Backends, Backend{
			Name: name, Region: regionName(reg), Type: "fs", Path: filepath.Join("backends", name),
		})
	}
	return c
}

func regionName(i int) string {
	if i < 26 {
		return "region-" + string(rune('a'+i))
	}
	return fmt.Sprintf("region-%d", i+1)
}

// Load reads and checks the config at path. Unknown fields are errors, so
// a typo is reported with its line instead of being silently ignored.
func Load(path string) (*Config, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, nil, fmt.Errorf("config: %s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c.Dir = filepath.Dir(path)
	warn, err := c.Check()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, warn, nil
}

// Check fills defaults and validates the config.
func (c *Config) Check() (warnings []string, err error) {
	if c.Version == 0 {
		c.Version = 1
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("%w: version %d; this build reads version 1", ErrInvalid, c.Version)
	}
	if c.BlockSize == 0 {
		c.BlockSize = 1 << 20
	}
	if c.BlockSize < 4<<10 || c.BlockSize > 64<<20 {
		return nil, fmt.Errorf("%w: block_size %d; use 4KiB to 64MiB (1MiB is a good default)", ErrInvalid, c.BlockSize)
	}
	if c.Survive == "" {
		c.Survive = placement.SurviveRegion
	}
	if c.RetentionDays == 0 {
		c.RetentionDays = 30
	}
	if c.RetentionDays < 0 {
		return nil, fmt.Errorf("%w: retention_days %d; must be 1 or more", ErrInvalid, c.RetentionDays)
	}
	if c.InlineMax != nil && (*c.InlineMax < 0 || *c.InlineMax > MaxInline) {
		return nil, fmt.Errorf("%w: inline_max %d; use 0 (off) to %d bytes (4KiB, the default, suits most stores)", ErrInvalid, *c.InlineMax, MaxInline)
	}
	if c.ScrubRate < 0 {
		return nil, fmt.Errorf("%w: scrub_rate %d; must be 0 (no cap) or a byte rate such as 50MiB", ErrInvalid, c.ScrubRate)
	}
	if _, _, err := c.Scrub(); err != nil {
		return nil, err
	}
	if err := c.Guard.check(); err != nil {
		return nil, err
	}
	if c.Index.Type == "" {
		c.Index.Type = "sqlite"
	}
	if c.Index.Type != "sqlite" {
		return nil, fmt.Errorf("%w: index type %q; supported: sqlite", ErrInvalid, c.Index.Type)
	}
	if c.Index.Path == "" {
		c.Index.Path = "index.db"
	}
	if c.Keys.SigningKey == "" {
		c.Keys.SigningKey = "keys/signing.key"
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:9000"
	}
	for i, b := range c.Backends {
		switch b.Type {
		case "fs":
			if b.Path == "" {
				return nil, fmt.Errorf("%w: backend %q (#%d): type fs needs a path", ErrInvalid, b.Name, i+1)
			}
		case "s3":
			if b.Endpoint == "" || b.Bucket == "" {
				return nil, fmt.Errorf("%w: backend %q (#%d): type s3 needs endpoint and bucket", ErrInvalid, b.Name, i+1)
			}
		default:
			return nil, fmt.Errorf("%w: backend %q (#%d): type %q; use fs or s3", ErrInvalid, b.Name, i+1, b.Type)
		}
	}
	pb := make([]placement.Backend, len(c.Backends))
	for i, b := range c.Backends {
		pb[i] = placement.Backend{Name: b.Name, Region: b.Region}
	}
	warnings, err = placement.Check(pb, c.K, c.M, c.Survive)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	q := c.WriteQuorum
	if q == 0 {
		c.WriteQuorum = min(c.K+1, c.K+c.M)
	} else if q < c.K || q > c.K+c.M {
		return nil, fmt.Errorf("%w: write_quorum %d; must be between k=%d and k+m=%d", ErrInvalid, q, c.K, c.K+c.M)
	}
	return warnings, nil
}

// Resolve makes a path from the config absolute against the store dir.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Write saves the config to dir/rhizome.yaml, refusing to overwrite.
func (c *Config) Write() error {
	path := filepath.Join(c.Dir, FileName)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("config: %s already exists; remove it or choose another --dir", path)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	head := "# Rhizome store configuration. Reference: docs/config.md\n"
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append([]byte(head), b...), 0o644); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return os.Rename(tmp, path)
}

// DefaultScrubInterval is the time between background scrubs when the
// config does not say.
const DefaultScrubInterval = 7 * 24 * time.Hour

// Scrub returns the background scrub settings: the interval between
// scrubs (0 when scrub_interval is "off") and the read rate cap in bytes
// per second (0: none).
func (c *Config) Scrub() (every time.Duration, rate int64, err error) {
	switch c.ScrubInterval {
	case "":
		every = DefaultScrubInterval
	case "off":
		every = 0
	default:
		every, err = time.ParseDuration(c.ScrubInterval)
		if err != nil || every <= 0 {
			return 0, 0, fmt.Errorf("%w: scrub_interval %q; use a Go duration such as 168h, or off", ErrInvalid, c.ScrubInterval)
		}
	}
	return every, int64(c.ScrubRate), nil
}
