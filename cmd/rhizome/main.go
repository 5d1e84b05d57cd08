// Command rhizome is Rhizome's command-line interface: it works on a store
// directly (no server needed) and runs the S3 gateway.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rhizome-data/rhizome/internal/store"
)

// Exit codes, documented in `rhizome help`.
const (
	exitOK          = 0
	exitError       = 1 // anything not listed below
	exitUsage       = 2 // bad flags or arguments, invalid names, bad config
	exitNotFound    = 3 // no such bucket, key or version
	exitUnavailable = 4 // too few backends reachable to read or write
	exitCorrupt     = 5 // data failed verification; verify found unreadable objects
	exitConflict    = 6 // e.g. bucket not empty
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee *exitError_
		if !errors.As(err, &ee) || !ee.silent {
			fmt.Fprintln(os.Stderr, "rhizome:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError_ carries an exit code for errors already reported.
type exitError_ struct {
	code   int
	silent bool
	err    error
}

func (e *exitError_) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit %d", e.code)
}
func (e *exitError_) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError_
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage), errors.Is(err, store.ErrInvalid):
		return exitUsage
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	case errors.Is(err, store.ErrUnavailable):
		return exitUnavailable
	case errors.Is(err, store.ErrCorrupt):
		return exitCorrupt
	case errors.Is(err, store.ErrConflict):
		return exitConflict
	}
	return exitError
}

var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}
