package chunked_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
)

// An unsigned aws-chunked body with a CRC32 trailer, as the AWS SDKs send
// uploads over https.
func ExampleNewReader() {
	wire := "c\r\nhello, world\r\n0\r\nx-amz-checksum-crc32:/6tyOg==\r\n\r\n"
	mode, _ := chunked.ParseMode("STREAMING-UNSIGNED-PAYLOAD-TRAILER") // x-amz-content-sha256
	r := chunked.NewReader(strings.NewReader(wire), chunked.Options{
		Mode:          mode,
		DecodedLength: 12,                               // x-amz-decoded-content-length
		Trailers:      []string{"x-amz-checksum-crc32"}, // x-amz-trailer
	})
	data, err := io.ReadAll(r)
	fmt.Printf("%q %v %v\n", data, err, r.Trailers())

	bad := strings.Replace(wire, "world", "World", 1)
	_, err = io.ReadAll(chunked.NewReader(strings.NewReader(bad), chunked.Options{Mode: mode, DecodedLength: 12, Trailers: []string{"x-amz-checksum-crc32"}}))
	fmt.Println(chunked.Code(err))
	// Output:
	// "hello, world" <nil> map[x-amz-checksum-crc32:/6tyOg==]
	// BadDigest 400
}
