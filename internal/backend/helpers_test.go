package backend_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rhizome-data/rhizome/internal/backend"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"a", true},
		{"shards/ab/0123-4567.v1", true},
		{".a/..b/c.", true},
		{strings.Repeat("a", 512), true},
		{strings.Repeat("a", 513), false},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"a/./b", false},
		{"a/..", false},
		{"a b", false},
		{"a+b", false},
		{"\u00e9", false},
	}
	for _, tt := range tests {
		if got := backend.ValidName(tt.name); got != tt.want {
			t.Errorf("ValidName(%q) = %t; want %t", tt.name, got, tt.want)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		want   bool
	}{
		{"", true},
		{"a", true},
		{"a/", true},
		{"shards/a", true},
		{".", true}, // matches ".a"
		{"..", true},
		{"a/..", true},
		{"/", false},
		{"/a", false},
		{"a//", false},
		{"./", false},
		{"../", false},
		{"a b", false},
		{strings.Repeat("a", 512), false},
	}
	for _, tt := range tests {
		if got := backend.ValidPrefix(tt.prefix); got != tt.want {
			t.Errorf("ValidPrefix(%q) = %t; want %t", tt.prefix, got, tt.want)
		}
	}
}

func TestWithKind(t *testing.T) {
	orig := errors.New("fs: get x: open /d/x: permission denied")
	err := backend.WithKind(orig, backend.ErrForbidden)
	if !errors.Is(err, backend.ErrForbidden) || !errors.Is(err, orig) {
		t.Errorf("WithKind(%v, ErrForbidden) does not match both errors", orig)
	}
	if errors.Is(err, backend.ErrNotFound) {
		t.Errorf("WithKind(%v, ErrForbidden) matches ErrNotFound", orig)
	}
	if err.Error() != orig.Error() {
		t.Errorf("WithKind message = %q; want %q", err, orig)
	}
	if backend.WithKind(nil, backend.ErrForbidden) != nil {
		t.Errorf("WithKind(nil, ...) != nil")
	}
}

func TestExactReader(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		size    int64
		wantErr bool
	}{
		{"exact", "hello", 5, false},
		{"empty", "", 0, false},
		{"unknown", "hello", -1, false},
		{"short", "hell", 5, true},
		{"long", "hello!", 5, true},
		{"long empty", "x", 0, true},
		{"short empty", "", 1, true},
	}
	for _, tt := range tests {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tt.data)
			if one {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(backend.ExactReader(r, tt.size))
			if (err != nil) != tt.wantErr {
				t.Errorf("%s (one byte at a time: %t): error = %v; want error: %t", tt.name, one, err, tt.wantErr)
			}
			if !tt.wantErr && string(got) != tt.data {
				t.Errorf("%s (one byte at a time: %t): read %q; want %q", tt.name, one, got, tt.data)
			}
		}
	}
}

// A consumer that stops after size bytes, as an HTTP client sending a body
// of known length does, must still see a long reader fail.
func TestExactReaderLongSeenBeforeEnd(t *testing.T) {
	r := io.LimitReader(backend.ExactReader(strings.NewReader("hello!"), 5), 5)
	if got, err := io.ReadAll(r); err == nil {
		t.Errorf("reading 5 bytes of a 6-byte reader declared as 5 = %q, nil; want an error", got)
	}
}

func TestExactReaderShortIsUnexpectedEOF(t *testing.T) {
	_, err := io.ReadAll(backend.ExactReader(strings.NewReader("hell"), 5))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "backend: ") {
		t.Errorf("short reader error = %v; want a backend error wrapping io.ErrUnexpectedEOF", err)
	}
}

func TestExactReaderPassesErrors(t *testing.T) {
	errBroken := errors.New("broken")
	r := io.MultiReader(strings.NewReader("he"), iotest.ErrReader(errBroken))
	if _, err := io.ReadAll(backend.ExactReader(r, 5)); !errors.Is(err, errBroken) {
		t.Errorf("error = %v; want the reader's error", err)
	}
}

func TestContextReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rc := backend.ContextReadCloser(ctx, io.NopCloser(bytes.NewReader(make([]byte, 100))))
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if n, err := rc.Read(make([]byte, 10)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}
