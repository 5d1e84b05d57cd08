//go:build soak

package store

// The soak test mixes writes, reads, outages, data loss and repairs on six
// real MinIO servers for a given time, then checks every acknowledged
// write. It is not part of the default test run:
//
//	go test -tags soak -run Soak -timeout 0 ./internal/store -soak.duration 10m
//
// (scripts/soak wraps this.)

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
)

var (
	soakDuration = flag.Duration("soak.duration", time.Minute, "how long the soak runs before the final check")
	soakSeed     = flag.Uint64("soak.seed", 0, "random seed for the fault schedule (0: from the clock)")
	soakFaults   = flag.String("soak.faults", "stop,pause,wipe,rot", "faults to inject, comma-separated: stop (a region), pause (a server), wipe (a server's disk), rot (bit flips)")
)

// acked is one acknowledged write.
type acked struct {
	key, id string
	size    int
	sum     [32]byte
	deleted bool // a delete marker
}

func TestSoak(t *testing.T) {
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("soak: %v, seed %d", *soakDuration, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var rngMu sync.Mutex
	rnd := func(n int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(n) }

	faults := strings.Split(*soakFaults, ",")
	for _, f := range faults {
		if !slices.Contains([]string{"stop", "pause", "wipe", "rot"}, f) {
			t.Fatalf("-soak.faults: unknown fault %q", f)
		}
	}
	faultTimeout = "20s"
	ms := newFaultStore(t)
	ctx, stop := context.WithTimeout(context.Background(), *soakDuration)
	defer stop()

	var mu sync.Mutex
	var writes []acked
	var stats struct{ puts, putFails, reads, degraded, copies, deletes, repairs, shards atomic.Int64 }
	fail := make(chan error, 16)
	report := func(err error) {
		select {
		case fail <- err:
		default:
		}
	}

	var wg sync.WaitGroup
	// Writers: puts of 0 to 3 MiB, some copies and deletes.
	for w := range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				key := fmt.Sprintf("k-%d-%02d", w, rnd(20))
				switch r := rnd(20); {
				case r == 0:
					info, err := ms.Delete(context.Background(), "lake", key, "soak")
					if err == nil {
						stats.deletes.Add(1)
						mu.Lock()
						writes = append(writes, acked{key: key, id: info.ID, deleted: true})
						mu.Unlock()
					}
				case r == 1:
					mu.Lock()
					var src acked
					if len(writes) > 0 {
						src = writes[rnd(len(writes))]
					}
					mu.Unlock()
					if src.id == "" || src.deleted {
						continue
					}
					si, err := ms.Stat(context.Background(), "lake", src.key, StatOptions{VersionID: src.id})
					if err != nil {
						report(fmt.Errorf("stat of acknowledged %s %s: %w", src.key, src.id, err))
						return
					}
					info, err := ms.Copy(context.Background(), si, "lake", key, nil)
					if err == nil {
						stats.copies.Add(1)
						mu.Lock()
						writes = append(writes, acked{key: key, id: info.ID, size: src.size, sum: src.sum})
						mu.Unlock()
					}
				default:
					n := rnd(3 << 20)
					data := random(n)
					info, err := ms.Put(context.Background(), "lake", key, bytes.NewReader(data), &PutOptions{Size: int64(n), SizeKnown: true})
					if err != nil {
						// Allowed only as a clean refusal.
						if !errors.Is(err, ErrUnavailable) {
							report(fmt.Errorf("put %s: %w", key, err))
							return
						}
						stats.putFails.Add(1)
						continue
					}
					stats.puts.Add(1)
					mu.Lock()
					writes = append(writes, acked{key: key, id: info.ID, size: n, sum: sha256.Sum256(data)})
					mu.Unlock()
				}
			}
		})
	}
	// Readers: any acknowledged version, byte-identical, whatever is down.
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				var a acked
				if len(writes) > 0 {
					a = writes[rnd(len(writes))]
				}
				mu.Unlock()
				if a.id == "" || a.deleted {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if err := checkAcked(ms.Store, a, &stats.degraded); err != nil {
					report(fmt.Errorf("read during the soak: %w", err))
					return
				}
				stats.reads.Add(1)
			}
		})
	}
	// Faults, one at a time, each followed by a repair that restores full
	// protection before the next: at most m shards of any version are
	// ever out, so every read must succeed.
	repair := func() error {
		for attempt := 0; ; attempt++ {
			st, err := ms.Repair(context.Background(), &RepairOptions{RetryDeferred: true}, nil)
			if err != nil {
				return err
			}
			stats.repairs.Add(1)
			stats.shards.Add(st.Shards)
			if st.Unreadable > 0 {
				return fmt.Errorf("repair found %d unreadable versions", st.Unreadable)
			}
			if st.Deferred == 0 && st.QueueLeft == 0 && st.Scan.Repairable == 0 {
				return nil
			}
			if attempt == 20 {
				return fmt.Errorf("repair did not converge: %+v", st)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			sleep(ctx, time.Duration(1+rnd(3))*time.Second)
			i := rnd(6)
			var what string
			switch faults[rnd(len(faults))] {
			case "stop":
				r := i / 2 * 2
				what = fmt.Sprintf("region %s stopped", ms.names[r])
				ms.servers[r].Stop()
				ms.servers[r+1].Stop()
				sleep(ctx, time.Duration(2+rnd(6))*time.Second)
				ms.servers[r].Start()
				ms.servers[r+1].Start()
			case "pause":
				what = fmt.Sprintf("%s paused", ms.names[i])
				ms.servers[i].Pause()
				sleep(ctx, time.Duration(1+rnd(4))*time.Second)
				ms.servers[i].Resume()
			case "wipe":
				what = fmt.Sprintf("%s wiped", ms.names[i])
				ms.servers[i].Wipe()
				if err := ms.servers[i].CreateBucket(context.Background(), ms.servers[i].Bucket()); err != nil {
					report(err)
					return
				}
			case "rot":
				what = fmt.Sprintf("bit rot on %s", ms.names[i])
				if err := rot(ms, ms.names[i], 1+rnd(5), rnd); err != nil {
					report(err)
					return
				}
				if _, err := ms.Scrub(context.Background(), ScrubOptions{}, nil); err != nil {
					report(err)
					return
				}
			}
			if err := repair(); err != nil {
				report(fmt.Errorf("repair after %s: %w", what, err))
				return
			}
			t.Logf("%s, repaired", what)
		}
	})
	wg.Wait()
	select {
	case err := <-fail:
		t.Fatal(err)
	default:
	}

	// Everything acknowledged is there, byte for byte, fully protected.
	if err := repair(); err != nil {
		t.Fatal(err)
	}
	for _, a := range writes {
		if a.deleted {
			if _, err := ms.Index().Version(context.Background(), "lake", a.key, a.id); err != nil {
				t.Fatalf("delete marker %s %s lost: %v", a.key, a.id, err)
			}
			continue
		}
		if err := checkAcked(ms.Store, a, &stats.degraded); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ms.Scrub(context.Background(), ScrubOptions{NoQueue: true}, func(r ScrubResult) error {
		if r.Health != Healthy {
			t.Errorf("final scrub: %s", r)
		}
		return nil
	})
	if err != nil || st.Healthy != st.Checked || st.Checked != int64(len(writes)) {
		t.Fatalf("final scrub = %+v, %v; want all %d acknowledged versions healthy", st, err, len(writes))
	}
	t.Logf("soak: %d puts (%d refused), %d copies, %d deletes, %d reads (%d degraded), %d repairs rebuilt %d shards; all %d acknowledged versions verified",
		stats.puts.Load(), stats.putFails.Load(), stats.copies.Load(), stats.deletes.Load(), stats.reads.Load(), stats.degraded.Load(),
		stats.repairs.Load(), stats.shards.Load(), len(writes))
}

func checkAcked(s *Store, a acked, degraded *atomic.Int64) error {
	ctx := context.Background()
	info, err := s.Stat(ctx, "lake", a.key, StatOptions{VersionID: a.id})
	if err != nil {
		return fmt.Errorf("stat %s %s: %w", a.key, a.id, err)
	}
	h := sha256.New()
	rep, err := s.Read(ctx, info, h, 0, -1)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", a.key, a.id, err)
	}
	if rep.Degraded {
		degraded.Add(1)
	}
	if [32]byte(h.Sum(nil)) != a.sum || info.Size != int64(a.size) {
		return fmt.Errorf("read %s %s: content differs from what was acknowledged", a.key, a.id)
	}
	return nil
}

// rot flips a bit in n random shards on the named backend.
func rot(ms *faultStore, name string, n int, rnd func(int) int) error {
	ctx := context.Background()
	b := ms.backend(name)
	var names []string
	if err := b.List(ctx, "d/", func(in backend.Info) error { names = append(names, in.Name); return nil }); err != nil {
		return err
	}
	for range min(n, len(names)) {
		nm := names[rnd(len(names))]
		p, err := readAll(ctx, b, nm)
		if err != nil || len(p) == 0 {
			continue
		}
		p[rnd(len(p))] ^= 1 << rnd(8)
		if err := b.Put(ctx, nm, bytes.NewReader(p), int64(len(p))); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
