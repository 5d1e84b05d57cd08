package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// blockedRepair starts a Repair on s that stops in its scan until release
// is closed. It returns once the repair holds the lease, and a channel
// that yields its error.
func blockedRepair(t *testing.T, s *Store, release chan struct{}) <-chan error {
	t.Helper()
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		first := true
		_, err := s.Repair(context.Background(), &RepairOptions{ScanProgress: func(ScrubProgress) {
			if first {
				first = false
				close(started)
				<-release
			}
		}}, nil)
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("first Repair ended before its scan: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("first Repair did not start its scan within 10 s")
	}
	return errc
}

func putLease(t *testing.T, s *Store, l Lease) {
	t.Helper()
	b, _ := json.Marshal(l)
	if err := s.idx.PutState(context.Background(), leaseName, b); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseExcludesSecondRepair(t *testing.T) {
	f := newFleet(t, 6, 3)
	a, b := f.open(nil), f.open(nil) // two processes on one index
	f.put(a, "x", 100_000)
	ctx := context.Background()

	release := make(chan struct{})
	errc := blockedRepair(t, a, release)

	l, err := b.MaintenanceLease(ctx)
	if err != nil || l == nil || l.Op != "repair" || l.PID != os.Getpid() || l.Host != hostName() {
		t.Fatalf("MaintenanceLease() = %+v, %v; want the running repair", l, err)
	}
	_, err = b.Repair(ctx, nil, nil)
	if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second Repair = %v; want ErrConflict wrapping ErrLeaseHeld", err)
	}
	for _, want := range []string{"repair started " + l.Started.Format(time.RFC3339), fmt.Sprintf("process %d on host %s", os.Getpid(), hostName()),
		"until " + l.Expires.Format(time.RFC3339), fmt.Sprintf("kill %d", os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Repair's error %q does not say %q", err, want)
		}
	}
	if _, err := b.ReplaceBackend(ctx, f.cfg.Backends[0].Name, f.cfg.Backends[1].Name, nil); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("ReplaceBackend while a repair runs = %v; want ErrLeaseHeld", err)
	}
	if _, err := b.Repair(ctx, &RepairOptions{Scan: ScanNone}, nil); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("queue-only Repair while a repair runs = %v; want ErrLeaseHeld", err)
	}

	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("first Repair = %v", err)
	}
	if l, err := b.MaintenanceLease(ctx); l != nil || err != nil {
		t.Fatalf("MaintenanceLease() after the repair = %+v, %v; want none", l, err)
	}
	if _, err := b.Repair(ctx, nil, nil); err != nil {
		t.Fatalf("Repair after the first finished = %v", err)
	}
}

func TestLeaseTakeover(t *testing.T) {
	f := newFleet(t, 6, 3)
	s := f.open(nil)
	f.put(s, "x", 10_000)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })

	fresh := now.Add(time.Hour)
	for _, tc := range []struct {
		name  string
		lease Lease
		force bool
		want  error    // nil: taken over
		says  []string // in the refusal
	}{
		{name: "other host, lapsed", lease: Lease{Op: "repair", Host: "elsewhere", PID: 1, Expires: now.Add(-time.Second)}},
		{name: "other host, live", lease: Lease{Op: "repair", Host: "elsewhere", PID: 1, Started: now, Expires: fresh}, want: ErrLeaseHeld,
			says: []string{"repair started " + now.Format(time.RFC3339) + " by process 1 on host elsewhere", "run again after " + fresh.Format(time.RFC3339), "--force"}},
		{name: "other host, forced", lease: Lease{Op: "repair", Host: "elsewhere", PID: 1, Expires: fresh}, force: true},
		{name: "this host, process gone", lease: Lease{Op: "repair", Host: hostName(), PID: dead.Process.Pid, Expires: fresh}},
		{name: "this host, process alive", lease: Lease{Op: "replace backend b1 by b7", Host: hostName(), PID: live.Process.Pid, Started: now, Expires: fresh}, want: ErrLeaseHeld,
			says: []string{"replace backend b1 by b7 started", fmt.Sprintf("kill %d", live.Process.Pid)}},
		{name: "this host, alive, forced", lease: Lease{Op: "repair", Host: hostName(), PID: live.Process.Pid, Expires: fresh}, force: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.lease.Token = "0123456789abcdef"
			putLease(t, s, tc.lease)
			_, err := s.Repair(ctx, &RepairOptions{Force: tc.force}, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Repair = %v; want the lease taken over", err)
				}
				if l, _ := s.MaintenanceLease(ctx); l != nil {
					t.Fatalf("after Repair: lease %+v; want released", l)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrConflict) {
				t.Fatalf("Repair = %v; want %v", err, tc.want)
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Repair's error %q does not say %q", err, want)
				}
			}
			if l, _ := s.MaintenanceLease(ctx); l == nil || l.Token != tc.lease.Token {
				t.Fatalf("after a refused Repair: lease %+v; want the holder's, untouched", l)
			}
		})
	}
}

func TestLeaseLostStopsRepair(t *testing.T) {
	defer func(ttl, renew time.Duration) { leaseTTL, leaseRenew = ttl, renew }(leaseTTL, leaseRenew)
	leaseTTL, leaseRenew = time.Second, 20*time.Millisecond
	f := newFleet(t, 6, 3)
	a, b := f.open(nil), f.open(nil)
	f.put(a, "x", 100_000)
	ctx := context.Background()

	release := make(chan struct{})
	errc := blockedRepair(t, a, release)
	// Renewal keeps the lease alive well past its TTL.
	time.Sleep(3 * leaseTTL / 2)
	if _, err := b.Repair(ctx, nil, nil); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("Repair after the TTL while the holder renews = %v; want ErrLeaseHeld", err)
	}

	// Forced takeover: b's repair runs; a notices at its next renewal.
	takenRelease := make(chan struct{})
	started := make(chan struct{})
	berr := make(chan error, 1)
	go func() {
		first := true
		_, err := b.Repair(ctx, &RepairOptions{Force: true, ScanProgress: func(ScrubProgress) {
			if first {
				first = false
				close(started)
				<-takenRelease
			}
		}}, nil)
		berr <- err
	}()
	select {
	case <-started:
	case err := <-berr:
		t.Fatalf("forced Repair = %v; want it to take the lease", err)
	}
	time.Sleep(10 * leaseRenew)
	close(release)
	if err := <-errc; !errors.Is(err, ErrLeaseLost) || !errors.Is(err, ErrConflict) {
		t.Fatalf("Repair whose lease was taken over = %v; want ErrLeaseLost", err)
	}
	// a did not remove b's lease on its way out.
	if l, _ := b.MaintenanceLease(ctx); l == nil {
		t.Fatal("the forced repair's lease is gone while it runs")
	}
	close(takenRelease)
	if err := <-berr; err != nil {
		t.Fatalf("forced Repair = %v", err)
	}
	if l, _ := b.MaintenanceLease(ctx); l != nil {
		t.Fatalf("lease after both ended = %+v; want none", l)
	}
}
