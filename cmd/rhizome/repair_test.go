package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// editConfig removes the named backends from the store's rhizome.yaml and
// appends fs backends given as name=region, creating their directories.
func editConfig(t *testing.T, dir string, remove []string, add ...string) {
	t.Helper()
	path := filepath.Join(dir, "rhizome.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, name := range remove {
		re := regexp.MustCompile(`(?m)^    - name: ` + regexp.QuoteMeta(name) + `\n(      .*\n)+`)
		if !re.MatchString(s) {
			t.Fatalf("backend %s not in %s", name, path)
		}
		s = re.ReplaceAllString(s, "")
	}
	for _, nr := range add {
		name, region, _ := strings.Cut(nr, "=")
		entry := fmt.Sprintf("    - name: %s\n      region: %s\n      type: fs\n      path: backends/%s\n", name, region, name)
		s = strings.Replace(s, "backends:\n", "backends:\n"+entry, 1)
		os.MkdirAll(backendDir(dir, name), 0o755)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// putMany stores n objects of varied sizes under lake/obj-i and returns
// their contents.
func putMany(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	src := t.TempDir()
	for i := range n {
		data := randBytes(t, 20_000+i*7_919)
		name := fmt.Sprintf("obj-%03d", i)
		os.WriteFile(filepath.Join(src, name), data, 0o644)
		want["lake/"+name] = data
	}
	mustRZ(t, dir, nil, "put", "-r", src, "lake")
	return want
}

func checkContents(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	for key, data := range want {
		r := rz(t, dir, nil, "get", key, "-")
		if r.code != 0 || r.stdout != string(data) {
			t.Fatalf("get %s: exit %d, %d bytes; want the %d bytes written\n%s", key, r.code, len(r.stdout), len(data), r.stderr)
		}
	}
}

type scrubReport struct {
	Checked, Healthy, Repairable, Unreadable, Queued int64
	Repairables                                      []struct {
		Key    string
		Shards []struct {
			Index   int `json:"shard"`
			Backend string
			Issue   string
		}
	} `json:"repairable_objects"`
}

func scrubJSON(t *testing.T, dir string, args ...string) (scrubReport, result) {
	t.Helper()
	r := rz(t, dir, nil, append([]string{"scrub", "--json"}, args...)...)
	var rep scrubReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("scrub --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	return rep, r
}

func TestScrubRepairCLI(t *testing.T) {
	dir := newStore(t)
	data := map[string][]byte{"lake/a": randBytes(t, 400<<10), "lake/b": randBytes(t, 300<<10), "lake/c": randBytes(t, 200<<10)}
	for k, v := range data {
		mustRZ(t, dir, v, "put", k, "-")
	}
	deleted := shardFile(t, dir, "lake/a", 1)
	flipped := shardFile(t, dir, "lake/b", 3)
	truncated := shardFile(t, dir, "lake/c", 5)
	orig := map[string][]byte{}
	for _, p := range []string{deleted, flipped, truncated} {
		orig[p], _ = os.ReadFile(p)
	}
	os.Remove(deleted)
	b := bytes.Clone(orig[flipped])
	b[len(b)-7] ^= 0x20
	os.WriteFile(flipped, b, 0o644)
	os.Truncate(truncated, int64(len(orig[truncated])-1))

	rep, r := scrubJSON(t, dir)
	if r.code != 0 || rep.Checked != 3 || rep.Repairable != 3 || rep.Healthy != 0 || rep.Queued != 3 {
		t.Fatalf("scrub: exit %d, %+v; want 3 repairable, queued, exit 0\n%s", r.code, rep, r.stdout)
	}
	issues := map[string]string{}
	for _, o := range rep.Repairables {
		for _, s := range o.Shards {
			issues[o.Key] += fmt.Sprintf("%d:%s ", s.Index, s.Issue)
		}
	}
	if issues["a"] != "1:missing " || issues["b"] != "3:corrupt " || issues["c"] != "5:corrupt " {
		t.Fatalf("scrub named %v; want a 1:missing, b 3:corrupt, c 5:corrupt", issues)
	}
	var st struct {
		Protected, UnderProtect, AtRisk, Unreadable, RepairQueue int64
		LastScrub                                                *struct{ Repairable int64 }
	}
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "status", "--json").stdout), &st)
	if st.Protected != 0 || st.UnderProtect != 3 || st.RepairQueue != 3 || st.LastScrub == nil || st.LastScrub.Repairable != 3 {
		t.Fatalf("status after scrub = %+v; want 3 under-protected, 3 queued, the scrub recorded", st)
	}
	if human := mustRZ(t, dir, nil, "status").stdout; !strings.Contains(human, "repair queue: 3") || !strings.Contains(human, "last scrub (full)") {
		t.Fatalf("status does not show the queue and the last scrub:\n%s", human)
	}

	var rp struct {
		Shards    int64 `json:"shards_rebuilt"`
		QueueLeft int64 `json:"queue_left"`
		Results   []struct{ Outcome string }
	}
	out := mustRZ(t, dir, nil, "repair", "--queue-only", "--json")
	if err := json.Unmarshal([]byte(out.stdout), &rp); err != nil || rp.Shards != 3 || rp.QueueLeft != 0 || len(rp.Results) != 3 {
		t.Fatalf("repair --json = %s (%v); want 3 shards rebuilt, empty queue", out.stdout, err)
	}
	for p, want := range orig {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s after repair: %d bytes (%v); want the %d bytes first written", p, len(got), err, len(want))
		}
	}
	checkContents(t, dir, data)
	if rep, r := scrubJSON(t, dir); r.code != 0 || rep.Healthy != 3 {
		t.Fatalf("scrub after repair: exit %d, %+v; want all healthy", r.code, rep)
	}
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "status", "--json").stdout), &st)
	if st.Protected != 3 || st.UnderProtect != 0 {
		t.Fatalf("status after repair = %+v; want 3 fully protected", st)
	}

	// Beyond parity: scrub exits 5, repair too, and says so.
	for _, i := range []int{0, 2, 4} {
		os.Remove(shardFile(t, dir, "lake/c", i))
	}
	if rep, r := scrubJSON(t, dir, "--quick"); r.code != exitCorrupt || rep.Unreadable != 1 {
		t.Fatalf("scrub --quick with 3 shards gone: exit %d, %+v; want exit 5, 1 unreadable", r.code, rep)
	}
	if r := rz(t, dir, nil, "repair"); r.code != exitCorrupt || !strings.Contains(r.stdout, "unreadable") {
		t.Fatalf("repair of an unreadable object: exit %d\n%s; want exit 5", r.code, r.stdout)
	}
}

func TestRepairCLIUnderProtectedAndDown(t *testing.T) {
	dir := newStore(t)
	restore := takeDown(t, dir, "region-c-1")
	data := randBytes(t, 300<<10)
	mustRZ(t, dir, data, "put", "lake/k", "-")
	// Still down: deferred, exit 4.
	r := rz(t, dir, nil, "repair", "--queue-only")
	if r.code != exitUnavailable || !strings.Contains(r.stdout, "deferred") {
		t.Fatalf("repair with the backend down: exit %d\n%s\n%s; want exit 4, deferred", r.code, r.stdout, r.stderr)
	}
	restore()
	mustRZ(t, dir, nil, "repair", "--queue-only")
	stat := mustRZ(t, dir, nil, "stat", "lake/k").stdout
	if strings.Contains(stat, "under-protected") || strings.Contains(stat, "MISSING") {
		t.Fatalf("stat after repair still shows under-protection:\n%s", stat)
	}
	if got := mustRZ(t, dir, nil, "get", "lake/k").stdout; got != string(data) {
		t.Fatal("get after repair differs")
	}
	if v := mustRZ(t, dir, nil, "verify"); !strings.Contains(v.stdout, "1 healthy") {
		t.Fatalf("verify after repair:\n%s", v.stdout)
	}
}

// TestRepairCLIMovesAndReplace: a backend removed from the config has its
// shards rebuilt in its region; another one is replaced by a new one.
func TestRepairCLIMovesAndReplace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	mustRZ(t, dir, nil, "init", "--backends", "7", "--regions", "3", "--block-size", "64KiB")
	want := putMany(t, dir, 12)

	// region-a-1 is lost; the config no longer lists it.
	os.RemoveAll(backendDir(dir, "region-a-1"))
	editConfig(t, dir, []string{"region-a-1"})
	var rp struct {
		Revised int64 `json:"manifests_revised"`
		Results []struct {
			Shards []struct{ From, To string }
		}
	}
	out := mustRZ(t, dir, nil, "repair", "--json")
	json.Unmarshal([]byte(out.stdout), &rp)
	moved := 0
	for _, r := range rp.Results {
		for _, s := range r.Shards {
			if s.From != "region-a-1" || (s.To != "region-a-2" && s.To != "region-a-3") {
				t.Fatalf("shard moved %s -> %s; want from region-a-1 to region-a-2 or -3", s.From, s.To)
			}
			moved++
		}
	}
	if moved == 0 || rp.Revised == 0 {
		t.Fatalf("repair moved %d shards, revised %d manifests; want some\n%s", moved, rp.Revised, out.stdout)
	}
	checkContents(t, dir, want)
	if v := mustRZ(t, dir, nil, "verify", "--all-versions"); !strings.Contains(v.stdout, fmt.Sprintf("%d healthy", len(want))) {
		t.Fatalf("verify after the move:\n%s", v.stdout)
	}

	// region-b-1 is replaced by region-b-3 (same region).
	os.RemoveAll(backendDir(dir, "region-b-1"))
	editConfig(t, dir, []string{"region-b-1"}, "region-b-3=region-b")
	var rs struct {
		Shards    int64 `json:"shards_moved"`
		Elsewhere int64 `json:"shards_elsewhere"`
	}
	out = mustRZ(t, dir, nil, "backend", "replace", "region-b-1", "region-b-3", "--json")
	json.Unmarshal([]byte(out.stdout), &rs)
	if rs.Shards != int64(len(want)) || rs.Elsewhere != 0 {
		t.Fatalf("backend replace = %s; want %d shards moved, all to region-b-3", out.stdout, len(want))
	}
	files, _ := filepath.Glob(filepath.Join(backendDir(dir, "region-b-3"), "d", "*", "*"))
	if len(files) != len(want) {
		t.Fatalf("region-b-3 holds %d shard files; want %d", len(files), len(want))
	}
	checkContents(t, dir, want)
	// The index rebuilt from the backends alone has the revised manifests.
	os.Remove(filepath.Join(dir, "index.db"))
	mustRZ(t, dir, nil, "index", "rebuild")
	checkContents(t, dir, want)
	if v := mustRZ(t, dir, nil, "verify"); !strings.Contains(v.stdout, fmt.Sprintf("%d healthy", len(want))) {
		t.Fatalf("verify after rebuild:\n%s", v.stdout)
	}
}

// TestRepairCLIKill9 kills repair mid-way and checks that a second repair
// completes.
func TestRepairCLIKill9(t *testing.T) {
	dir := newStore(t)
	want := putMany(t, dir, 40)
	// region-b-1 loses its disk: an empty directory stands in its place.
	os.RemoveAll(backendDir(dir, "region-b-1"))
	os.MkdirAll(backendDir(dir, "region-b-1"), 0o755)

	killRepairAfter(t, dir, 5)
	files, _ := filepath.Glob(filepath.Join(backendDir(dir, "region-b-1"), "d", "*", "*"))
	if len(files) == 0 || len(files) >= len(want) {
		t.Fatalf("after the kill region-b-1 holds %d of %d shards; want some", len(files), len(want))
	}

	start := time.Now()
	var rp struct {
		Repaired int64
		Shards   int64 `json:"shards_rebuilt"`
	}
	out := mustRZ(t, dir, nil, "repair", "--json")
	json.Unmarshal([]byte(out.stdout), &rp)
	if rp.Shards == 0 || int(rp.Shards)+len(files) < len(want) {
		t.Fatalf("second repair rebuilt %d shards (%d were there); want the other %d", rp.Shards, len(files), len(want)-len(files))
	}
	t.Logf("second repair: %d shards in %v", rp.Shards, time.Since(start))
	files, _ = filepath.Glob(filepath.Join(backendDir(dir, "region-b-1"), "d", "*", "*"))
	if len(files) != len(want) {
		t.Fatalf("region-b-1 holds %d shards after the second repair; want %d", len(files), len(want))
	}
	if rep, r := scrubJSON(t, dir); r.code != 0 || rep.Healthy != int64(len(want)) {
		t.Fatalf("scrub after the second repair: exit %d, %+v", r.code, rep)
	}
	checkContents(t, dir, want)
}

// killRepairAfter runs `rhizome repair` and kills it with SIGKILL once it
// has logged n repaired versions.
func killRepairAfter(t *testing.T, dir string, n int) {
	t.Helper()
	cmd := exec.Command(binPath, "--dir", dir, "-v", "repair", "--parallel", "1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	repaired := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), "version repaired") {
			if repaired++; repaired == n {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL || repaired < n {
		t.Fatalf("repair was not killed part-way (%d versions repaired): %v", repaired, cmd.ProcessState)
	}
}

// TestRepairCLIKill9DuringMoves kills repair while it moves shards off a
// removed backend and revises manifests; a second repair completes, and an
// index rebuilt from the backends alone agrees.
func TestRepairCLIKill9DuringMoves(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	mustRZ(t, dir, nil, "init", "--backends", "7", "--regions", "3", "--block-size", "64KiB")
	want := putMany(t, dir, 40)
	os.RemoveAll(backendDir(dir, "region-a-1"))
	editConfig(t, dir, []string{"region-a-1"})
	killRepairAfter(t, dir, 5)

	var rp struct {
		Revised  int64 `json:"manifests_revised"`
		Deferred int64
	}
	out := mustRZ(t, dir, nil, "repair", "--json")
	json.Unmarshal([]byte(out.stdout), &rp)
	if rp.Revised == 0 || rp.Deferred != 0 {
		t.Fatalf("second repair = %s; want manifests revised, nothing deferred", out.stdout)
	}
	if rep, r := scrubJSON(t, dir); r.code != 0 || rep.Healthy != int64(len(want)) {
		t.Fatalf("scrub after the second repair: exit %d, %+v", r.code, rep)
	}
	os.Remove(filepath.Join(dir, "index.db"))
	rb := mustRZ(t, dir, nil, "index", "rebuild", "--json").stdout
	if !strings.Contains(rb, `"Unreadable": 0`) {
		t.Fatalf("index rebuild after interrupted revisions: %s", rb)
	}
	checkContents(t, dir, want)
	if rep, r := scrubJSON(t, dir); r.code != 0 || rep.Healthy != int64(len(want)) {
		t.Fatalf("scrub after the index rebuild: exit %d, %+v", r.code, rep)
	}
}
