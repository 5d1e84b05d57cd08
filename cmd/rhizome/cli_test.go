package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests drive the built binary, as a user would.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rhizome-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "rhizome")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building rhizome: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// rz runs the binary against the store in dir with stdin.
func rz(t testing.TB, dir string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--dir", dir}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{so.String(), se.String(), code}
}

func mustRZ(t testing.TB, dir string, stdin []byte, args ...string) result {
	t.Helper()
	r := rz(t, dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("rhizome %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	mustRZ(t, dir, nil, "init", "--block-size", "64KiB")
	return dir
}

func backendDir(dir, name string) string { return filepath.Join(dir, "backends", name) }

var allBackends = []string{"region-a-1", "region-a-2", "region-b-1", "region-b-2", "region-c-1", "region-c-2"}

// takeDown makes backends unusable the way a lost disk or unmounted volume
// looks: the directory is gone and a file stands in its place.
func takeDown(t *testing.T, dir string, names ...string) (restore func()) {
	t.Helper()
	for _, n := range names {
		p := backendDir(dir, n)
		if err := os.Rename(p, p+".away"); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, []byte("not a directory"), 0o644)
	}
	return func() {
		for _, n := range names {
			p := backendDir(dir, n)
			os.Remove(p)
			if err := os.Rename(p+".away", p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRoundTripSizes(t *testing.T) {
	dir := newStore(t)
	for _, n := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 5<<20 + 17} {
		data := randBytes(t, n)
		key := fmt.Sprintf("lake/obj-%d", n)
		mustRZ(t, dir, data, "put", key, "-")
		got := mustRZ(t, dir, nil, "get", key, "-").stdout
		if got != string(data) {
			t.Fatalf("get %s: %d bytes back, want %d identical bytes", key, len(got), n)
		}
	}
	// From a file to a file.
	src := filepath.Join(t.TempDir(), "in.bin")
	data := randBytes(t, 300<<10)
	os.WriteFile(src, data, 0o644)
	mustRZ(t, dir, nil, "put", "lake/file.bin", src)
	dst := filepath.Join(t.TempDir(), "out.bin")
	mustRZ(t, dir, nil, "get", "lake/file.bin", dst)
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("get to file: content differs")
	}
}

func TestVersionsAsOfAndDelete(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, []byte("v1"), "put", "lake/k", "-")
	time.Sleep(20 * time.Millisecond)
	between := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	mustRZ(t, dir, []byte("v2"), "put", "lake/k", "-")
	if got := mustRZ(t, dir, nil, "get", "lake/k").stdout; got != "v2" {
		t.Fatalf("get = %q; want v2", got)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/k", "--as-of", between.Format(time.RFC3339Nano)).stdout; got != "v1" {
		t.Fatalf("get --as-of = %q; want v1", got)
	}
	var vs []map[string]any
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "versions", "lake/k", "--json").stdout), &vs)
	if len(vs) != 2 {
		t.Fatalf("versions = %v; want 2", vs)
	}
	oldID := vs[1]["version_id"].(string)
	if got := mustRZ(t, dir, nil, "get", "lake/k", "--version", oldID).stdout; got != "v1" {
		t.Fatalf("get --version = %q; want v1", got)
	}
	mustRZ(t, dir, nil, "rm", "lake/k")
	r := rz(t, dir, nil, "get", "lake/k")
	if r.code != exitNotFound || !strings.Contains(r.stderr, "delete marker") {
		t.Fatalf("get after rm: exit %d, stderr %q; want 3 and a delete-marker note", r.code, r.stderr)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/k", "--version", oldID).stdout; got != "v1" {
		t.Fatal("old version unreadable after rm")
	}
	if out := mustRZ(t, dir, nil, "ls", "lake").stdout; strings.Contains(out, " k\n") {
		t.Fatalf("ls after rm still lists k:\n%s", out)
	}
	lv := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout
	if strings.Count(lv, "\n") != 3 || !strings.Contains(lv, "(deleted)") {
		t.Fatalf("ls --versions:\n%s\nwant 2 versions and a delete marker", lv)
	}
	if out := mustRZ(t, dir, nil, "ls", "lake", "--as-of", between.Format(time.RFC3339Nano)).stdout; !strings.Contains(out, " k\n") {
		t.Fatalf("ls --as-of before rm does not list k:\n%s", out)
	}
}

func TestPutRecursiveAndList(t *testing.T) {
	dir := newStore(t)
	src := t.TempDir()
	want := map[string][]byte{}
	for _, p := range []string{"a.csv", "sub/b.csv", "sub/deep/c.parquet"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		data := randBytes(t, 1000+len(p))
		os.WriteFile(filepath.Join(src, p), data, 0o644)
		want["tables/"+p] = data
	}
	mustRZ(t, dir, nil, "put", "-r", src, "lake/tables")
	var ls []map[string]any
	if err := json.Unmarshal([]byte(mustRZ(t, dir, nil, "ls", "lake/tables/", "--json").stdout), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls) != 3 {
		t.Fatalf("ls = %d entries; want 3", len(ls))
	}
	for i, e := range ls {
		key := e["key"].(string)
		if i > 0 && key < ls[i-1]["key"].(string) {
			t.Fatalf("ls not ordered: %v", ls)
		}
		if got := mustRZ(t, dir, nil, "get", "lake/"+key).stdout; got != string(want[key]) {
			t.Fatalf("get %s differs", key)
		}
	}
}

func TestAnyTwoBackendsLost(t *testing.T) {
	dir := newStore(t)
	data := randBytes(t, 700<<10)
	mustRZ(t, dir, data, "put", "lake/x", "-")
	for i := 0; i < len(allBackends); i++ {
		for j := i + 1; j < len(allBackends); j++ {
			restore := takeDown(t, dir, allBackends[i], allBackends[j])
			r := rz(t, dir, nil, "get", "lake/x")
			restore()
			if r.code != 0 || r.stdout != string(data) {
				t.Fatalf("%s and %s down: exit %d, %d bytes; want identical data\n%s", allBackends[i], allBackends[j], r.code, len(r.stdout), r.stderr)
			}
		}
	}
}

func TestRegionLoss(t *testing.T) {
	dir := newStore(t)
	data := randBytes(t, 2<<20)
	mustRZ(t, dir, data, "put", "lake/x", "-")
	// Regions holding a data shard: losing one forces parity, a degraded read.
	var st struct {
		Shards []struct {
			Region string
			Parity bool
		} `json:"shard_locations"`
	}
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "stat", "lake/x", "--json").stdout), &st)
	holdsData := map[string]bool{}
	for _, sh := range st.Shards {
		if !sh.Parity {
			holdsData[sh.Region] = true
		}
	}
	for _, region := range []string{"a", "b", "c"} {
		restore := takeDown(t, dir, "region-"+region+"-1", "region-"+region+"-2")
		r := rz(t, dir, nil, "get", "lake/x")
		st := rz(t, dir, nil, "status")
		restore()
		if r.code != 0 || r.stdout != string(data) {
			t.Fatalf("region-%s lost: exit %d; want identical data\n%s", region, r.code, r.stderr)
		}
		if degraded := strings.Contains(r.stderr, "degraded read"); degraded != holdsData["region-"+region] {
			t.Fatalf("region-%s lost (holds data shards: %v): stderr %q; degraded note expected exactly when data shards were lost",
				region, holdsData["region-"+region], r.stderr)
		}
		if strings.Count(st.stdout, " NO ") != 2 {
			t.Fatalf("status with region-%s down:\n%s\nwant two unreachable backends", region, st.stdout)
		}
	}
}

func TestWriteQuorum(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, []byte("old"), "put", "lake/k", "-")
	before := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout

	// Two backends down: 4 < k+1, the write must fail and leave nothing.
	restore := takeDown(t, dir, "region-a-1", "region-b-2")
	r := rz(t, dir, randBytes(t, 200<<10), "put", "lake/k", "-")
	restore()
	if r.code != exitUnavailable || !strings.Contains(r.stderr, "write_quorum") {
		t.Fatalf("put with 2 down: exit %d, stderr %q; want exit 4 naming write_quorum", r.code, r.stderr)
	}
	if after := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout; after != before {
		t.Fatalf("a failed put changed the listing:\nbefore %s\nafter %s", before, after)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/k").stdout; got != "old" {
		t.Fatalf("get after failed put = %q; want old", got)
	}
	if gc := mustRZ(t, dir, nil, "gc", "--grace", "0s", "--json").stdout; !strings.Contains(gc, `"Shards": 0`) {
		t.Fatalf("failed put left shards behind: %s", gc)
	}

	// One backend down: k+1 shards land, the write succeeds under-protected.
	restore = takeDown(t, dir, "region-c-1")
	data := randBytes(t, 200<<10)
	r = mustRZ(t, dir, data, "put", "lake/k", "-")
	restore()
	if !strings.Contains(r.stderr, "under-protected") {
		t.Fatalf("put with one down: stderr %q does not warn of under-protection", r.stderr)
	}
	stat := mustRZ(t, dir, nil, "stat", "lake/k").stdout
	if !strings.Contains(stat, "under-protected") || !strings.Contains(stat, "MISSING") {
		t.Fatalf("stat does not show under-protection:\n%s", stat)
	}
	var st struct{ UnderProtect int64 }
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "status", "--json").stdout), &st)
	if st.UnderProtect != 1 {
		t.Fatalf("status under-protected = %d; want 1", st.UnderProtect)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/k").stdout; got != string(data) {
		t.Fatal("under-protected version reads back wrong")
	}
}

// shardFile finds the file of shard i of the current version of key.
func shardFile(t *testing.T, dir, key string, i int) string {
	t.Helper()
	var st struct {
		VersionID string `json:"version_id"`
		Shards    []struct {
			Index   int
			Backend string
		} `json:"shard_locations"`
	}
	if err := json.Unmarshal([]byte(mustRZ(t, dir, nil, "stat", key, "--json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	b := st.Shards[i].Backend
	p := filepath.Join(backendDir(dir, b), "d", st.VersionID[30:], fmt.Sprintf("%s.%d", st.VersionID, i))
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCorruptShards(t *testing.T) {
	dir := newStore(t)
	data := randBytes(t, 1<<20)
	mustRZ(t, dir, data, "put", "lake/x", "-")

	flip := shardFile(t, dir, "lake/x", 0)
	b, _ := os.ReadFile(flip)
	b[len(b)/2] ^= 0x10
	os.WriteFile(flip, b, 0o644)
	trunc := shardFile(t, dir, "lake/x", 5)
	os.Truncate(trunc, 1000)

	r := mustRZ(t, dir, nil, "get", "lake/x")
	if r.stdout != string(data) {
		t.Fatal("get with a flipped bit and a truncated shard: data differs")
	}
	if !strings.Contains(r.stderr, "shard 0") || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("get stderr %q does not name the corrupt shard", r.stderr)
	}
	v := rz(t, dir, nil, "verify")
	if v.code != 0 || !strings.Contains(v.stdout, "shard 0") || !strings.Contains(v.stdout, "shard 5") || !strings.Contains(v.stdout, "1 damaged") {
		t.Fatalf("verify exit %d:\n%s\nwant shards 0 and 5 named, exit 0 (repairable)", v.code, v.stdout)
	}
	// A third damaged shard is one more than m: unreadable, exit 5, no data.
	third := shardFile(t, dir, "lake/x", 2)
	os.Truncate(third, 100)
	v = rz(t, dir, nil, "verify")
	if v.code != exitCorrupt || !strings.Contains(v.stdout, "1 unreadable") {
		t.Fatalf("verify with 3 damaged: exit %d\n%s\nwant exit 5 and 1 unreadable", v.code, v.stdout)
	}
	dst := filepath.Join(t.TempDir(), "out")
	g := rz(t, dir, nil, "get", "lake/x", dst)
	if g.code == 0 {
		t.Fatal("get with 3 of 6 shards damaged succeeded")
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("failed get left a partial output file")
	}
}

func TestTamperedManifestAndSwappedShard(t *testing.T) {
	dir := newStore(t)
	a, b := randBytes(t, 200<<10), randBytes(t, 200<<10)
	mustRZ(t, dir, a, "put", "lake/a", "-")
	mustRZ(t, dir, b, "put", "lake/b", "-")

	// Copy shard 1 of b over shard 1 of a (same size, valid checksums).
	sa, sb := shardFile(t, dir, "lake/a", 1), shardFile(t, dir, "lake/b", 1)
	data, _ := os.ReadFile(sb)
	os.WriteFile(sa, data, 0o644)
	r := mustRZ(t, dir, nil, "get", "lake/a")
	if r.stdout != string(a) {
		t.Fatal("get with a shard swapped in from another version returned wrong data")
	}
	if v := rz(t, dir, nil, "verify", "lake/a"); !strings.Contains(v.stdout, "shard 1") {
		t.Fatalf("verify does not name the swapped shard:\n%s", v.stdout)
	}

	// Edit every manifest piece of b on the backends: the index rebuild must
	// refuse it, never list a forged version.
	var st struct {
		VersionID string `json:"version_id"`
	}
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "stat", "lake/b", "--json").stdout), &st)
	pieces, _ := filepath.Glob(filepath.Join(dir, "backends", "*", "m", st.VersionID[30:], st.VersionID+".*"))
	if len(pieces) != 6 {
		t.Fatalf("found %d manifest pieces of b; want 6", len(pieces))
	}
	for _, p := range pieces {
		raw, _ := os.ReadFile(p)
		raw[len(raw)-5] ^= 0x01
		os.WriteFile(p, raw, 0o644)
	}
	v := rz(t, dir, nil, "verify", "lake/b")
	if !strings.Contains(v.stdout, "manifest pieces") {
		t.Fatalf("verify does not report tampered manifest pieces:\n%s", v.stdout)
	}
	os.Remove(filepath.Join(dir, "index.db"))
	rb := mustRZ(t, dir, nil, "index", "rebuild", "--json").stdout
	if !strings.Contains(rb, `"Unreadable": 1`) {
		t.Fatalf("rebuild did not count the tampered manifest as unreadable: %s", rb)
	}
	if g := rz(t, dir, nil, "get", "lake/b"); g.code != exitNotFound {
		t.Fatalf("get of a version with a tampered manifest: exit %d; want 3 (refused)", g.code)
	}
	if g := mustRZ(t, dir, nil, "get", "lake/a"); g.stdout != string(a) {
		t.Fatal("untouched object lost in rebuild")
	}
}

func TestIndexRebuild(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, nil, "mb", "empty-bucket")
	for i := 0; i < 5; i++ {
		mustRZ(t, dir, randBytes(t, 10_000*i), "put", fmt.Sprintf("lake/p/%d", i%3), "-")
	}
	mustRZ(t, dir, nil, "rm", "lake/p/1")
	before := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout
	buckets := mustRZ(t, dir, nil, "ls").stdout
	for _, down := range [][]string{nil, {"region-b-1", "region-b-2"}} {
		os.Remove(filepath.Join(dir, "index.db"))
		restore := func() {}
		if down != nil {
			restore = takeDown(t, dir, down...)
		}
		mustRZ(t, dir, nil, "index", "rebuild")
		restore()
		if after := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout; after != before {
			t.Fatalf("rebuild with %v down: ls --versions differs\nbefore:\n%s\nafter:\n%s", down, before, after)
		}
		if got := mustRZ(t, dir, nil, "ls").stdout; got != buckets {
			t.Fatalf("rebuild lost buckets:\n%s\nwant\n%s", got, buckets)
		}
	}
	restore := takeDown(t, dir, "region-a-1", "region-b-1", "region-c-1")
	r := rz(t, dir, nil, "index", "rebuild")
	restore()
	if r.code != exitUnavailable {
		t.Fatalf("rebuild with 3 backends: exit %d; want 4", r.code)
	}
}

func TestBadInput(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, []byte("x"), "put", "lake/k", "-")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad bucket", []string{"put", "Bad_Bucket/k", "-"}, exitUsage, "not allowed"},
		{"no key", []string{"get", "lake"}, exitUsage, "names no key"},
		{"missing file", []string{"put", "lake/k", "/no/such/file"}, exitUsage, "cannot read"},
		{"unknown version", []string{"get", "lake/k", "--version", "18ea395d036c4f4d6a91f6502088b9be"}, exitNotFound, "no version"},
		{"malformed version", []string{"get", "lake/k", "--version", "nope"}, exitUsage, "not a Rhizome version ID"},
		{"as-of before key", []string{"get", "lake/k", "--as-of", "2001-01-01T00:00:00Z"}, exitNotFound, "did not exist at"},
		{"bad time", []string{"get", "lake/k", "--as-of", "yesterday"}, exitUsage, "RFC 3339"},
		{"no such key", []string{"get", "lake/nothing"}, exitNotFound, "no such key"},
		{"no such bucket", []string{"get", "nobucket/k"}, exitNotFound, "no such bucket"},
		{"unknown flag", []string{"get", "lake/k", "--verison", "x"}, exitUsage, "unknown flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rz(t, dir, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.code, tc.msg)
			}
		})
	}
	// A config with a typo is refused with its line.
	cfg := filepath.Join(dir, "rhizome.yaml")
	raw, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(raw, []byte("block_size:"), []byte("blok_size:"), 1), 0o644)
	r := rz(t, dir, nil, "ls")
	if r.code != exitUsage || !strings.Contains(r.stderr, "blok_size") || !strings.Contains(r.stderr, "line") {
		t.Fatalf("config typo: exit %d, stderr %q; want exit 2 naming the field and line", r.code, r.stderr)
	}
	// An impossible layout is refused naming the problem.
	bad := filepath.Join(t.TempDir(), "s")
	r = rz(t, bad, nil, "init", "--backends", "4", "--regions", "2")
	if r.code != exitUsage || !strings.Contains(r.stderr, "k+m=6") {
		t.Fatalf("init with 4 backends: exit %d, stderr %q", r.code, r.stderr)
	}
	r = rz(t, bad, nil, "init", "--backends", "6", "--regions", "2")
	if r.code != exitUsage || !strings.Contains(r.stderr, "survive: backends") {
		t.Fatalf("init with 2 regions: exit %d, stderr %q; want a pointer to survive: backends", r.code, r.stderr)
	}
	r = mustRZ(t, bad, nil, "init", "--backends", "6", "--regions", "2", "--survive", "backends")
	if !strings.Contains(r.stderr, "warning") {
		t.Fatalf("survive: backends accepted without a warning: %q", r.stderr)
	}
}

func TestKillDuringPut(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, []byte("old"), "put", "lake/k", "-")
	before := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout

	cmd := exec.Command(binPath, "--dir", dir, "put", "lake/k", "-")
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	chunk := randBytes(t, 256<<10)
	for i := 0; i < 12; i++ { // ~3 MiB in, then die mid-stream
		in.Write(chunk)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	if after := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout; after != before {
		t.Fatalf("kill -9 during put changed the versions:\nbefore %s\nafter %s", before, after)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/k").stdout; got != "old" {
		t.Fatalf("get after killed put = %q; want old", got)
	}
	os.Remove(filepath.Join(dir, "index.db"))
	mustRZ(t, dir, nil, "index", "rebuild")
	if after := mustRZ(t, dir, nil, "ls", "lake", "--versions").stdout; after != before {
		t.Fatalf("a killed put became visible after rebuild:\n%s", after)
	}
}

func TestConcurrentWriters(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, nil, "mb", "lake")
	const writers = 4
	payloads := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make([]string, writers)
	for i := range payloads {
		payloads[i] = bytes.Repeat([]byte{byte('a' + i)}, 300<<10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := rz(t, dir, payloads[i], "put", "lake/same", "-"); r.code != 0 {
				errs[i] = r.stderr
			}
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Fatalf("writer %d failed: %s", i, e)
		}
	}
	var vs []map[string]any
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "versions", "lake/same", "--json").stdout), &vs)
	if len(vs) != writers {
		t.Fatalf("%d versions; want %d", len(vs), writers)
	}
	seen := map[byte]bool{}
	for _, v := range vs {
		got := []byte(mustRZ(t, dir, nil, "get", "lake/same", "--version", v["version_id"].(string)).stdout)
		if len(got) != 300<<10 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) {
			t.Fatalf("version %s is not one writer's complete payload", v["version_id"])
		}
		seen[got[0]] = true
	}
	if len(seen) != writers {
		t.Fatalf("versions hold %d distinct payloads; want %d", len(seen), writers)
	}
	cur := mustRZ(t, dir, nil, "get", "lake/same").stdout
	newest := mustRZ(t, dir, nil, "get", "lake/same", "--version", vs[0]["version_id"].(string)).stdout
	if cur != newest {
		t.Fatal("current version is not the newest")
	}
}

func TestDefaultStoreWithoutInit(t *testing.T) {
	work := t.TempDir()
	cmd := exec.Command(binPath, "put", "lake/hello.txt", "-")
	cmd.Dir = work
	cmd.Stdin = strings.NewReader("hello")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("put with no store: %v\n%s", err, out)
	}
	for _, n := range allBackends {
		if _, err := os.Stat(filepath.Join(work, "rhizome-data", "backends", n)); err != nil {
			t.Fatalf("default store lacks backend %s: %v", n, err)
		}
	}
	cmd = exec.Command(binPath, "get", "lake/hello.txt")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "RHIZOME_DIR=")
	out, err := cmd.Output()
	if err != nil || string(out) != "hello" {
		t.Fatalf("get = %q, %v; want hello", out, err)
	}
	// RHIZOME_DIR points elsewhere.
	other := filepath.Join(t.TempDir(), "elsewhere")
	cmd = exec.Command(binPath, "put", "lake/x", "-")
	cmd.Env = append(os.Environ(), "RHIZOME_DIR="+other)
	cmd.Stdin = strings.NewReader("x")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("put with RHIZOME_DIR: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(other, "rhizome.yaml")); err != nil {
		t.Fatal("RHIZOME_DIR not used")
	}
}

func TestBackendsSeeNoNames(t *testing.T) {
	dir := newStore(t)
	secret := "very-secret-key-name.csv"
	mustRZ(t, dir, []byte("plaintext-marker-0123456789"), "put", "confidential/"+secret, "-")
	filepath.Walk(filepath.Join(dir, "backends"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		if strings.Contains(p, "secret") || strings.Contains(p, "confidential") {
			t.Fatalf("backend path reveals a name: %s", p)
		}
		raw, _ := os.ReadFile(p)
		for _, s := range []string{secret, "confidential", "plaintext-marker"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("%s holds %q in the clear", p, s)
			}
		}
		return nil
	})
}

func TestVerifyCatchesAppendedBytes(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, randBytes(t, 100<<10), "put", "lake/x", "-")
	f := shardFile(t, dir, "lake/x", 3)
	fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte("trailing garbage"))
	fh.Close()
	v := rz(t, dir, nil, "verify")
	if !strings.Contains(v.stdout, "shard 3") || !strings.Contains(v.stdout, "1 damaged") {
		t.Fatalf("verify does not report a shard with appended bytes:\n%s", v.stdout)
	}
}

func TestCheckpointDiffRollback(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, []byte("a1"), "put", "lake/t/a.csv", "-")
	// Larger than inline_max, so b has shard files to damage below.
	b1 := strings.Repeat("b1\n", 3000)
	mustRZ(t, dir, []byte(b1), "put", "lake/t/b.csv", "-")
	out := mustRZ(t, dir, nil, "checkpoint", "create", "lake/t/", "good").stdout
	if !strings.Contains(out, "2 keys") || !strings.Contains(out, "lake--cp-good") {
		t.Fatalf("checkpoint create:\n%s", out)
	}
	mustRZ(t, dir, []byte("a2-poisoned"), "put", "lake/t/a.csv", "-")
	mustRZ(t, dir, nil, "rm", "lake/t/b.csv")
	mustRZ(t, dir, []byte("c"), "put", "lake/t/c.csv", "-")

	diff := mustRZ(t, dir, nil, "diff", "lake/t/", "--from", "good").stdout
	for _, want := range []string{"changed  t/a.csv", "deleted  t/b.csv", "added    t/c.csv", "3 keys differ"} {
		if !strings.Contains(diff, want) {
			t.Fatalf("diff lacks %q:\n%s", want, diff)
		}
	}
	dry := mustRZ(t, dir, nil, "rollback", "lake/t/", "--to", "good", "--dry-run").stdout
	if !strings.Contains(dry, "3 keys would change") || mustRZ(t, dir, nil, "get", "lake/t/a.csv").stdout != "a2-poisoned" {
		t.Fatalf("dry run:\n%s", dry)
	}
	rb := mustRZ(t, dir, nil, "rollback", "lake/t/", "--to", "good").stdout
	if got := mustRZ(t, dir, nil, "get", "lake/t/a.csv").stdout; got != "a1" {
		t.Fatalf("after rollback a = %q; want a1\n%s", got, rb)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/t/b.csv").stdout; got != b1 {
		t.Fatalf("after rollback b = %.20q...; want the checkpointed b", got)
	}
	if r := rz(t, dir, nil, "get", "lake/t/c.csv"); r.code != exitNotFound {
		t.Fatalf("c after rollback: exit %d; want 3", r.code)
	}
	// The printed undo command restores the poisoned state.
	i := strings.Index(rb, "undo with: ")
	if i < 0 {
		t.Fatalf("no undo hint:\n%s", rb)
	}
	undo := strings.Fields(rb[i+len("undo with: "):])
	mustRZ(t, dir, nil, undo[1:]...)
	if got := mustRZ(t, dir, nil, "get", "lake/t/a.csv").stdout; got != "a2-poisoned" {
		t.Fatalf("after undo a = %q; want a2-poisoned", got)
	}
	if v := rz(t, dir, nil, "checkpoint", "verify", "good"); v.code != 0 || !strings.Contains(v.stdout, "intact") {
		t.Fatalf("checkpoint verify: exit %d\n%s", v.code, v.stdout)
	}
	// Damage three shards of a checkpointed version: verify fails with exit 5.
	var vs []map[string]any
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "versions", "lake/t/b.csv", "--json").stdout), &vs)
	old := vs[len(vs)-1]["version_id"].(string)
	files, _ := filepath.Glob(filepath.Join(dir, "backends", "*", "d", old[30:], old+".*"))
	for _, f := range files[:3] {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	if v := rz(t, dir, nil, "checkpoint", "verify", "good"); v.code != exitCorrupt || !strings.Contains(v.stdout, "NOT INTACT") {
		t.Fatalf("verify of a damaged checkpoint: exit %d\n%s", v.code, v.stdout)
	}
	if r := rz(t, dir, nil, "rollback", "lake/t/", "--to", "nosuch"); r.code != exitNotFound || !strings.Contains(r.stderr, "neither a checkpoint nor a time") {
		t.Fatalf("rollback to an unknown name: exit %d %s", r.code, r.stderr)
	}
}

func csvPartition(seed, rows int) []byte {
	var b strings.Builder
	b.WriteString("id,length,species\n")
	names := []string{"adelie", "gentoo", "chinstrap"}
	x := uint32(seed*7919 + 1)
	for i := 0; i < rows; i++ {
		x = x*1664525 + 1013904223
		sp := int(x>>16) % 3
		fmt.Fprintf(&b, "%d,%.2f,%s\n", i, 40+5*float64(sp)+float64(x%1000)/250, names[sp])
	}
	return []byte(b.String())
}

func TestGuardQuarantineCLI(t *testing.T) {
	dir := newStore(t)
	cfg := filepath.Join(dir, "rhizome.yaml")
	raw, _ := os.ReadFile(cfg)
	if !bytes.Contains(raw, []byte("guard:\n")) {
		t.Fatalf("init wrote no guard section:\n%s", raw)
	}
	raw = bytes.Replace(raw, []byte("guard:\n"), []byte("guard:\n    policies:\n        - prefix: lake/t/\n          mode: quarantine\n"), 1)
	os.WriteFile(cfg, raw, 0o644)
	for i := 0; i < 8; i++ {
		mustRZ(t, dir, csvPartition(i, 200), "put", fmt.Sprintf("lake/t/day%d.csv", i), "-")
	}
	if out := mustRZ(t, dir, nil, "guard", "alerts").stdout; !strings.Contains(out, "no alerts") {
		t.Fatalf("benign partitions raised alerts:\n%s", out)
	}
	r := mustRZ(t, dir, randBytes(t, 5000), "put", "lake/t/day3.csv", "-", "--json")
	var put map[string]any
	json.Unmarshal([]byte(r.stdout), &put)
	vid := put["version_id"].(string)
	if put["quarantined"] != true {
		t.Fatalf("encrypted overwrite not quarantined: %s", r.stdout)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/t/day3.csv").stdout; got != string(csvPartition(3, 200)) {
		t.Fatal("get serves the quarantined version")
	}
	alerts := mustRZ(t, dir, nil, "guard", "alerts").stdout
	if !strings.Contains(alerts, vid) || !strings.Contains(alerts, "ransomware") {
		t.Fatalf("guard alerts:\n%s", alerts)
	}
	show := mustRZ(t, dir, nil, "guard", "show", vid).stdout
	if !strings.Contains(show, "ransomware") || !strings.Contains(show, "last known-good") || !strings.Contains(show, "approve") {
		t.Fatalf("guard show:\n%s", show)
	}
	mustRZ(t, dir, nil, "guard", "approve", vid)
	if got := mustRZ(t, dir, nil, "get", "lake/t/day3.csv").stdout; got == string(csvPartition(3, 200)) {
		t.Fatal("approved version not served")
	}
	if r := rz(t, dir, nil, "guard", "reject", vid); r.code != exitConflict {
		t.Fatalf("rejecting an approved alert: exit %d; want 6", r.code)
	}
	// Bad policy config is refused.
	raw, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(raw), "mode: quarantine", "mode: panic", 1)), 0o644)
	if r := rz(t, dir, nil, "ls"); r.code != exitUsage || !strings.Contains(r.stderr, "panic") {
		t.Fatalf("bad guard mode: exit %d %s", r.code, r.stderr)
	}
}

// A campaign raises one alert per object; --all decides the matching ones
// at once, --dry-run first shows which.
func TestGuardBulkReview(t *testing.T) {
	dir := newStore(t)
	cfg := filepath.Join(dir, "rhizome.yaml")
	raw, _ := os.ReadFile(cfg)
	raw = bytes.Replace(raw, []byte("guard:\n"), []byte("guard:\n    policies:\n        - prefix: lake/t/\n          mode: quarantine\n"), 1)
	os.WriteFile(cfg, raw, 0o644)
	for i := 0; i < 8; i++ {
		mustRZ(t, dir, csvPartition(i, 200), "put", fmt.Sprintf("lake/t/day%d.csv", i), "-")
	}
	var vids []string
	for _, day := range []int{1, 4, 6} {
		r := mustRZ(t, dir, randBytes(t, 5000), "put", fmt.Sprintf("lake/t/day%d.csv", day), "-", "--json")
		var put map[string]any
		json.Unmarshal([]byte(r.stdout), &put)
		if put["quarantined"] != true {
			t.Fatalf("encrypted overwrite of day%d not quarantined: %s", day, r.stdout)
		}
		vids = append(vids, put["version_id"].(string))
	}
	openAlerts := func() int {
		var as []map[string]any
		json.Unmarshal([]byte(mustRZ(t, dir, nil, "guard", "alerts", "--json").stdout), &as)
		return len(as)
	}

	for _, bad := range [][]string{
		{"guard", "reject"},
		{"guard", "reject", "--prefix", "lake/t/"},
		{"guard", "reject", "--all", vids[0]},
		{"guard", "reject", "--all", "--prefix", "Bad_Bucket"},
	} {
		if r := rz(t, dir, nil, bad...); r.code != exitUsage {
			t.Fatalf("%v: exit %d; want %d\n%s", bad, r.code, exitUsage, r.stderr)
		}
	}
	dry := mustRZ(t, dir, nil, "guard", "reject", "--all", "--signal", "ransomware", "--dry-run").stdout
	if !strings.Contains(dry, "3 open alerts match") || !strings.Contains(dry, vids[2]) || openAlerts() != 3 {
		t.Fatalf("dry run:\n%s", dry)
	}
	if out := mustRZ(t, dir, nil, "guard", "reject", "--all", "--signal", "no_such_signal").stdout; !strings.Contains(out, "rejected 0 of 0") {
		t.Fatalf("a filter matching nothing:\n%s", out)
	}
	one := mustRZ(t, dir, nil, "guard", "reject", "--all", "--prefix", "lake/t/day4", "--identity", "cli").stdout
	if !strings.Contains(one, "rejected 1 of 1") || openAlerts() != 2 {
		t.Fatalf("reject under one prefix:\n%s", one)
	}
	rest := mustRZ(t, dir, nil, "guard", "reject", "--all").stdout
	if !strings.Contains(rest, "rejected 2 of 2") || openAlerts() != 0 {
		t.Fatalf("reject the rest:\n%s", rest)
	}
	for _, day := range []int{1, 4, 6} {
		if got := mustRZ(t, dir, nil, "get", fmt.Sprintf("lake/t/day%d.csv", day)).stdout; got != string(csvPartition(day, 200)) {
			t.Fatalf("day%d after rejecting: not the known-good partition", day)
		}
	}
	var rejected []map[string]any
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "guard", "alerts", "--state", "rejected", "--json").stdout), &rejected)
	if len(rejected) != 3 {
		t.Fatalf("%d rejected alerts; want 3", len(rejected))
	}
	// Named versions still work, several at once; a decided one fails.
	if r := rz(t, dir, nil, "guard", "approve", vids[0], vids[1]); r.code != exitConflict || !strings.Contains(r.stderr, "2 of 2 decisions failed") {
		t.Fatalf("approving rejected versions: exit %d\n%s", r.code, r.stderr)
	}
}

// A flagged write made by the CLI reaches the webhook before the command
// exits: the process waits for its deliveries when it closes the store.
func TestGuardWebhookFromCLI(t *testing.T) {
	got := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // a slow receiver
		var a map[string]any
		json.NewDecoder(r.Body).Decode(&a)
		got <- a
	}))
	defer hook.Close()
	dir := newStore(t)
	cfg := filepath.Join(dir, "rhizome.yaml")
	raw, _ := os.ReadFile(cfg)
	raw = bytes.Replace(raw, []byte("guard:\n"), []byte("guard:\n    webhooks: ["+hook.URL+"]\n"), 1)
	os.WriteFile(cfg, raw, 0o644)
	for i := 0; i < 6; i++ {
		mustRZ(t, dir, csvPartition(i, 200), "put", fmt.Sprintf("lake/t/day%d.csv", i), "-")
	}
	mustRZ(t, dir, randBytes(t, 5000), "put", "lake/t/day2.csv", "-")
	select {
	case a := <-got:
		if a["key"] != "t/day2.csv" || !strings.Contains(fmt.Sprint(a["summary"]), "ransomware") {
			t.Fatalf("webhook got %v", a)
		}
	default:
		t.Fatal("the put exited before its alert reached the webhook")
	}
}

// A small object is inlined: stat says where its copies are, no shard file
// is written, and losing pieces out of band is found by verify and fixed
// by repair like any damage.
func TestInlineCLI(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, []byte("a small object"), "put", "lake/small.txt", "-")
	var st map[string]any
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "stat", "lake/small.txt", "--json").stdout), &st)
	pieces, _ := st["manifest_pieces"].([]any)
	if st["inline"] != true || len(pieces) != 6 || fmt.Sprint(st["shard_locations"]) != "[]" {
		t.Fatalf("stat --json: %v", st)
	}
	if out := mustRZ(t, dir, nil, "stat", "lake/small.txt").stdout; !strings.Contains(out, "inline: the bytes are inside the manifest") {
		t.Fatalf("stat:\n%s", out)
	}
	vid := st["version_id"].(string)
	if shards, _ := filepath.Glob(filepath.Join(dir, "backends", "*", "d", "*", vid+".*")); len(shards) != 0 {
		t.Fatalf("shard files for an inlined object: %v", shards)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "backends", "*", "m", vid[30:], vid+".*"))
	if len(files) != 6 {
		t.Fatalf("%d pieces; want 6", len(files))
	}
	for _, f := range files[:2] {
		os.Remove(f)
	}
	if out := mustRZ(t, dir, nil, "verify").stdout; !strings.Contains(out, "manifest pieces") || !strings.Contains(out, "1 damaged (repairable)") {
		t.Fatalf("verify after losing two pieces:\n%s", out)
	}
	mustRZ(t, dir, nil, "repair", "--full")
	if out := mustRZ(t, dir, nil, "verify").stdout; !strings.Contains(out, "1 healthy, 0 damaged") {
		t.Fatalf("verify after repair:\n%s", out)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/small.txt").stdout; got != "a small object" {
		t.Fatalf("get after repair: %q", got)
	}
}
