package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ValidPrefix reports whether prefix is acceptable as a List prefix: the
// empty string, or a string that some valid name starts with ("shards/",
// "shards/a", "manifest").
func ValidPrefix(prefix string) bool {
	return prefix == "" || ValidName(prefix+"x")
}

// WithKind marks err with an error kind (ErrNotFound, ErrUnavailable, ...):
// errors.Is reports true for both kind and err, and the message stays err's
// own. It returns nil if err is nil.
func WithKind(err, kind error) error {
	if err == nil {
		return nil
	}
	return &kindError{err: err, kind: kind}
}

type kindError struct {
	err  error
	kind error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// ExactReader returns a reader that yields what r yields but fails unless r
// yields exactly size bytes. A short r gives an error wrapping
// io.ErrUnexpectedEOF. A long r gives an error before the last byte of size
// is returned, so a consumer that stops at size bytes still sees the
// failure. With size -1 it returns r unchanged.
func ExactReader(r io.Reader, size int64) io.Reader {
	if size < 0 {
		return r
	}
	return &exactReader{r: r, left: size, size: size}
}

type exactReader struct {
	r    io.Reader
	left int64 // bytes still expected
	size int64
	err  error // sticky
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		// Only reached when size is 0 or the probe below was skipped.
		e.err = e.probe()
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left == 0 {
		// Hold back the last bytes until r is known to end here.
		if err == nil {
			err = e.probe()
		}
		if err != io.EOF {
			e.err = err
			return 0, e.err
		}
		e.err = io.EOF
		return n, nil
	}
	if err == io.EOF {
		e.err = fmt.Errorf("backend: reader ended after %d of %d bytes: %w", e.size-e.left, e.size, io.ErrUnexpectedEOF)
		return n, e.err
	}
	if err != nil {
		e.err = err
	}
	return n, err
}

// probe returns io.EOF if r is exhausted, or the error to report.
func (e *exactReader) probe() error {
	var b [1]byte
	n, err := io.ReadAtLeast(e.r, b[:], 1)
	switch {
	case n > 0:
		return fmt.Errorf("backend: reader yields more than %d bytes", e.size)
	case errors.Is(err, io.EOF):
		return io.EOF
	default:
		return err
	}
}

// ContextReader returns a reader that fails with ctx's error once ctx is
// done, checked before each Read of r.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

// ContextReadCloser is ContextReader for a ReadCloser; Close closes rc.
func ContextReadCloser(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	return &ctxReadCloser{ctxReader{ctx: ctx, r: rc}, rc}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type ctxReadCloser struct {
	ctxReader
	io.Closer
}
