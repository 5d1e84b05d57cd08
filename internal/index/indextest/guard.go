package indextest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rhizome-data/rhizome/internal/index"
)

func testGuard(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := context.Background()
	c := index.Checkpoint{Name: "good", Bucket: "b", Prefix: "p/", At: minute(3), Root: "ab", Keys: 7, Manifest: []byte("m")}
	if err := ix.PutCheckpoint(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := ix.PutCheckpoint(ctx, c); !errors.Is(err, index.ErrCheckpointExists) {
		t.Fatalf("second PutCheckpoint: %v; want ErrCheckpointExists", err)
	}
	ix.PutCheckpoint(ctx, index.Checkpoint{Name: "a-first", Bucket: "b", At: minute(1), Root: "cd"})
	got, err := ix.Checkpoint(ctx, "good")
	if err != nil || got.Root != "ab" || got.Keys != 7 || !got.At.Equal(minute(3)) || string(got.Manifest) != "m" || got.Prefix != "p/" {
		t.Fatalf("Checkpoint(good) = %+v, %v", got, err)
	}
	if _, err := ix.Checkpoint(ctx, "nope"); !errors.Is(err, index.ErrNoSuchCheckpoint) {
		t.Fatalf("Checkpoint(nope): %v", err)
	}
	all, _ := ix.Checkpoints(ctx)
	if len(all) != 2 || all[0].Name != "a-first" {
		t.Fatalf("Checkpoints = %+v; want 2 by name", all)
	}

	id := func(i int) string { return fmt.Sprintf("%032x", i) }
	for i := 1; i <= 5; i++ {
		state := "open"
		if i%2 == 0 {
			state = "approved"
		}
		if err := ix.PutAlert(ctx, index.Alert{VersionID: id(i), Bucket: "b", Key: "k", Time: minute(i), Mode: "quarantine", State: state, Summary: "s", Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	open3, _ := ix.Alerts(ctx, "open", "", 0)
	if len(open3) != 3 || open3[0].VersionID != id(5) || open3[2].VersionID != id(1) {
		t.Fatalf("open alerts = %+v; want 5, 3, 1", open3)
	}
	page, _ := ix.Alerts(ctx, "", id(4), 2)
	if len(page) != 2 || page[0].VersionID != id(3) || page[1].VersionID != id(2) {
		t.Fatalf("alerts before 4 = %+v; want 3, 2", page)
	}
	a, _ := ix.Alert(ctx, id(1))
	a.State = "rejected"
	if err := ix.PutAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a2, _ := ix.Alert(ctx, id(1)); a2.State != "rejected" || !a2.Time.Equal(minute(1)) {
		t.Fatalf("updated alert = %+v", a2)
	}
	if _, err := ix.Alert(ctx, id(9)); !errors.Is(err, index.ErrNoSuchAlert) {
		t.Fatalf("Alert(missing): %v", err)
	}
}
