package chunked_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// TestAWSExample decodes the signed body of the S3 documentation's
// streaming example (sigv4-streaming.html): 65536 and 1024 bytes of 'a'
// under the published chunk signatures.
func TestAWSExample(t *testing.T) {
	date := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	data := bytes.Repeat([]byte{'a'}, 66560)
	wire := "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" + string(data[:65536]) + "\r\n" +
		"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" + string(data[65536:]) + "\r\n" +
		"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
	if len(wire) != 66824 {
		t.Fatalf("example body is %d bytes; the documentation's Content-Length is 66824", len(wire))
	}
	opts := chunked.Options{
		Mode:          chunked.Signed,
		SigningKey:    sigv4.SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date, "us-east-1", "s3"),
		SeedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
		Date:          date,
		Region:        "us-east-1",
		DecodedLength: 66560,
	}
	got, err := io.ReadAll(chunked.NewReader(strings.NewReader(wire), opts))
	if err != nil {
		t.Fatalf("ReadAll = %v; want success", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("decoded %d bytes; want the 66560 bytes of 'a'", len(got))
	}

	opts.SeedSignature = flip(opts.SeedSignature)
	if _, err := io.ReadAll(chunked.NewReader(strings.NewReader(wire), opts)); !errors.Is(err, chunked.ErrSignatureDoesNotMatch) {
		t.Errorf("ReadAll with another seed = %v; want ErrSignatureDoesNotMatch", err)
	}
}

// TestAWSTrailerExample decodes the signed-trailer example of the S3
// documentation: the same data with an x-amz-checksum-crc32c trailer.
func TestAWSTrailerExample(t *testing.T) {
	date := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	data := bytes.Repeat([]byte{'a'}, 66560)
	wire := "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" + string(data[:65536]) + "\r\n" +
		"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n" + string(data[65536:]) + "\r\n" +
		"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n" +
		"x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
	r := chunked.NewReader(strings.NewReader(wire), chunked.Options{
		Mode:          chunked.SignedTrailer,
		SigningKey:    sigv4.SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date, "us-east-1", "s3"),
		SeedSignature: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
		Date:          date,
		Region:        "us-east-1",
		DecodedLength: 66560,
		Trailers:      []string{"x-amz-checksum-crc32c"},
	})
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("ReadAll = %v; want success", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("decoded %d bytes; want the 66560 bytes of 'a'", len(got))
	}
	if v := r.Trailers()["x-amz-checksum-crc32c"]; v != "sOO8/Q==" {
		t.Errorf("Trailers()[x-amz-checksum-crc32c] = %q; want sOO8/Q==", v)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	data := pattern(200_000)
	crc := []trailer{{"x-amz-checksum-crc32", sum(t, checksum.CRC32, data)}}
	two := []trailer{{"x-amz-checksum-sha256", sum(t, checksum.SHA256, data)}, {"x-amz-checksum-crc64nvme", sum(t, checksum.CRC64NVME, data)}}
	tests := []struct {
		name string
		b    body
	}{
		{"signed one chunk", body{mode: chunked.Signed, data: data}},
		{"signed 64KiB chunks", body{mode: chunked.Signed, data: data, sizes: []int{65536, 65536, 65536}}},
		{"signed uneven chunks", body{mode: chunked.Signed, data: data, sizes: []int{1, 8191, 100_000}}},
		{"signed empty", body{mode: chunked.Signed, data: nil}},
		{"signed upper-case hex", body{mode: chunked.Signed, data: data, hexUpper: true}},
		{"signed trailer", body{mode: chunked.SignedTrailer, data: data, sizes: []int{65536}, trailers: crc}},
		{"signed two trailers", body{mode: chunked.SignedTrailer, data: data, sizes: []int{65536}, trailers: two}},
		{"signed trailer empty", body{mode: chunked.SignedTrailer, data: nil, trailers: []trailer{{"x-amz-checksum-crc32", sum(t, checksum.CRC32, nil)}}}},
		{"unsigned trailer", body{mode: chunked.UnsignedTrailer, data: data, sizes: []int{65536}, trailers: crc}},
		// minio-go ends trailer lines in "\n\r\n".
		{"unsigned trailer minio-go line ends", body{mode: chunked.UnsignedTrailer, data: data, trailers: crc, trailerLineEnd: "\n\r\n"}},
		{"signed trailer minio-go line ends", body{mode: chunked.SignedTrailer, data: data, trailers: two, trailerLineEnd: "\n\r\n"}},
		{"unsigned two trailers", body{mode: chunked.UnsignedTrailer, data: data, trailers: two}},
		{"unsigned no trailer", body{mode: chunked.UnsignedTrailer, data: data}},
		{"unsigned empty", body{mode: chunked.UnsignedTrailer, data: nil, trailers: []trailer{{"x-amz-checksum-crc32c", sum(t, checksum.CRC32C, nil)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := tt.b.encode()
			r := chunked.NewReader(bytes.NewReader(wire), tt.b.options())
			if err := iotest.TestReader(r, tt.b.data); err != nil {
				t.Fatalf("TestReader: %v", err)
			}
			want := map[string]string{}
			for _, tr := range tt.b.trailers {
				want[tr.name] = tr.value
			}
			if got := r.Trailers(); len(got) != len(want) {
				t.Errorf("Trailers() = %v; want %v", got, want)
			} else {
				for k, v := range want {
					if got[k] != v {
						t.Errorf("Trailers()[%s] = %q; want %q", k, got[k], v)
					}
				}
			}
			// Byte-at-a-time input must decode the same.
			got, err := io.ReadAll(chunked.NewReader(iotest.OneByteReader(bytes.NewReader(wire)), tt.b.options()))
			if err != nil || !bytes.Equal(got, tt.b.data) {
				t.Errorf("one byte at a time: %d bytes, %v; want %d bytes, nil", len(got), err, len(tt.b.data))
			}
			// x-amz-trailer as one comma-separated value, with spaces and an empty entry.
			if len(tt.b.trailers) > 0 {
				o := tt.b.options()
				o.Trailers = []string{strings.Join(o.Trailers, " , ") + ",", ""}
				if got, err := io.ReadAll(chunked.NewReader(bytes.NewReader(wire), o)); err != nil || !bytes.Equal(got, tt.b.data) {
					t.Errorf("trailers as one header value: %d bytes, %v", len(got), err)
				}
			}
			// Without x-amz-decoded-content-length too.
			o := tt.b.options()
			o.DecodedLength = -1
			if got, err := io.ReadAll(chunked.NewReader(bytes.NewReader(wire), o)); err != nil || !bytes.Equal(got, tt.b.data) {
				t.Errorf("without decoded length: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	data := pattern(100_000)
	crc := func(d []byte) []trailer { return []trailer{{"x-amz-checksum-crc32", sum(t, checksum.CRC32, d)}} }
	signed := body{mode: chunked.Signed, data: data, sizes: []int{65536}}
	signedTr := body{mode: chunked.SignedTrailer, data: data, sizes: []int{65536}, trailers: crc(data)}
	unsigned := body{mode: chunked.UnsignedTrailer, data: data, sizes: []int{65536}, trailers: crc(data)}

	cut := func(b body, n int) func() ([]byte, chunked.Options) {
		return func() ([]byte, chunked.Options) { w := b.encode(); return w[:len(w)-n], b.options() }
	}
	edit := func(b body, old, new string) func() ([]byte, chunked.Options) {
		return func() ([]byte, chunked.Options) {
			w := b.encode()
			if !bytes.Contains(w, []byte(old)) {
				panic("body lacks " + old)
			}
			return bytes.Replace(w, []byte(old), []byte(new), 1), b.options()
		}
	}
	with := func(b body, f func(*body)) body { f(&b); return b }
	plain := func(b body) func() ([]byte, chunked.Options) {
		return func() ([]byte, chunked.Options) { return b.encode(), b.options() }
	}
	opt := func(b body, f func(*chunked.Options)) func() ([]byte, chunked.Options) {
		return func() ([]byte, chunked.Options) { o := b.options(); f(&o); return b.encode(), o }
	}
	sig1 := func(b body) string { // first chunk header of b
		w := b.encode()
		return string(w[:bytes.IndexByte(w, '\r')])
	}

	tests := []struct {
		name string
		body func() ([]byte, chunked.Options)
		want error
		code string
	}{
		// Truncation anywhere.
		{"signed cut in data", cut(signed, 40_000), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"signed cut in size line", func() ([]byte, chunked.Options) { w := signed.encode(); return w[:65536+90+20], signed.options() }, chunked.ErrIncompleteBody, "IncompleteBody"},
		{"signed cut before data CRLF", func() ([]byte, chunked.Options) {
			w := signed.encode()
			i := bytes.Index(w, []byte("\r\n")) + 2 + 65536
			return w[:i], signed.options()
		}, chunked.ErrIncompleteBody, "IncompleteBody"},
		{"signed missing final chunk", plain(with(signed, func(b *body) { b.noFinalChunk = true })), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"signed missing last CRLF", cut(signed, 2), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"unsigned cut in trailer", cut(unsigned, 6), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"unsigned missing last CRLF", cut(unsigned, 2), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"unsigned missing final chunk", plain(with(unsigned, func(b *body) { b.noFinalChunk = true })), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"empty body", func() ([]byte, chunked.Options) { return nil, unsigned.options() }, chunked.ErrIncompleteBody, "IncompleteBody"},

		// Too much.
		{"bytes after the end", func() ([]byte, chunked.Options) { return append(signed.encode(), 'x'), signed.options() }, chunked.ErrTooMuchData, "InvalidRequest"},
		{"second body after the end", func() ([]byte, chunked.Options) {
			return append(unsigned.encode(), unsigned.encode()...), unsigned.options()
		}, chunked.ErrTooMuchData, "InvalidRequest"},
		{"more than decoded length", opt(signed, func(o *chunked.Options) { o.DecodedLength-- }), chunked.ErrTooMuchData, "InvalidRequest"},
		{"less than decoded length", opt(unsigned, func(o *chunked.Options) { o.DecodedLength++ }), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"zero-value decoded length", opt(unsigned, func(o *chunked.Options) { o.DecodedLength = 0 }), chunked.ErrTooMuchData, "InvalidRequest"},
		{"chunk over max", opt(signed, func(o *chunked.Options) { o.MaxChunkSize = 65535 }), chunked.ErrChunkTooLarge, "InvalidChunkSizeError"},
		{"huge declared size", edit(unsigned, "10000\r\n", "ffffffffffffffff\r\n"), chunked.ErrChunkTooLarge, "InvalidChunkSizeError"},

		// Signatures.
		{"wrong first chunk signature", plain(with(signed, func(b *body) { b.badChunkSig = 1 })), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong last data chunk signature", plain(with(signed, func(b *body) { b.badChunkSig = 2 })), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong final chunk signature", plain(with(signed, func(b *body) { b.badChunkSig = 3 })), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong final chunk signature, trailer mode", plain(with(signedTr, func(b *body) { b.badChunkSig = 3 })), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"signed data changed", edit(signed, string(data[10:20]), "0123456789"), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong seed", opt(signed, func(o *chunked.Options) { o.SeedSignature = flip(testSeed) }), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong signing key", opt(signed, func(o *chunked.Options) { o.SigningKey = sigv4.SigningKey("other", testDate, testRegion, "s3") }), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong date", opt(signed, func(o *chunked.Options) { o.Date = o.Date.Add(time.Second) }), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong region", opt(signed, func(o *chunked.Options) { o.Region = "us-west-2" }), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"chunks reordered", func() ([]byte, chunked.Options) {
			b := body{mode: chunked.Signed, data: pattern(2000), sizes: []int{1000}}
			w := b.encode()
			first := bytes.Index(w, []byte("3e8;"))
			second := bytes.LastIndex(w, []byte("3e8;"))
			n := second - first // one whole chunk: size line, data, CRLF
			swapped := append(append(append([]byte{}, w[second:second+n]...), w[first:second]...), w[second+n:]...)
			return swapped, b.options()
		}, chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"wrong trailer signature", plain(with(signedTr, func(b *body) { b.badTrailerSig = true })), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},
		{"trailer value changed after signing", edit(signedTr, "x-amz-checksum-crc32:"+crc(data)[0].value, "x-amz-checksum-crc32:AAAAAA=="), chunked.ErrSignatureDoesNotMatch, "SignatureDoesNotMatch"},

		// Checksums.
		{"signed trailer wrong checksum", plain(with(signedTr, func(b *body) { b.trailers = crc(data[1:]) })), checksum.ErrMismatch, "BadDigest"},
		{"unsigned wrong checksum", plain(with(unsigned, func(b *body) { b.trailers = crc(data[1:]) })), checksum.ErrMismatch, "BadDigest"},
		{"unsigned data changed", edit(unsigned, string(data[10:20]), "0123456789"), checksum.ErrMismatch, "BadDigest"},
		{"unsigned wrong sha256", plain(with(unsigned, func(b *body) { b.trailers = []trailer{{"x-amz-checksum-sha256", sum(t, checksum.SHA256, nil)}} })), checksum.ErrMismatch, "BadDigest"},
		{"checksum not base64", plain(with(unsigned, func(b *body) { b.trailers = []trailer{{"x-amz-checksum-crc32", "not base64!"}} })), checksum.ErrInvalidValue, "InvalidRequest"},
		{"checksum wrong length", plain(with(unsigned, func(b *body) { b.trailers = []trailer{{"x-amz-checksum-crc32", "AAAAAAAA"}} })), checksum.ErrInvalidValue, "InvalidRequest"},

		// Framing.
		{"size not hex", edit(unsigned, "10000\r\n", "1000g\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size empty", edit(unsigned, "10000\r\n", "\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size negative", edit(unsigned, "10000\r\n", "-10000\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size 0x prefix", edit(unsigned, "10000\r\n", "0x10000\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size 17 digits", edit(unsigned, "10000\r\n", "00000000000010000\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size too small", edit(unsigned, "10000\r\n", "fff0\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size line bare LF", edit(unsigned, "10000\r\n", "10000\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"size line too long", edit(unsigned, "10000\r\n", "10000"+strings.Repeat(" ", 5000)+"\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"signed chunk without signature", edit(signed, sig1(signed), "10000"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"signed chunk short signature", edit(signed, sig1(signed), sig1(signed)[:len(sig1(signed))-1]), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"signed chunk other extension", edit(signed, ";chunk-signature=", ";chunk-signaturX="), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"unsigned chunk with extension", edit(unsigned, "10000\r\n", "10000;chunk-signature="+testSeed+"\r\n"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},
		{"data not followed by CRLF", edit(unsigned, string(data[65530:65536])+"\r\n", string(data[65530:65536])+"xx"), chunked.ErrMalformedChunk, "InvalidChunkSizeError"},

		// Trailers.
		{"undeclared trailer", opt(unsigned, func(o *chunked.Options) { o.Trailers = nil }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"declared trailer missing", opt(unsigned, func(o *chunked.Options) { o.Trailers = append(o.Trailers, "x-amz-checksum-sha1") }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"other trailer than declared", opt(unsigned, func(o *chunked.Options) { o.Trailers = []string{"x-amz-checksum-crc32c"} }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"non-checksum trailer declared", opt(unsigned, func(o *chunked.Options) { o.Trailers = []string{"x-amz-meta-foo"} }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer declared twice", opt(unsigned, func(o *chunked.Options) { o.Trailers = append(o.Trailers, o.Trailers...) }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer declared twice in one value", opt(unsigned, func(o *chunked.Options) { o.Trailers = []string{"x-amz-checksum-crc32, X-Amz-Checksum-CRC32"} }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"declared in one value, one missing", opt(unsigned, func(o *chunked.Options) { o.Trailers = []string{"x-amz-checksum-crc32,x-amz-checksum-sha1"} }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer sent twice", plain(with(unsigned, func(b *body) { b.trailers = append(crc(data), crc(data)...) })), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer without colon", edit(unsigned, "x-amz-checksum-crc32:", "x-amz-checksum-crc32="), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer bare LF", func() ([]byte, chunked.Options) {
			w := unsigned.encode()
			return append(w[:len(w)-4], "\nx-amz-checksum-sha1:AAAA\r\n\r\n"...), unsigned.options()
		}, chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer bare LF at the end", plain(with(unsigned, func(b *body) { b.trailerLineEnd = "\n" })), chunked.ErrIncompleteBody, "IncompleteBody"},
		{"trailer in signed mode", edit(signed, "\r\n\r\n", "\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailers declared in signed mode", opt(signed, func(o *chunked.Options) { o.Trailers = []string{"x-amz-checksum-crc32"} }), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"missing trailer signature", plain(with(signedTr, func(b *body) { b.noTrailerSig = true })), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer signature in unsigned mode", edit(unsigned, "\r\n\r\n", "\r\nx-amz-trailer-signature:"+testSeed+"\r\n\r\n"), chunked.ErrMalformedTrailer, "MalformedTrailerError"},
		{"trailer after signature", edit(signedTr, "\r\n\r\n", "\r\nx-amz-checksum-sha1:AAAA\r\n\r\n"), chunked.ErrMalformedTrailer, "MalformedTrailerError"},

		// Options.
		{"no mode", opt(unsigned, func(o *chunked.Options) { o.Mode = 0 }), chunked.ErrInvalidOptions, "InternalError"},
		{"signed without key", opt(signed, func(o *chunked.Options) { o.SigningKey = nil }), chunked.ErrInvalidOptions, "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, opts := tt.body()
			got, err := io.ReadAll(chunked.NewReader(bytes.NewReader(wire), opts))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadAll = %d bytes, %v; want %v", len(got), err, tt.want)
			}
			if code, _ := chunked.Code(err); code != tt.code {
				t.Errorf("Code(%v) = %q; want %q", err, code, tt.code)
			}
			if !strings.HasPrefix(err.Error(), "chunked: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
			// The error sticks; no later Read reports success.
			r := chunked.NewReader(bytes.NewReader(wire), opts)
			io.ReadAll(r)
			if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil || err == io.EOF {
				t.Errorf("Read after the error = %d, %v; want 0 and the error", n, err)
			}
			if r.Trailers() != nil {
				t.Errorf("Trailers() = %v after an error; want nil", r.Trailers())
			}
		})
	}
}

// TestNoEOFBeforeVerification checks that all the data may be delivered,
// but the end is not, until the trailer checksum has been verified.
func TestNoEOFBeforeVerification(t *testing.T) {
	data := pattern(1000)
	b := body{mode: chunked.UnsignedTrailer, data: data, trailers: []trailer{{"x-amz-checksum-sha1", sum(t, checksum.SHA1, []byte("other"))}}}
	r := chunked.NewReader(bytes.NewReader(b.encode()), b.options())
	buf := make([]byte, len(data))
	n, err := io.ReadFull(r, buf)
	if n != len(data) || err != nil {
		t.Fatalf("ReadFull = %d, %v; want all %d bytes", n, err, len(data))
	}
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, checksum.ErrMismatch) {
		t.Errorf("Read at the end = %d, %v; want 0, checksum mismatch", n, err)
	}
}

// TestMemoryBounded streams a 48 MiB signed chunk and a 48 MiB unsigned
// chunk through a Reader and requires it to allocate far less than that.
func TestMemoryBounded(t *testing.T) {
	const size = 48 << 20
	zeros := sha256.New()
	io.CopyN(zeros, zeroReader{}, size)
	chunkHash := hex.EncodeToString(zeros.Sum(nil))
	stamp := testDate.Format("20060102T150405Z")
	scope := testDate.Format("20060102") + "/" + testRegion + "/s3/aws4_request"
	sig1 := hmacHex(testKey, strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, testSeed, emptyHash, chunkHash}, "\n"))
	sig2 := hmacHex(testKey, strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, sig1, emptyHash, emptyHash}, "\n"))
	signedBody := io.MultiReader(
		strings.NewReader("3000000;chunk-signature="+sig1+"\r\n"),
		io.LimitReader(zeroReader{}, size),
		strings.NewReader("\r\n0;chunk-signature="+sig2+"\r\n\r\n"))
	unsignedBody := io.MultiReader(
		strings.NewReader("3000000\r\n"),
		io.LimitReader(zeroReader{}, size),
		strings.NewReader("\r\n0\r\nx-amz-checksum-crc32:"+crc32OfZeros(size)+"\r\n\r\n"))
	for name, c := range map[string]struct {
		body io.Reader
		opts chunked.Options
	}{
		"signed":   {signedBody, chunked.Options{Mode: chunked.Signed, SigningKey: testKey, SeedSignature: testSeed, Date: testDate, Region: testRegion, DecodedLength: size}},
		"unsigned": {unsignedBody, chunked.Options{Mode: chunked.UnsignedTrailer, DecodedLength: size, Trailers: []string{"x-amz-checksum-crc32"}}},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n, err := io.CopyBuffer(io.Discard, chunked.NewReader(c.body, c.opts), make([]byte, 32<<10))
		runtime.ReadMemStats(&after)
		if err != nil || n != size {
			t.Fatalf("%s: Copy = %d, %v; want %d, nil", name, n, err, size)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: decoding %d MiB allocated %d bytes; want under 1 MiB", name, size>>20, alloc)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func crc32OfZeros(n int64) string {
	h, _ := checksum.New(checksum.CRC32)
	io.CopyN(h, zeroReader{}, n)
	return checksum.Encode(h.Sum(nil))
}

func TestParseMode(t *testing.T) {
	for _, m := range []chunked.Mode{chunked.Signed, chunked.SignedTrailer, chunked.UnsignedTrailer} {
		got, ok := chunked.ParseMode(m.String())
		if !ok || got != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m.String(), got, ok, m)
		}
	}
	for _, s := range []string{sigv4.UnsignedPayload, sigv4.EmptySHA256, "", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"} {
		if m, ok := chunked.ParseMode(s); ok {
			t.Errorf("ParseMode(%q) = %v, true; want false", s, m)
		}
	}
	if sigv4.StreamingPayload != chunked.Signed.String() || sigv4.StreamingPayloadTrailer != chunked.SignedTrailer.String() ||
		sigv4.StreamingUnsignedPayloadTrailer != chunked.UnsignedTrailer.String() {
		t.Error("sigv4's payload constants and chunked's modes disagree")
	}
}

func FuzzChunkedReader(f *testing.F) {
	data := pattern(300)
	crc := []trailer{{"x-amz-checksum-crc32", sum(f, checksum.CRC32, data)}}
	for _, b := range []body{
		{mode: chunked.Signed, data: data, sizes: []int{100}},
		{mode: chunked.SignedTrailer, data: data, sizes: []int{100}, trailers: crc},
		{mode: chunked.UnsignedTrailer, data: data, sizes: []int{100, 100}, trailers: crc},
		{mode: chunked.UnsignedTrailer, data: nil, trailers: []trailer{{"x-amz-checksum-crc32", sum(f, checksum.CRC32, nil)}}},
	} {
		f.Add(uint8(b.mode), b.encode())
	}
	f.Add(uint8(chunked.UnsignedTrailer), []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"))
	f.Add(uint8(chunked.UnsignedTrailer), []byte("ffffffffffffffff\r\n"))
	f.Fuzz(func(t *testing.T, mode uint8, wire []byte) {
		b := body{mode: chunked.Mode(mode%3 + 1)}
		if b.mode != chunked.Signed {
			b.trailers = []trailer{{"x-amz-checksum-crc32", ""}}
		}
		o := b.options()
		o.DecodedLength = -1
		r := chunked.NewReader(bytes.NewReader(wire), o)
		got, err := io.ReadAll(r)
		if len(got) > len(wire) {
			t.Fatalf("decoded %d bytes from %d", len(got), len(wire))
		}
		if err != nil {
			if code, status := chunked.Code(err); code == "" || status == 0 {
				t.Fatalf("error %v has no S3 code", err)
			}
			return
		}
		if b.mode == chunked.Signed {
			return
		}
		// Success means the declared checksum matched the decoded data.
		v := r.Trailers()["x-amz-checksum-crc32"]
		if want := sum(t, checksum.CRC32, got); v != want {
			t.Fatalf("accepted trailer %q for data whose CRC32 is %q", v, want)
		}
	})
}
