package main

import (
	"context"
	"encoding/json"
	"fmt"
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
