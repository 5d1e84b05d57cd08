package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

// The maintenance lease keeps two repairs (or backend replacements, or a
// server's background repair) from working on the same store at once: each
// takes it in the index before it writes anything and renews it while it
// runs. A holder that dies stops renewing, so its lease lapses after
// leaseTTL; one that ran on this host and whose process is gone is taken
// over at once.

// ErrLeaseHeld is wrapped (with ErrConflict) when another repair, backend
// replacement or background repair holds the maintenance lease.
var ErrLeaseHeld = errors.New("another repair is running on this store")

// ErrLeaseLost is the cause of a repair stopping because another one took
// its lease over (with --force, or after the lease lapsed while this one
// could not renew it).
var ErrLeaseLost = errors.New("maintenance lease taken over by another repair")

// leaseName is the index state the lease lives under.
const leaseName = "lease/maintenance"

// How long a lease lasts without renewal, and how often it is renewed.
// Variables so that tests can shorten them.
var (
	leaseTTL   = 2 * time.Minute
	leaseRenew = 30 * time.Second
)

// Lease describes the holder of the maintenance lease.
type Lease struct {
	// Op is what the holder does ("repair", "replace backend a by b",
	// "background repair").
	Op   string `json:"op"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Token tells this holder from a later one in a process with the
	// same ID.
	Token   string    `json:"token"`
	Started time.Time `json:"started"`
	// Expires is when the lease lapses unless the holder renews it.
	Expires time.Time `json:"expires"`
}

func (l Lease) String() string {
	return fmt.Sprintf("%s started %s by process %d on host %s", l.Op, l.Started.Format(time.RFC3339), l.PID, l.Host)
}

// processAlive reports whether a process with this ID runs on this host.
// A variable so that tests can pretend.
var processAlive = pidAlive

// hostName names this host in leases.
func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

// MaintenanceLease returns the holder of the maintenance lease, or nil
// when no repair holds it (or its lease has lapsed).
func (s *Store) MaintenanceLease(ctx context.Context) (*Lease, error) {
	b, err := s.idx.State(ctx, leaseName)
	if errors.Is(err, index.ErrNoSuchState) {
		return nil, nil
	}
	if err != nil {
		return nil, classify("maintenance lease", err)
	}
	var l Lease
	if json.Unmarshal(b, &l) != nil || !s.now().Before(l.Expires) {
		return nil, nil
	}
	return &l, nil
}

// leaseHeld is a lease this process holds.
type leaseHeld struct {
	s      *Store
	lease  Lease
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
}

// acquireLease takes the maintenance lease for op, or fails with an
// ErrConflict error naming the holder and what to do. A lease that has
// lapsed, or whose holder ran on this host and is gone, is taken over;
// force takes over any lease (its holder, if alive, stops at its next
// renewal). It returns a context that is cancelled, with ErrLeaseLost as
// its cause, if the lease is lost while the work runs; release gives the
// lease back.
func (s *Store) acquireLease(ctx context.Context, op string, force bool) (context.Context, func(), error) {
	tok := make([]byte, 8)
	if _, err := rand.Read(tok); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	now := s.now().UTC()
	me := Lease{Op: op, Host: hostName(), PID: os.Getpid(), Token: hex.EncodeToString(tok), Started: now, Expires: now.Add(leaseTTL)}
	var held Lease
	var took *Lease
	err := s.idx.UpdateState(ctx, leaseName, func(v []byte, found bool) ([]byte, error) {
		took = nil
		if found {
			var cur Lease
			if json.Unmarshal(v, &cur) == nil && cur.Token != "" {
				switch {
				case !now.Before(cur.Expires):
				case cur.Host == me.Host && cur.PID != me.PID && !processAlive(cur.PID):
				case force:
				default:
					held = cur
					return nil, ErrLeaseHeld
				}
				took = &cur
			}
		}
		return json.Marshal(me)
	})
	if errors.Is(err, ErrLeaseHeld) {
		return nil, nil, &Error{Kind: ErrConflict, Op: op, Err: ErrLeaseHeld, Msg: leaseHeldMsg(held, me.Host)}
	}
	if err != nil {
		return nil, nil, classify(op, err)
	}
	if took != nil {
		s.log.Warn("maintenance lease taken over", "holder", took.String(), "expires", took.Expires, "forced", force)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	h := &leaseHeld{s: s, lease: me, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go h.renew()
	return lctx, h.release, nil
}

// leaseHeldMsg says who holds the lease and what to do about it.
func leaseHeldMsg(l Lease, host string) string {
	msg := fmt.Sprintf("%s; %s holds the maintenance lease until %s and renews it every %v while it runs. ",
		ErrLeaseHeld, l, l.Expires.Format(time.RFC3339), leaseRenew)
	if l.Host == host {
		return msg + fmt.Sprintf("Wait for it to finish, or stop it (kill %d) and run again", l.PID)
	}
	return msg + fmt.Sprintf("Wait for it to finish; if that process or host is dead, run again after %s, or now with --force (a holder still alive stops at its next renewal)",
		l.Expires.Format(time.RFC3339))
}

// renew extends the lease every leaseRenew until release, and cancels the
// work when another holder has taken it, or when it could not be renewed
// before it lapsed.
func (h *leaseHeld) renew() {
	defer close(h.done)
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.s.now().UTC()
		var lost *Lease
		ctx, cancel := context.WithTimeout(context.Background(), leaseRenew)
		err := h.s.idx.UpdateState(ctx, leaseName, func(v []byte, found bool) ([]byte, error) {
			var cur Lease
			if !found || json.Unmarshal(v, &cur) != nil || cur.Token != h.lease.Token {
				lost = &cur
				return nil, ErrLeaseLost
			}
			cur.Expires = now.Add(leaseTTL)
			return json.Marshal(cur)
		})
		cancel()
		switch {
		case lost != nil:
			cause := ErrLeaseLost
			if lost.Token != "" {
				cause = fmt.Errorf("%w (%s)", ErrLeaseLost, lost)
			}
			h.s.log.Warn("maintenance lease lost; stopping", "op", h.lease.Op, "err", cause)
			h.cancel(&Error{Kind: ErrConflict, Op: h.lease.Op, Err: cause})
			return
		case err != nil:
			h.s.log.Warn("maintenance lease not renewed", "op", h.lease.Op, "err", err)
			if !now.Before(h.lease.Expires) {
				h.cancel(&Error{Kind: ErrConflict, Op: h.lease.Op, Err: ErrLeaseLost,
					Msg: "the lease lapsed because the index could not be written: " + err.Error()})
				return
			}
		default:
			h.lease.Expires = now.Add(leaseTTL)
		}
	}
}

// release stops renewing and removes the lease if it is still ours.
func (h *leaseHeld) release() {
	close(h.stop)
	<-h.done
	h.cancel(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := h.s.idx.UpdateState(ctx, leaseName, func(v []byte, found bool) ([]byte, error) {
		var cur Lease
		if found && json.Unmarshal(v, &cur) == nil && cur.Token != h.lease.Token {
			return v, nil // taken over meanwhile: not ours to remove
		}
		return nil, nil
	})
	if err != nil {
		h.s.log.Warn("maintenance lease not released; it lapses by itself", "expires", h.lease.Expires, "err", err)
	}
}

// leaseErr returns the reason ctx (from acquireLease) ended when the lease
// was lost, else err.
func leaseErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrLeaseLost) {
		return cause
	}
	return err
}
