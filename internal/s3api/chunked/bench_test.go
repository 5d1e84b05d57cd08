package chunked_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
)

// benchmarkReader decodes an 8 MiB body in chunks of chunkSize.
func benchmarkReader(b *testing.B, mode chunked.Mode, chunkSize int, algo string) {
	data := pattern(8 << 20)
	body := body{mode: mode, data: data}
	for n := chunkSize; n < len(data); n += chunkSize {
		body.sizes = append(body.sizes, chunkSize)
	}
	if algo != "" {
		body.trailers = []trailer{{checksum.Header(algo), sum(b, algo, data)}}
	}
	wire, opts := body.encode(), body.options()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := io.CopyBuffer(io.Discard, chunked.NewReader(bytes.NewReader(wire), opts), buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderSigned64KiB(b *testing.B) { benchmarkReader(b, chunked.Signed, 64<<10, "") }
func BenchmarkReaderSigned1MiB(b *testing.B)  { benchmarkReader(b, chunked.Signed, 1<<20, "") }
func BenchmarkReaderSignedTrailerCRC32C(b *testing.B) {
	benchmarkReader(b, chunked.SignedTrailer, 64<<10, checksum.CRC32C)
}
func BenchmarkReaderUnsignedCRC32(b *testing.B) {
	benchmarkReader(b, chunked.UnsignedTrailer, 64<<10, checksum.CRC32)
}
func BenchmarkReaderUnsignedCRC64NVME(b *testing.B) {
	benchmarkReader(b, chunked.UnsignedTrailer, 64<<10, checksum.CRC64NVME)
}
func BenchmarkReaderUnsignedSHA256(b *testing.B) {
	benchmarkReader(b, chunked.UnsignedTrailer, 64<<10, checksum.SHA256)
}
