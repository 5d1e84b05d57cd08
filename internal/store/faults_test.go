package store

// Fault tests on real S3 servers: six MinIO processes as six backends in
// three regions. Each test checks that no acknowledged byte is lost and
// that every read returns exactly what was written.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/testenv"
)

// faultStore is a store over six MinIO servers: region-a on servers 0 and
// 1, region-b on 2 and 3, region-c on 4 and 5.
type faultStore struct {
	*Store
	servers []*testenv.MinIO
	names   []string
	data    map[string][]byte
}

// faultTimeout bounds each S3 request of the fault tests; the soak, which
// loads the machine for long, raises it.
var faultTimeout = "5s"

// faultConfig writes the config of a store in dir over the servers, with
// credentials in environment variables named after the backends (set with
// t.Setenv), the way an operator keeps them out of rhizome.yaml.
func faultConfig(t testing.TB, dir string, servers []*testenv.MinIO) *config.Config {
	t.Helper()
	cfg := config.Default(dir)
	cfg.BlockSize = 256 << 10
	cfg.WriteQuorum = 4 // writes go on while a whole region is down
	for i := range cfg.Backends {
		b := &cfg.Backends[i]
		m := servers[i]
		region := []string{"a", "b", "c"}[i/2]
		b.Name, b.Region = fmt.Sprintf("region-%s-%d", region, i%2+1), "region-"+region
		b.Type, b.Path = "s3", ""
		b.Endpoint, b.Bucket, b.PathStyle, b.Timeout = m.Endpoint(), m.Bucket(), true, faultTimeout
		b.AccessKeyEnv = fmt.Sprintf("RZ_TEST_AK_%d", i)
		b.SecretKeyEnv = fmt.Sprintf("RZ_TEST_SK_%d", i)
		t.Setenv(b.AccessKeyEnv, m.AccessKey())
		t.Setenv(b.SecretKeyEnv, m.SecretKey())
	}
	if _, err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newFaultStore(t *testing.T) *faultStore {
	t.Helper()
	servers := testenv.StartMinIOs(t, 6)
	cfg := faultConfig(t, t.TempDir(), servers)
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	ms := &faultStore{Store: s, servers: servers, data: map[string][]byte{}}
	for _, b := range cfg.Backends {
		ms.names = append(ms.names, b.Name)
	}
	return ms
}

func (ms *faultStore) put(t *testing.T, key string, n int) *ObjectInfo {
	t.Helper()
	data := random(n)
	info, err := ms.Put(context.Background(), "lake", key, bytes.NewReader(data), &PutOptions{Size: int64(n), SizeKnown: true})
	if err != nil {
		t.Fatalf("Put(%s) = %v", key, err)
	}
	ms.data[key] = data
	return info
}

// checkReads reads every key and compares; degraded reads are allowed
// only when degradedOK.
func (ms *faultStore) checkReads(t *testing.T, degradedOK bool) {
	t.Helper()
	ctx := context.Background()
	for key, want := range ms.data {
		info, err := ms.Stat(ctx, "lake", key, StatOptions{})
		if err != nil {
			t.Fatalf("Stat(%s) = %v", key, err)
		}
		var buf bytes.Buffer
		rep, err := ms.Read(ctx, info, &buf, 0, -1)
		if err != nil {
			t.Fatalf("Read(%s) = %v", key, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("Read(%s) returned %d bytes that differ from the %d written", key, buf.Len(), len(want))
		}
		if rep.Degraded && !degradedOK {
			t.Fatalf("Read(%s) degraded: %v", key, rep.Problems)
		}
	}
}

// checkHealthy runs a full scrub and wants every version healthy.
func (ms *faultStore) checkHealthy(t *testing.T) {
	t.Helper()
	st, err := ms.Scrub(context.Background(), ScrubOptions{}, func(r ScrubResult) error {
		if r.Health != Healthy {
			t.Errorf("scrub: %s", r)
		}
		return nil
	})
	if err != nil || st.Healthy != st.Checked || st.Checked < int64(len(ms.data)) {
		t.Fatalf("scrub = %+v, %v; want every version healthy", st, err)
	}
}

func (ms *faultStore) backend(name string) backend.Backend {
	b, _ := ms.Backend(name)
	return b
}

func (ms *faultStore) shard(t *testing.T, key string, i int) (backend.Backend, string) {
	t.Helper()
	info, err := ms.Stat(context.Background(), "lake", key, StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seg := info.Manifest.Segments[0]
	return ms.backend(seg.Backends[i]), shardName(seg.ID, i)
}

func countBlobs(t *testing.T, b backend.Backend) int {
	t.Helper()
	n := 0
	if err := b.List(context.Background(), "", func(backend.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFaultShardsDamagedOutOfBand(t *testing.T) {
	ctx := context.Background()
	ms := newFaultStore(t)
	for i := range 6 {
		ms.put(t, fmt.Sprintf("obj-%d", i), 1<<20+i*333_333)
	}
	type damage struct {
		key   string
		shard int
		how   string
	}
	damages := []damage{{"obj-0", 0, "delete"}, {"obj-1", 1, "flip"}, {"obj-2", 4, "truncate"}, {"obj-3", 2, "swap"}, {"obj-4", 5, "flip"}, {"obj-4", 3, "delete"}}
	orig := map[string][]byte{}
	for _, d := range damages {
		b, name := ms.shard(t, d.key, d.shard)
		p := blob(t, b, name)
		orig[d.key+"/"+fmt.Sprint(d.shard)] = bytes.Clone(p)
		switch d.how {
		case "delete":
			if err := b.Delete(ctx, name); err != nil {
				t.Fatal(err)
			}
		case "flip":
			p[len(p)/2] ^= 0x01
			putBlob(t, b, name, p)
		case "truncate":
			putBlob(t, b, name, p[:len(p)-4096])
		case "swap":
			// The same shard index of another object: valid checksums, wrong data.
			ob, oname := ms.shard(t, "obj-5", d.shard)
			putBlob(t, b, name, blob(t, ob, oname))
		}
	}
	ms.checkReads(t, true)

	var found []string
	st, err := ms.Scrub(ctx, ScrubOptions{}, func(r ScrubResult) error {
		for _, s := range r.Shards {
			found = append(found, fmt.Sprintf("%s/%d:%s", r.Key, s.Index, s.Issue))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "[obj-0/0:missing obj-1/1:corrupt obj-2/4:corrupt obj-3/2:corrupt obj-4/3:missing obj-4/5:corrupt]"
	if fmt.Sprint(sortedStrings(found)) != want || st.Repairable != 5 || st.AtRisk != 1 {
		t.Fatalf("scrub found %v (%+v); want %s, one at risk", sortedStrings(found), st, want)
	}
	rst := mustRepair(t, ms.Store, &RepairOptions{Scan: ScanNone})
	if rst.Repaired != 5 || rst.Shards != 6 || rst.QueueLeft != 0 {
		t.Fatalf("repair = %+v; want 5 versions, 6 shards", rst)
	}
	for _, d := range damages {
		b, name := ms.shard(t, d.key, d.shard)
		if got := blob(t, b, name); !bytes.Equal(got, orig[d.key+"/"+fmt.Sprint(d.shard)]) {
			t.Errorf("%s shard %d (%s) after repair differs from the original", d.key, d.shard, d.how)
		}
	}
	ms.checkHealthy(t)
	ms.checkReads(t, false)
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestFaultWipedServer: a server restarts with an empty disk. Until its
// bucket exists again repair can do nothing and says so; then it rebuilds
// every shard and manifest piece the server held.
func TestFaultWipedServer(t *testing.T) {
	ctx := context.Background()
	ms := newFaultStore(t)
	for i := range 10 {
		ms.put(t, fmt.Sprintf("obj-%d", i), 300_000*i+1)
	}
	if _, err := ms.Delete(ctx, "lake", "obj-9", "test"); err != nil {
		t.Fatal(err)
	}
	delete(ms.data, "obj-9")
	lost := ms.names[3]
	before := countBlobs(t, ms.backend(lost))
	ms.servers[3].Wipe()
	ms.checkReads(t, true)

	st := mustRepair(t, ms.Store, nil)
	if st.Deferred == 0 || st.Unreadable != 0 || st.Shards != 0 {
		t.Fatalf("repair while the bucket is missing = %+v; want everything deferred, nothing unreadable", st)
	}
	if err := ms.servers[3].CreateBucket(ctx, ms.servers[3].Bucket()); err != nil {
		t.Fatal(err)
	}
	st = mustRepair(t, ms.Store, &RepairOptions{RetryDeferred: true})
	// obj-0 (one byte) lives inline in its manifest pieces: nine objects
	// had a shard there.
	if st.Deferred != 0 || st.Unreadable != 0 || st.Shards != 9 || st.QueueLeft != 0 {
		t.Fatalf("repair after the bucket is back = %+v; want 9 shards rebuilt, nothing left", st)
	}
	if after := countBlobs(t, ms.backend(lost)); after != before {
		t.Fatalf("%s holds %d blobs after repair; it held %d before the wipe", lost, after, before)
	}
	ms.checkHealthy(t)
	ms.checkReads(t, false)
}

// slowWriter hands what it gets to w in small steps, so that a read lasts
// long enough for servers to be stopped while it runs.
type slowWriter struct {
	w     io.Writer
	n     atomic.Int64
	pause time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.pause)
	s.n.Add(int64(len(p)))
	return s.w.Write(p)
}

// TestFaultRegionStoppedDuringGet stops a whole region while a long read
// streams; the read finishes with the exact bytes.
func TestFaultRegionStoppedDuringGet(t *testing.T) {
	ctx := context.Background()
	ms := newFaultStore(t)
	info := ms.put(t, "big", 24<<20+17)
	want := ms.data["big"]
	for _, region := range []int{0, 2} { // region-a (servers 0, 1), region-b (2, 3)
		var buf bytes.Buffer
		sw := &slowWriter{w: &buf, pause: 2 * time.Millisecond}
		done := make(chan error, 1)
		go func() {
			_, err := ms.Read(ctx, info, sw, 0, -1)
			done <- err
		}()
		for sw.n.Load() < 2<<20 {
			time.Sleep(time.Millisecond)
		}
		ms.servers[region].Stop()
		ms.servers[region+1].Stop()
		at := sw.n.Load()
		err := <-done
		if err != nil {
			t.Fatalf("read with region %d stopped at byte %d: %v", region/2, at, err)
		}
		if at >= int64(len(want)) {
			t.Fatalf("the read was over before the region stopped; make it slower")
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("read with a region stopped mid-way: %d bytes, differ from the %d written", buf.Len(), len(want))
		}
		// A range read while the region is still down.
		var part bytes.Buffer
		if _, err := ms.Read(ctx, info, &part, 5<<20+3, 3<<20); err != nil || !bytes.Equal(part.Bytes(), want[5<<20+3:8<<20+3]) {
			t.Fatalf("range read with the region down: %v", err)
		}
		ms.servers[region].Start()
		ms.servers[region+1].Start()
	}
	ms.checkReads(t, false)
}

// slowReader yields size random bytes in small steps and records them.
type slowReader struct {
	left  int
	pause time.Duration
	got   bytes.Buffer
	n     atomic.Int64
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := min(len(p), r.left, 64<<10)
	copy(p, random(n))
	r.got.Write(p[:n])
	r.left -= n
	r.n.Add(int64(n))
	return n, nil
}

// TestFaultRegionStoppedDuringPut stops a region while a put streams: the
// put lands on the other four (write_quorum 4) and is acknowledged as
// under-protected; when the region is back, repair adds the missing shards.
func TestFaultRegionStoppedDuringPut(t *testing.T) {
	ctx := context.Background()
	ms := newFaultStore(t)
	ms.put(t, "before", 1<<20)
	r := &slowReader{left: 16 << 20, pause: 3 * time.Millisecond}
	type result struct {
		info *ObjectInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := ms.Put(ctx, "lake", "during", r, &PutOptions{Size: 16 << 20, SizeKnown: true})
		done <- result{info, err}
	}()
	for r.n.Load() < 3<<20 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for _, i := range []int{4, 5} {
		wg.Go(func() { ms.servers[i].Stop() })
	}
	wg.Wait()
	res := <-done
	if res.err != nil {
		t.Fatalf("put with a region stopped mid-way: %v", res.err)
	}
	if r.left != 0 {
		t.Fatal("the put ended before its body was read")
	}
	ms.data["during"] = r.got.Bytes()
	if res.info.Protected || res.info.Shards != 4 {
		t.Fatalf("put with a region down: protected %v, %d shards; want under-protected with 4", res.info.Protected, res.info.Shards)
	}
	ms.checkReads(t, true)
	// While the region is down, repair can only wait.
	if st := mustRepair(t, ms.Store, &RepairOptions{Scan: ScanNone}); st.Deferred != 1 || st.Shards != 0 {
		t.Fatalf("repair with the region down = %+v; want the write deferred", st)
	}
	for _, i := range []int{4, 5} {
		wg.Go(func() { ms.servers[i].Start() })
	}
	wg.Wait()
	st := mustRepair(t, ms.Store, &RepairOptions{Scan: ScanNone, RetryDeferred: true})
	if st.Repaired != 1 || st.Shards != 2 || st.Revised != 1 {
		t.Fatalf("repair with the region back = %+v; want 2 shards added and the manifest revised", st)
	}
	info, err := ms.Stat(ctx, "lake", "during", StatOptions{})
	if err != nil || !info.Protected || info.Shards != 6 {
		t.Fatalf("after repair: %+v, %v; want fully protected", info, err)
	}
	ms.checkHealthy(t)
	ms.checkReads(t, false)
	// The revised manifest is what an index rebuilt from the servers holds.
	checkRebuiltHas(t, ms.Store, "during")
}

// checkRebuiltHas rebuilds an index from the backends and checks it holds
// the same manifest for key as the live index.
func checkRebuiltHas(t *testing.T, s *Store, key string) {
	t.Helper()
	ctx := context.Background()
	info, err := s.Stat(ctx, "lake", key, StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := sqlite.Open(filepath.Join(t.TempDir(), "rebuilt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if st, err := s.RebuildIndex(ctx, idx, nil); err != nil || st.Unreadable != 0 {
		t.Fatalf("RebuildIndex = %+v, %v", st, err)
	}
	v, err := idx.Version(ctx, "lake", key, info.ID)
	if err != nil || !bytes.Equal(v.Manifest, info.Version.Manifest) {
		t.Fatalf("rebuilt index: %v; want the manifest the live index holds", err)
	}
}
