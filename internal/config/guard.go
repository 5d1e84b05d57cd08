package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/rhizome-data/rhizome/internal/guard"
)

// Guard configures write profiling and poisoning detection.
type Guard struct {
	// Off turns profiling and every check off.
	Off bool `yaml:"off,omitempty"`
	// Policies say, per bucket or bucket/prefix, what happens to flagged
	// writes; the longest matching prefix wins. Without a match: observe
	// with the default thresholds.
	Policies []GuardPolicy `yaml:"policies,omitempty"`
	// Webhooks receive every alert as a JSON POST.
	Webhooks []string `yaml:"webhooks,omitempty"`
	// Siblings is how many recent objects under the same prefix form the
	// baseline of a new version (default 32).
	Siblings int `yaml:"siblings,omitempty"`
	// MaxDecompressed is the most decompressed bytes of a gzip object
	// (.csv.gz ...) that are profiled (default 64 MiB, -1 turns
	// decompression off): it bounds the CPU a compressed table (or a gzip
	// bomb) costs the write path.
	MaxDecompressed int64 `yaml:"max_decompressed,omitempty"`
}

// GuardPolicy is one policy; thresholds left out keep their defaults
// (docs/guard.md lists them).
type GuardPolicy struct {
	Prefix     string          `yaml:"prefix"`
	Mode       string          `yaml:"mode"`
	Thresholds GuardThresholds `yaml:"thresholds,omitempty"`
}

// GuardThresholds mirrors guard.Thresholds with YAML names.
type GuardThresholds struct {
	Entropy        float64       `yaml:"entropy,omitempty"`
	DriftSigma     float64       `yaml:"drift_sigma,omitempty"`
	MinPSI         float64       `yaml:"min_psi,omitempty"`
	DriftPSI       float64       `yaml:"drift_psi,omitempty"`
	MeanShift      float64       `yaml:"mean_shift,omitempty"`
	NullRate       float64       `yaml:"null_rate,omitempty"`
	Cardinality    float64       `yaml:"cardinality,omitempty"`
	RowCount       float64       `yaml:"row_count,omitempty"`
	Duplicates     float64       `yaml:"duplicates,omitempty"`
	Residual       float64       `yaml:"residual,omitempty"`
	MinSiblings    int           `yaml:"min_siblings,omitempty"`
	HistoryAge     time.Duration `yaml:"history_age,omitempty"`
	MassShare      float64       `yaml:"mass_share,omitempty"`
	MassWindow     time.Duration `yaml:"mass_window,omitempty"`
	MassMinObjects int           `yaml:"mass_min_objects,omitempty"`
}

// Policies returns the guard policies in the guard package's form.
func (g Guard) GuardPolicies() []guard.Policy {
	out := make([]guard.Policy, len(g.Policies))
	for i, p := range g.Policies {
		t := p.Thresholds
		out[i] = guard.Policy{Prefix: p.Prefix, Mode: p.Mode, Thresholds: guard.Thresholds{
			Entropy: t.Entropy, DriftSigma: t.DriftSigma, MinPSI: t.MinPSI, DriftPSI: t.DriftPSI, MeanShift: t.MeanShift,
			NullRate: t.NullRate, Cardinality: t.Cardinality, RowCount: t.RowCount, Duplicates: t.Duplicates,
			Residual: t.Residual, MinSiblings: t.MinSiblings, HistoryAge: t.HistoryAge, MassShare: t.MassShare, MassWindow: t.MassWindow,
			MassMinObjects: t.MassMinObjects,
		}}
	}
	return out
}

func (g *Guard) check() error {
	if g.Siblings == 0 {
		g.Siblings = 32
	}
	if g.Siblings < 0 || g.Siblings > 256 {
		return fmt.Errorf("%w: guard.siblings %d; use 1 to 256", ErrInvalid, g.Siblings)
	}
	for _, p := range g.GuardPolicies() {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	for _, w := range g.Webhooks {
		u, err := url.Parse(w)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: guard webhook %q is not an http(s) URL", ErrInvalid, w)
		}
	}
	return nil
}
