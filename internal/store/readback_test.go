package store

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/rhizome-data/rhizome/internal/backend"
)

// lying is a backend whose Put acknowledges the whole shard but stores it
// altered: one byte short (truncate) or with a byte flipped (flip).
type lying struct {
	backend.Backend
	truncate, flip bool
}

func (l *lying) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return io.ErrUnexpectedEOF
	}
	if strings.HasPrefix(name, "d/") {
		switch {
		case l.truncate:
			b = b[:len(b)-1]
		case l.flip:
			b[len(b)/2] ^= 1
		}
	}
	return l.Backend.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

// TestRepairConfirmsWrites pins down what a rebuilt shard is checked for
// before it counts: a backend that stores fewer bytes than it acknowledged
// is caught by the Stat; one that stores the right number of wrong bytes
// only by --read-back (or the next full scrub).
func TestRepairConfirmsWrites(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		truncate, flip bool
		readBack       bool
		wantOK         bool
	}{
		{name: "honest", wantOK: true},
		{name: "honest, read back", readBack: true, wantOK: true},
		{name: "truncates", truncate: true},
		{name: "truncates, read back", truncate: true, readBack: true},
		{name: "flips a byte", flip: true, wantOK: true},
		{name: "flips a byte, read back", flip: true, readBack: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, 6, 3)
			s := f.open(nil)
			f.put(s, "x", 300_000)
			name, b := f.shardBlob(s, "x", 2)
			b.Delete(ctx, name)
			// The store writes through the lying wrapper on that backend.
			info, _ := s.Stat(ctx, "lake", "x", StatOptions{})
			bi := s.byName[info.Manifest.Segments[0].Backends[2]]
			s.backends[bi] = &lying{Backend: s.backends[bi], truncate: tc.truncate, flip: tc.flip}

			st, err := s.Repair(ctx, &RepairOptions{ReadBack: tc.readBack}, nil)
			if err != nil {
				t.Fatalf("Repair() = %v", err)
			}
			if got := st.Shards == 1 && st.Deferred == 0; got != tc.wantOK {
				t.Fatalf("Repair() = %d shards rebuilt, %d deferred; want the shard counted: %v", st.Shards, st.Deferred, tc.wantOK)
			}
			// Whatever repair concluded, a full scrub tells the truth.
			sst, _ := scrubAll(t, s, false)
			healthy := sst.Repairable == 0 && sst.Unreadable == 0
			if want := !tc.truncate && !tc.flip; healthy != want {
				t.Fatalf("full scrub after repair: %d repairable; want healthy: %v", sst.Repairable, want)
			}
		})
	}
}
