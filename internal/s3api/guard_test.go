package s3api

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rhizome-data/rhizome/internal/config"
)

func guardPartition(seed, rows int) []byte {
	var b strings.Builder
	b.WriteString("id,length,species\n")
	names := []string{"adelie", "gentoo", "chinstrap"}
	x := uint32(seed*7919 + 1)
	for i := 0; i < rows; i++ {
		x = x*1664525 + 1013904223
		sp := int(x>>16) % 3
		fmt.Fprintf(&b, "%d,%.2f,%s\n", i, 40+5*float64(sp)+float64(x%1000)/250, names[sp])
	}
	return []byte(b.String())
}

func TestGuardThroughS3(t *testing.T) {
	ts := startServer(t, serverOptions{guard: []config.GuardPolicy{
		{Prefix: "lake/q/", Mode: "quarantine"},
		{Prefix: "lake/b/", Mode: "block"},
	}})
	ctx := context.Background()
	if _, err := ts.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"q", "b"} {
		for i := 0; i < 8; i++ {
			ts.put(t, "lake", fmt.Sprintf("%s/day%d.csv", dir, i), guardPartition(i, 200))
		}
	}
	poison := make([]byte, 6000)
	rand.Read(poison)

	// Block: the write is refused with AccessDenied naming the signal.
	_, err := ts.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("b/day2.csv"), Body: strings.NewReader(string(poison))})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "ransomware") {
		t.Fatalf("blocked PUT: %v; want AccessDenied naming the ransomware signal", err)
	}
	if got, _ := ts.get(t, "lake", "b/day2.csv"); string(got) != string(guardPartition(2, 200)) {
		t.Fatal("a blocked PUT changed the object")
	}

	// Quarantine: stored, but GET, HEAD, LIST and time travel keep the
	// last known-good version until approved.
	out := ts.put(t, "lake", "q/day3.csv", poison)
	good := guardPartition(3, 200)
	if got, _ := ts.get(t, "lake", "q/day3.csv"); string(got) != string(good) {
		t.Fatal("GET serves the quarantined version")
	}
	head, err := ts.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("q/day3.csv")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(good)) {
		t.Fatalf("HEAD = %v, %v; want the good version's length", head, err)
	}
	list, err := ts.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("q/day3")})
	if err != nil || len(list.Contents) != 1 || aws.ToInt64(list.Contents[0].Size) != int64(len(good)) {
		t.Fatalf("LIST = %+v, %v; want the good version", list, err)
	}
	view := "lake--at-" + strings.ToLower(time.Now().UTC().Add(time.Second).Format("20060102T150405Z"))
	time.Sleep(1100 * time.Millisecond)
	if got, _ := ts.get(t, view, "q/day3.csv"); string(got) != string(good) {
		t.Fatal("the time-travel view serves the quarantined version")
	}
	// The quarantined version is there by its ID, for forensics.
	if got, _ := ts.get(t, "lake", "q/day3.csv", func(in *s3.GetObjectInput) { in.VersionId = out.VersionId }); string(got) != string(poison) {
		t.Fatal("the quarantined version is not readable by its version ID")
	}
	if err := ts.st.Review(ctx, aws.ToString(out.VersionId), true, "admin"); err != nil {
		t.Fatal(err)
	}
	if got, _ := ts.get(t, "lake", "q/day3.csv"); string(got) != string(poison) {
		t.Fatal("approved version not served")
	}
}
