package codec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/codec"
)

func ExampleEncode() {
	ctx := context.Background()
	p := codec.Params{K: 4, M: 2, BlockSize: codec.DefaultBlockSize}
	key := make([]byte, codec.KeySize) // in real use: a fresh random key per object version
	vid := [16]byte{1}                 // the version ID, also the additional data

	// Encode into six in-memory shard files.
	shards := make([]bytes.Buffer, p.N())
	w := make([]io.Writer, p.N())
	for i := range w {
		w[i] = &shards[i]
	}
	res, err := codec.Encode(ctx, p, key, vid[:], vid, strings.NewReader("hello, rhizome"), w, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Size, res.Blocks, int64(shards[0].Len()) == p.ShardFileSize(res.Size))

	// Read a range back while shard 0's backend is down: parity shard 4
	// takes its place.
	open := func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
		if shard == 0 {
			return nil, errors.New("backend down")
		}
		return io.NopCloser(bytes.NewReader(shards[shard].Bytes()[off : off+length])), nil
	}
	d, err := codec.NewDecoder(p, key, vid[:], res.Size, open)
	if err != nil {
		panic(err)
	}
	var out strings.Builder
	rep, err := d.WriteRange(ctx, &out, 7, -1)
	fmt.Println(out.String(), err, rep.Degraded, rep.Shards)
	// Output:
	// 14 1 true
	// rhizome <nil> true [unavailable ok ok ok ok unused]
}

func ExampleWithHedge() {
	ctx := context.Background()
	p := codec.Params{K: 4, M: 2, BlockSize: codec.DefaultBlockSize}
	key := make([]byte, codec.KeySize)
	vid := [16]byte{2}
	shards := make([]bytes.Buffer, p.N())
	w := make([]io.Writer, p.N())
	for i := range w {
		w[i] = &shards[i]
	}
	res, err := codec.Encode(ctx, p, key, vid[:], vid, strings.NewReader("hello, rhizome"), w, nil)
	if err != nil {
		panic(err)
	}

	// Shard 2's backend hangs: it never answers until the read gives up
	// on it. After 20ms a parity shard is started in its place.
	open := func(ctx context.Context, shard int, off, length int64) (io.ReadCloser, error) {
		if shard == 2 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return io.NopCloser(bytes.NewReader(shards[shard].Bytes()[off : off+length])), nil
	}
	hedge := codec.WithHedge(func(shard int) time.Duration { return 20 * time.Millisecond })
	d, err := codec.NewDecoder(p, key, vid[:], res.Size, open, hedge)
	if err != nil {
		panic(err)
	}
	var out strings.Builder
	rep, err := d.WriteRange(ctx, &out, 0, -1)
	fmt.Println(out.String(), err, rep.Degraded, rep.Shards[2])
	// Output:
	// hello, rhizome <nil> false slow
}
