package sigv4_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

func benchmarkVerify(b *testing.B, r *http.Request) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := sigv4.Verify(r, testLookup, signTime.Add(time.Second), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHeader(b *testing.B) {
	srv := newCaptureServer(b)
	benchmarkVerify(b, sendSigned(b, srv, signed{method: "PUT", target: objectTarget("bucket", "dir/some key.txt"),
		body: []byte("x"), headers: http.Header{"Content-Type": {"text/plain"}, "X-Amz-Meta-A": {"b"}}}, signTime))
}

func BenchmarkVerifyPresigned(b *testing.B) {
	srv := newCaptureServer(b)
	benchmarkVerify(b, sendPresigned(b, srv, signed{method: "GET", target: objectTarget("bucket", "dir/some key.txt")}, signTime, time.Hour))
}
