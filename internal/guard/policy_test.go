package guard

import "testing"

func TestMatch(t *testing.T) {
	policies := []Policy{
		{Prefix: "", Mode: ModeObserve},
		{Prefix: "lake", Mode: ModeQuarantine, Thresholds: Thresholds{DriftSigma: 5}},
		{Prefix: "lake/ml/", Mode: ModeBlock},
		{Prefix: "lake/ml/labels/", Mode: ModeQuarantine, Thresholds: Thresholds{Entropy: 7}},
	}
	for _, tc := range []struct {
		bucket, key string
		prefix      string
	}{
		{"lake", "ml/labels/day=1/part.csv", "lake/ml/labels/"},
		{"lake", "ml/features/x.parquet", "lake/ml/"},
		{"lake", "raw/x.csv", "lake"},
		{"lakehouse", "ml/x.csv", ""},
		{"other", "x", ""},
	} {
		p := Match(policies, tc.bucket, tc.key)
		if p.Prefix != tc.prefix {
			t.Errorf("Match(%s/%s) = %q; want %q", tc.bucket, tc.key, p.Prefix, tc.prefix)
		}
	}
	p := Match(policies, "lake", "ml/labels/x.csv")
	if p.Entropy != 7 || p.DriftSigma != DefaultThresholds().DriftSigma {
		t.Errorf("thresholds %+v; want Entropy 7 and defaults elsewhere", p.Thresholds)
	}
	if p := Match(nil, "b", "k"); p.Mode != ModeObserve || p.Thresholds != DefaultThresholds() {
		t.Errorf("no policies: %+v; want observe with defaults", p)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{Prefix: "lake/", Mode: ModeBlock}, true},
		{Policy{Prefix: "lake", Mode: "strict"}, false},
		{Policy{Prefix: "/lake", Mode: ModeObserve}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v; want ok %v", tc.p, err, tc.ok)
		}
	}
}
