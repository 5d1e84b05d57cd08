package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/manifest"
)

// A write that began first but finishes last is the key's current
// version, as in S3, and its manifest links to the one that finished
// before it.
func TestSlowWriteFinishingLastIsCurrent(t *testing.T) {
	for _, size := range []int{100, 200 << 10} { // inline and sharded
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ts := newTestStore(t)
			ctx := context.Background()
			var fast *ObjectInfo
			slow := &racingReader{r: bytes.NewReader(random(size)), race: func() {
				var err error
				if fast, err = ts.Put(ctx, "lake", "k", bytes.NewReader([]byte("fast")), nil); err != nil {
					t.Error(err)
				}
			}}
			info, err := ts.Put(ctx, "lake", "k", slow, nil)
			if err != nil {
				t.Fatal(err)
			}
			cur, err := ts.Stat(ctx, "lake", "k", StatOptions{})
			if err != nil || cur.ID != info.ID {
				t.Fatalf("current = %v, %v; want the write that finished last (%s)", cur.ID, err, info.ID)
			}
			if info.ID <= fast.ID || info.Manifest.Prev != hashOf(fast.Version.Manifest) {
				t.Fatalf("the last write (%s) does not follow the first to finish (%s) in ID and chain", info.ID, fast.ID)
			}
			if got, _, err := ts.get(t, "k"); err != nil || len(got) != size {
				t.Fatalf("get: %d bytes, %v; want %d", len(got), err, size)
			}
		})
	}
}

// Concurrent writers of one key form one chain: in ID order, each
// version's manifest links to the one before it.
func TestConcurrentWritersChain(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ts.Put(ctx, "lake", "k", bytes.NewReader(random(i*3000)), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	vs, err := ts.Versions(ctx, "lake", "k") // newest first
	if err != nil || len(vs) != 12 {
		t.Fatalf("%d versions, %v; want 12", len(vs), err)
	}
	for i := 0; i+1 < len(vs); i++ {
		m, err := ts.manifestOf(vs[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.Prev != hashOf(vs[i+1].Manifest) {
			t.Fatalf("version %s links to %s..., not to its predecessor %s", vs[i].ID, m.Prev[:8], vs[i+1].ID)
		}
	}
	if m, _ := ts.manifestOf(vs[len(vs)-1]); m.Prev != "" {
		t.Fatalf("the first version links to %q", m.Prev)
	}
	// No piece of an abandoned attempt is left behind: 12 versions, 6
	// pieces each, plus the bucket's.
	if n := ts.blobs(t, "m/"); n != 13*6 {
		t.Fatalf("%d manifest pieces; want %d", n, 13*6)
	}
}

func (ts *testStore) manifestOf(v index.Version) (*manifest.Manifest, error) {
	return manifest.Decode(v.Manifest, ts.pub)
}

// Two processes (two Stores on one index and the same backends) writing
// one key at once still form one chain: the index transaction catches a
// link another process made stale, and the commit links again.
func TestConcurrentWritersChainTwoStores(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	idx2, err := sqlite.Open(ts.indexPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := make([]backend.Backend, len(ts.faults))
	for i, f := range ts.faults {
		bs[i] = f
	}
	s2, err := New(ts.cfg, bs, idx2, ts.priv, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := ts.Store
			if i%2 == 1 {
				s = s2
			}
			if _, err := s.Put(ctx, "lake", "k", bytes.NewReader(random(100+i)), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	vs, err := ts.Versions(ctx, "lake", "k")
	if err != nil || len(vs) != 8 {
		t.Fatalf("%d versions, %v; want 8", len(vs), err)
	}
	for i := 0; i+1 < len(vs); i++ {
		if m, _ := ts.manifestOf(vs[i]); m.Prev != hashOf(vs[i+1].Manifest) {
			t.Fatalf("version %s does not link to its predecessor %s", vs[i].ID, vs[i+1].ID)
		}
	}
}
