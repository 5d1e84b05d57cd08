package checksum_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
)

func b64(tb testing.TB, hexOrInt any) string {
	tb.Helper()
	switch v := hexOrInt.(type) {
	case uint32:
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, v))
	case uint64:
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, v))
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	}
	tb.Fatalf("b64(%T)", hexOrInt)
	return ""
}

func unhex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = fromHex(s[2*i])<<4 | fromHex(s[2*i+1])
	}
	return b
}

func fromHex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// TestCheckValues checks each algorithm's published check value, the
// digest of "123456789" (CRC catalogue; CRC-64/NVME is 0xae8b14860a799888).
func TestCheckValues(t *testing.T) {
	tests := []struct {
		algo string
		want string
	}{
		{checksum.CRC32, b64(t, uint32(0xcbf43926))},
		{checksum.CRC32C, b64(t, uint32(0xe3069283))},
		{checksum.CRC64NVME, b64(t, uint64(0xae8b14860a799888))},
		{checksum.SHA1, b64(t, unhex("f7c3bc1d808e04732adf679965ccc34ca7ae3441"))},
		{checksum.SHA256, b64(t, unhex("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"))},
	}
	for _, tt := range tests {
		h, err := checksum.New(tt.algo)
		if err != nil {
			t.Fatalf("New(%s): %v", tt.algo, err)
		}
		io.WriteString(h, "123456789")
		if got := checksum.Encode(h.Sum(nil)); got != tt.want {
			t.Errorf("%s(123456789) = %s; want %s", tt.algo, got, tt.want)
		}
		if n, _ := checksum.Size(tt.algo); n != h.Size() {
			t.Errorf("Size(%s) = %d; the hash says %d", tt.algo, n, h.Size())
		}
	}
}

// TestAgainstAWSSDK uploads bodies with the AWS SDK for Go over http,
// where it sends the x-amz-checksum-* header it computed, and requires
// this package to compute the same values.
func TestAgainstAWSSDK(t *testing.T) {
	var mu sync.Mutex
	var header http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		header, body = r.Header.Clone(), b
		mu.Unlock()
		w.Header().Set("ETag", `"e"`)
	}))
	defer srv.Close()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		HTTPClient:   srv.Client(),
	})
	for _, algo := range checksum.Algorithms() {
		for _, size := range []int{0, 1, 7, 4096, 1<<20 + 3} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*31 + i>>9)
			}
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String("b"), Key: aws.String("k"), Body: bytes.NewReader(data),
				ChecksumAlgorithm: types.ChecksumAlgorithm(algo),
			})
			if err != nil {
				t.Fatalf("PutObject(%s, %d bytes): %v", algo, size, err)
			}
			mu.Lock()
			h, b := header, body
			mu.Unlock()
			gotAlgo, value, err := checksum.FromRequest(h)
			if err != nil || gotAlgo != algo {
				t.Fatalf("FromRequest = %q, %q, %v; want algorithm %s", gotAlgo, value, err, algo)
			}
			r, err := checksum.NewReader(bytes.NewReader(b), algo, value)
			if err != nil {
				t.Fatalf("NewReader(%s, %q): %v", algo, value, err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Errorf("%s of %d bytes: the SDK sent %s; verifying: %v", algo, size, value, err)
			}
			if r.Sum() != value {
				t.Errorf("Sum() = %s; want %s", r.Sum(), value)
			}
		}
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ header, algo string }{
		{"x-amz-checksum-crc32", "CRC32"},
		{"X-Amz-Checksum-Crc32c", "CRC32C"},
		{"x-amz-checksum-crc64nvme", "CRC64NVME"},
		{"x-amz-checksum-sha1", "SHA1"},
		{"X-AMZ-CHECKSUM-SHA256", "SHA256"},
	} {
		algo, ok := checksum.FromHeader(tt.header)
		if !ok || algo != tt.algo {
			t.Errorf("FromHeader(%q) = %q, %v; want %q", tt.header, algo, ok, tt.algo)
		}
		if got := checksum.Header(strings.ToLower(tt.algo)); got != strings.ToLower(tt.header) {
			t.Errorf("Header(%q) = %q; want %q", tt.algo, got, strings.ToLower(tt.header))
		}
	}
	for _, h := range []string{"x-amz-checksum-algorithm", "x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-", "x-amz-checksum", "content-md5", "x-amz-checksum-md5"} {
		if algo, ok := checksum.FromHeader(h); ok {
			t.Errorf("FromHeader(%q) = %q, true; want false", h, algo)
		}
	}
	if _, err := checksum.New("MD5"); !errors.Is(err, checksum.ErrUnknownAlgorithm) {
		t.Errorf("New(MD5) = %v; want ErrUnknownAlgorithm", err)
	}
	if checksum.Header("MD5") != "" {
		t.Errorf("Header(MD5) = %q; want empty", checksum.Header("MD5"))
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		algo, value string
		ok          bool
	}{
		{checksum.CRC32, "yZRlqg==", true},
		{checksum.CRC32, "yZRlqg", false}, // no padding
		{checksum.CRC32, "yZRlqgAA", false},
		{checksum.CRC64NVME, "AAAAAAAAAAA=", true},
		{checksum.CRC64NVME, "AAAAAA==", false},
		{checksum.SHA256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", true},
		{checksum.SHA256, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", false}, // URL alphabet
		{checksum.SHA1, "", false},
		{checksum.SHA1, "not base64 at all", false},
	}
	for _, tt := range tests {
		_, err := checksum.Parse(tt.algo, tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%s, %q) = %v; want ok=%v", tt.algo, tt.value, err, tt.ok)
		}
		if err != nil && !errors.Is(err, checksum.ErrInvalidValue) {
			t.Errorf("Parse(%s, %q) = %v; want ErrInvalidValue", tt.algo, tt.value, err)
		}
	}
}

func TestReader(t *testing.T) {
	data := "some object data"
	h, _ := checksum.New(checksum.CRC32C)
	io.WriteString(h, data)
	good := checksum.Encode(h.Sum(nil))

	r, err := checksum.NewReader(iotest.HalfReader(strings.NewReader(data)), "crc32c", good)
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(r, []byte(data)); err != nil {
		t.Errorf("matching checksum: %v", err)
	}

	r, _ = checksum.NewReader(strings.NewReader(data+"!"), checksum.CRC32C, good)
	got, err := io.ReadAll(r)
	if !errors.Is(err, checksum.ErrMismatch) {
		t.Fatalf("ReadAll with a changed body = %q, %v; want ErrMismatch", got, err)
	}
	if code, status := checksum.Code(err); code != "BadDigest" || status != 400 {
		t.Errorf("Code(%v) = %s, %d; want BadDigest, 400", err, code, status)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, checksum.ErrMismatch) {
		t.Errorf("Read after the mismatch = %v; want the mismatch again", err)
	}

	if _, err := checksum.NewReader(strings.NewReader(data), checksum.CRC32C, "bad"); !errors.Is(err, checksum.ErrInvalidValue) {
		t.Errorf("NewReader with a bad value = %v; want ErrInvalidValue", err)
	}
	if code, _ := checksum.Code(checksum.ErrInvalidValue); code != "InvalidRequest" {
		t.Errorf("Code(ErrInvalidValue) = %s; want InvalidRequest", code)
	}
}

func TestFromRequest(t *testing.T) {
	h := http.Header{}
	if algo, v, err := checksum.FromRequest(h); algo != "" || v != "" || err != nil {
		t.Errorf("FromRequest(no headers) = %q, %q, %v; want empty", algo, v, err)
	}
	h.Set("X-Amz-Checksum-Algorithm", "CRC32")
	h.Set("X-Amz-Checksum-Crc32", "yZRlqg==")
	if algo, v, err := checksum.FromRequest(h); algo != checksum.CRC32 || v != "yZRlqg==" || err != nil {
		t.Errorf("FromRequest = %q, %q, %v; want CRC32, yZRlqg==", algo, v, err)
	}
	h.Set("X-Amz-Checksum-Sha1", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=")
	if _, _, err := checksum.FromRequest(h); !errors.Is(err, checksum.ErrInvalidValue) {
		t.Errorf("FromRequest with two checksums = %v; want ErrInvalidValue", err)
	}
	h.Del("X-Amz-Checksum-Sha1")
	h.Set("X-Amz-Checksum-Crc32", "garbage")
	if _, _, err := checksum.FromRequest(h); !errors.Is(err, checksum.ErrInvalidValue) {
		t.Errorf("FromRequest with a bad value = %v; want ErrInvalidValue", err)
	}
}
