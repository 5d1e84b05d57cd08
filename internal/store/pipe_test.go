package store

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestHandoffWriteTo(t *testing.T) {
	r, w := newHandoff()
	want := bytes.Repeat([]byte("block"), 10000)
	go func() {
		for i := 0; i < len(want); i += 777 {
			w.Write(want[i:min(i+777, len(want))])
		}
		w.Close()
	}()
	var got bytes.Buffer
	n, err := r.WriteTo(&got)
	if err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("WriteTo = %d, %v; content equal %v", n, err, bytes.Equal(got.Bytes(), want))
	}
}

func TestHandoffRead(t *testing.T) {
	r, w := newHandoff()
	want := bytes.Repeat([]byte("xyz"), 5000)
	go func() {
		w.Write(want[:7000])
		w.Write(want[7000:])
		w.Close()
	}()
	if err := iotest.TestReader(struct{ io.Reader }{r}, want); err != nil {
		t.Fatal(err)
	}
}

func TestHandoffErrors(t *testing.T) {
	boom := errors.New("boom")
	r, w := newHandoff()
	go func() { w.Write([]byte("abc")); w.CloseWithError(boom) }()
	if _, err := io.ReadAll(struct{ io.Reader }{r}); !errors.Is(err, boom) {
		t.Fatalf("reader got %v; want the writer's error", err)
	}
	r, w = newHandoff()
	r.CloseWithError(boom)
	if _, err := w.Write([]byte("x")); !errors.Is(err, boom) {
		t.Fatalf("writer got %v; want the reader's error", err)
	}
	// The reader gives up while the writer waits: Write returns.
	r, w = newHandoff()
	done := make(chan error)
	go func() { _, err := w.Write([]byte("x")); done <- err }()
	r.CloseWithError(boom)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("blocked writer got %v", err)
	}
}
