package config

import (
	"path/filepath"
	"testing"
)

func TestGuardThresholdsFromYAML(t *testing.T) {
	dir := t.TempDir()
	c := Default(dir)
	c.Guard.Policies = []GuardPolicy{{Prefix: "lake/t/", Mode: "observe",
		Thresholds: GuardThresholds{DriftSigma: 5, Residual: 3}}}
	if err := c.Write(); err != nil {
		t.Fatal(err)
	}
	got, _, err := Load(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	ps := got.Guard.GuardPolicies()
	if len(ps) != 1 || ps[0].Thresholds.DriftSigma != 5 || ps[0].Thresholds.Residual != 3 {
		t.Fatalf("loaded policies = %+v; want drift_sigma 5 and residual 3", ps)
	}
}
