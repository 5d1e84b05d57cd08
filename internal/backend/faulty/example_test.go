package faulty_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rhizome-data/rhizome/internal/backend"
	"github.com/rhizome-data/rhizome/internal/backend/faulty"
	"github.com/rhizome-data/rhizome/internal/backend/mem"
)

func Example() {
	ctx := context.Background()
	b := faulty.New(mem.New())
	b.Put(ctx, "shard", strings.NewReader("hello"), 5)

	b.SetDown(true)
	_, err := b.Stat(ctx, "shard")
	fmt.Println(errors.Is(err, backend.ErrUnavailable))

	b.Reset()
	b.FlipBit(0, 5) // 'h' ^ 0x20 = 'H'
	rc, _ := b.Get(ctx, "shard", 0, -1)
	p, _ := io.ReadAll(rc)
	rc.Close()
	fmt.Printf("%s\n", p)
	// Output:
	// true
	// Hello
}
