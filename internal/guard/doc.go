// Package guard notices poisoned writes (guarantee G8): ransomware
// encryption, schema breaks, label flips, distribution shifts, duplicated
// records, history rewrites and mass overwrites or deletions.
//
// It is pure: it reads only the bytes handed to it and takes the time as an
// argument. The store streams every object's plaintext through a Profiler,
// keeps the Profile in the version's signed manifest, and judges the new
// version with Check against a Baseline of earlier profiles (the previous
// version of the same key and recent objects under the same prefix).
// HistoryRewrite and MassSignal (over a tally of recent changes that the
// store keeps in its index, or that a MassTracker keeps in memory) judge
// actions rather than content. Match
// picks the Policy (observe, quarantine or block, with its Thresholds) for
// a key and Verdict sums the signals up.
//
// Checks that compare distributions are calibrated on the siblings: a
// statistic is measured for each sibling against the others, and the new
// version fires only when it lies beyond the natural variation seen there
// (Thresholds.DriftSigma). See docs/guard.md for every signal, its
// defaults and the evaluation on real data.
package guard
