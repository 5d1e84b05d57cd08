package mem_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/rhizome-data/rhizome/internal/backend/mem"
)

func Example() {
	ctx := context.Background()
	b := mem.New()
	if err := b.Put(ctx, "shards/ab/blob", strings.NewReader("hello, world"), -1); err != nil {
		fmt.Println(err)
		return
	}
	rc, err := b.Get(ctx, "shards/ab/blob", 7, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	p, _ := io.ReadAll(rc)
	fmt.Printf("%s\n", p)
	_, err = b.Stat(ctx, "shards/ab/missing")
	fmt.Println(err)
	// Output:
	// world
	// mem: stat shards/ab/missing: backend: not found
}
