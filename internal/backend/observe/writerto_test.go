package observe_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
	"github.com/rhizome-data/rhizome/internal/backend/observe"
)

// sawWriterTo is a Backend that records whether Put got an io.WriterTo.
type sawWriterTo struct {
	backend.Backend
	ok bool
}

func (s *sawWriterTo) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	_, s.ok = r.(io.WriterTo)
	return s.Backend.Put(ctx, name, r, size)
}

// The wrapper must not hide a source's io.WriterTo: drivers use it to
// write the caller's buffers without a copy.
func TestPutKeepsWriterTo(t *testing.T) {
	inner := &sawWriterTo{Backend: mem.New()}
	b := observe.New("b", inner, nil)
	data := bytes.Repeat([]byte("x"), 1000)
	if err := b.Put(context.Background(), "k", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if !inner.ok {
		t.Fatal("the driver got a reader without WriteTo")
	}
	if got := b.Stats().Ops[observe.OpPut].Bytes; got != int64(len(data)) {
		t.Fatalf("Put bytes = %d; want %d", got, len(data))
	}
}
