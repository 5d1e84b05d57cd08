package store

import "github.com/rhizome-data/rhizome/internal/index"

// profileDiff is filled in by the guard integration.
func (s *Store) profileDiff(from, to index.Version) string { return "" }
