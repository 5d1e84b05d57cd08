package eval

import (
	"os"
	"testing"
)

// mustDetectAll are the attacks that must be caught every time.
var mustDetectAll = []string{rowRansomFile, rowRansomMass, rowDrop, rowRetype, rowMassDelete, rowHistory}

// checkTargets asserts the evaluation's targets: every must-detect row at
// 100%, label flips and shifts in at least 10% of the records at 90% or
// more on every dataset, and false positives at most maxFP.
func checkTargets(t *testing.T, rep Report, maxFP float64) {
	t.Helper()
	for _, row := range mustDetectAll {
		if c := rep.Total(row); c.Rate() != 1 {
			t.Errorf("%s: %s; want 100%%", row, fmtCell(c))
		}
	}
	for _, row := range []string{rowFlip(0.10), rowFlip(0.20), rowShift(0.10), rowShift(0.25)} {
		for _, ds := range rep.Datasets {
			const want = 0.9
			if c := rep.Cells[row][ds]; c.Rate() < want {
				t.Errorf("%s on %s: %s; want at least %.0f%%", row, ds, fmtCell(c), 100*want)
			}
		}
	}
	for _, row := range []string{rowBenign, rowBenignActions} {
		if c := rep.Total(row); c.Rate() > maxFP {
			t.Errorf("%s: %s; want at most %.1f%%", row, fmtCell(c), 100*maxFP)
		}
	}
}

// TestEvaluationQuick is a small evaluation (one seed, 12 checked days per
// dataset) that runs with the other tests.
func TestEvaluationQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluation")
	}
	rep, err := Run(Options{Seeds: []uint64{1}, Days: 22, Warmup: 10})
	if err != nil {
		t.Fatal(err)
	}
	// 36 benign writes: at most one false positive
	checkTargets(t, rep, 1.0/36)
	if t.Failed() {
		t.Log("\n" + rep.Markdown())
	}
}

// TestEvaluation is the documented evaluation (seeds 1 to 5). Set
// RHIZOME_GUARD_EVAL=1 to run it; it takes a few minutes.
func TestEvaluation(t *testing.T) {
	if os.Getenv("RHIZOME_GUARD_EVAL") == "" {
		t.Skip("set RHIZOME_GUARD_EVAL=1 to run the full evaluation")
	}
	rep, err := Run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Markdown())
	checkTargets(t, rep, 0.01)
}

func TestUnknownDataset(t *testing.T) {
	if _, err := Run(Options{Datasets: []string{"nope"}}); err == nil {
		t.Error("Run with an unknown dataset succeeded")
	}
}
