package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/index/sqlite"
)

func Example() {
	dir, err := os.MkdirTemp("", "rhizome-index-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ix, err := sqlite.Open(filepath.Join(dir, "index.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ix.Close()
	ctx := context.Background()

	monday := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	version := func(key string, at time.Time, size int64) index.Version {
		return index.Version{
			Bucket: "lake", Key: key,
			ID:   fmt.Sprintf("%016x%016x", at.UnixNano(), 1),
			Time: at, Size: size, ETag: "etag", Shards: 6,
			Manifest: []byte("signed manifest"),
		}
	}
	if err := ix.CreateBucket(ctx, "lake", monday); err != nil {
		log.Fatal(err)
	}
	for _, v := range []index.Version{
		version("sales/2025/01.parquet", monday, 1000),
		version("sales/2025/02.parquet", monday, 2000),
		version("sales/2025/02.parquet", monday.Add(24*time.Hour), 2500), // Tuesday's rewrite
		version("labels.csv", monday, 300),
	} {
		if err := ix.PutVersion(ctx, v); err != nil {
			log.Fatal(err)
		}
	}

	// The bucket now, one directory level at a time.
	res, err := ix.List(ctx, index.ListOptions{Bucket: "lake", Delimiter: "/"})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range res.Versions {
		fmt.Println(v.Key, v.Size)
	}
	fmt.Println(res.CommonPrefixes)

	// The same prefix as it was on Monday evening.
	res, err = ix.List(ctx, index.ListOptions{Bucket: "lake", Prefix: "sales/", AsOf: monday.Add(10 * time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range res.Versions {
		fmt.Println(v.Key, v.Size)
	}
	// Output:
	// labels.csv 300
	// [sales/]
	// sales/2025/01.parquet 1000
	// sales/2025/02.parquet 2000
}
