package guard

import (
	"fmt"
	"strings"
)

// Policy modes: what the store does with a flagged write.
const (
	// ModeObserve records the signals; readers see the new version.
	ModeObserve = "observe"
	// ModeQuarantine keeps the new version but readers keep getting the
	// last version that was not flagged until someone releases it.
	ModeQuarantine = "quarantine"
	// ModeBlock refuses the write.
	ModeBlock = "block"
)

// Policy says how writes under a prefix are judged and what happens to the
// flagged ones. Prefix is "bucket/key-prefix"; a bare "bucket" covers the
// whole bucket and "" every bucket.
type Policy struct {
	Prefix string
	Mode   string
	Thresholds
}

// Validate checks the mode and the prefix.
func (p Policy) Validate() error {
	switch p.Mode {
	case ModeObserve, ModeQuarantine, ModeBlock:
	default:
		return fmt.Errorf("guard: policy %q: mode %q is not observe, quarantine or block", p.Prefix, p.Mode)
	}
	if strings.HasPrefix(p.Prefix, "/") {
		return fmt.Errorf("guard: policy %q: prefix starts with the bucket name, not /", p.Prefix)
	}
	return nil
}

// matches reports whether the policy's prefix covers bucket/key.
func (p Policy) matches(bucket, key string) bool {
	if p.Prefix == "" {
		return true
	}
	b, k, hasKey := strings.Cut(p.Prefix, "/")
	if b != bucket {
		return false
	}
	return !hasKey || strings.HasPrefix(key, k)
}

// Match returns the policy for bucket/key: the one with the longest
// matching prefix (the first of equals), or observe mode with the default
// thresholds when none matches. The returned thresholds have their
// defaults filled in.
func Match(policies []Policy, bucket, key string) Policy {
	best := -1
	for i, p := range policies {
		if !p.matches(bucket, key) {
			continue
		}
		if best < 0 || len(p.Prefix) > len(policies[best].Prefix) {
			best = i
		}
	}
	if best < 0 {
		return Policy{Mode: ModeObserve, Thresholds: DefaultThresholds()}
	}
	p := policies[best]
	p.Thresholds = p.Thresholds.withDefaults()
	if p.Mode == "" {
		p.Mode = ModeObserve
	}
	return p
}
