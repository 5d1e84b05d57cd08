package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index/sqlite"
	"github.com/rhizome-data/rhizome/internal/store"
)

// maintenance returns the holder of the maintenance lease, as status shows it.
func maintenance(t *testing.T, dir string) *store.Lease {
	t.Helper()
	var st struct{ Maintenance *store.Lease }
	out := mustRZ(t, dir, nil, "status", "--json").stdout
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st.Maintenance
}

func TestRepairLease(t *testing.T) {
	dir := newStore(t)
	putMany(t, dir, 4)

	// A slow repair: a full scan read at 1 kB/s holds the lease for minutes.
	holder := exec.Command(binPath, "--dir", dir, "repair", "--full", "--rate", "0.001")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	var l *store.Lease
	for deadline := time.Now().Add(30 * time.Second); l == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow repair did not take the lease within 30 s")
		}
		l = maintenance(t, dir)
	}
	if l.PID != holder.Process.Pid || l.Op != "repair" {
		t.Fatalf("lease = %+v; want repair by process %d", l, holder.Process.Pid)
	}
	if out := mustRZ(t, dir, nil, "status").stdout; !strings.Contains(out, "running: repair started") {
		t.Fatalf("status does not show the running repair:\n%s", out)
	}

	for _, args := range [][]string{{"repair"}, {"repair", "--queue-only"}, {"backend", "replace", "region-a-1", "region-a-2"}} {
		r := rz(t, dir, nil, args...)
		if r.code != exitConflict {
			t.Fatalf("rhizome %s while a repair runs: exit %d; want %d\n%s%s", strings.Join(args, " "), r.code, exitConflict, r.stdout, r.stderr)
		}
		for _, want := range []string{"another repair is running", fmt.Sprintf("by process %d on host", l.PID),
			"started " + l.Started.Format(time.RFC3339), fmt.Sprintf("kill %d", l.PID)} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("rhizome %s: stderr does not say %q:\n%s", strings.Join(args, " "), want, r.stderr)
			}
		}
	}

	// kill -9: the lease stays behind, but its process is gone, so the
	// next repair takes it at once rather than after it lapses.
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	if l := maintenance(t, dir); l == nil {
		t.Fatal("the killed repair's lease vanished; want it left behind (status shows it until it lapses)")
	}
	start := time.Now()
	mustRZ(t, dir, nil, "repair")
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("repair after kill -9 took %v; want it to take the dead holder's lease at once", took)
	}
	if l := maintenance(t, dir); l != nil {
		t.Fatalf("lease after repair = %+v; want none", l)
	}

	// A holder on another host cannot be checked: refused until it lapses,
	// or taken with --force.
	ix, err := sqlite.Open(filepath.Join(dir, "index.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	other := store.Lease{Op: "repair", Host: "elsewhere", PID: 4242, Token: "feedfacefeedface", Started: now, Expires: now.Add(time.Hour)}
	b, _ := json.Marshal(other)
	if err := ix.PutState(context.Background(), "lease/maintenance", b); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	r := rz(t, dir, nil, "repair")
	if r.code != exitConflict || !strings.Contains(r.stderr, "by process 4242 on host elsewhere") ||
		!strings.Contains(r.stderr, "run again after "+other.Expires.Format(time.RFC3339)) || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("repair with a lease held on another host: exit %d; want %d naming the holder, its expiry and --force\n%s", r.code, exitConflict, r.stderr)
	}
	mustRZ(t, dir, nil, "repair", "--force")
	if l := maintenance(t, dir); l != nil {
		t.Fatalf("lease after repair --force = %+v; want none", l)
	}
}

// TestScrubRepairBucketManifestCLI damages a bucket manifest (which no
// version holds) out of band: scrub reports it, repair rewrites it.
func TestScrubRepairBucketManifestCLI(t *testing.T) {
	dir := newStore(t)
	mustRZ(t, dir, nil, "mb", "lake")
	pieces, _ := filepath.Glob(filepath.Join(dir, "backends", "*", "m", "*", "*"))
	if len(pieces) != 6 {
		t.Fatalf("after mb: %d manifest pieces on the backends; want 6 (the bucket manifest)", len(pieces))
	}
	mustRZ(t, dir, randBytes(t, 50_000), "put", "lake/a", "-")
	id := strings.Split(filepath.Base(pieces[0]), ".")[0]
	piece := func(i int) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(dir, "backends", "*", "m", id[30:], fmt.Sprintf("%s.%d", id, i)))
		if len(m) != 1 {
			t.Fatalf("piece %d of %s: %d files", i, id, len(m))
		}
		return m[0]
	}
	os.Remove(piece(2))
	p3 := piece(3)
	b, _ := os.ReadFile(p3)
	b[len(b)-5] ^= 1
	os.WriteFile(p3, b, 0o644)

	type report struct {
		Records    int64 `json:"records"`
		Damaged    int64 `json:"records_damaged"`
		Repairable []struct {
			Kind, Bucket string
			VersionID    string `json:"version_id"`
			Pieces       []struct {
				Index int `json:"shard"`
				Issue string
			} `json:"manifest_pieces"`
		} `json:"repairable_objects"`
	}
	r := rz(t, dir, nil, "scrub", "--json")
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("scrub --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	got := ""
	for _, o := range rep.Repairable {
		got += fmt.Sprintf("%s %s %s:", o.Kind, o.Bucket, o.VersionID)
		for _, p := range o.Pieces {
			got += fmt.Sprintf(" %d %s", p.Index, p.Issue)
		}
	}
	if want := "bucket lake " + id + ": 2 missing 3 corrupt"; rep.Records != 1 || rep.Damaged != 1 || got != want {
		t.Fatalf("scrub --json: %d records, %d damaged, %q; want 1, 1, %q", rep.Records, rep.Damaged, got, want)
	}
	if out := mustRZ(t, dir, nil, "scrub").stdout; !strings.Contains(out, "1 bucket, checkpoint and review manifest(s): 1 damaged") ||
		!strings.Contains(out, "damaged bucket manifest of lake ("+id+"); manifest piece 2 on ") {
		t.Fatalf("scrub does not report the damaged bucket manifest:\n%s", out)
	}
	out := mustRZ(t, dir, nil, "repair").stdout
	if !strings.Contains(out, "repaired bucket manifest of lake ("+id+"); rewrote manifest pieces [2 3]") {
		t.Fatalf("repair does not report the bucket manifest rewritten:\n%s", out)
	}
	r = rz(t, dir, nil, "scrub", "--json")
	rep = report{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Damaged != 0 || len(rep.Repairable) != 0 {
		t.Fatalf("scrub after repair: exit %d, %+v, %v; want clean", r.code, rep, err)
	}
	// The index can be rebuilt from the backends: the bucket is back.
	os.Remove(filepath.Join(dir, "index.db"))
	mustRZ(t, dir, nil, "index", "rebuild")
	if out := mustRZ(t, dir, nil, "ls").stdout; !strings.Contains(out, "lake") {
		t.Fatalf("ls after index rebuild:\n%s", out)
	}
}
