package chunked_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// A reference aws-chunked encoder, written from the AWS documentation
// (sigv4-streaming.html), used to build bodies the AWS SDK for Go does not
// produce (signed chunks) and to build broken ones.

var (
	testDate   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testRegion = "us-east-1"
	testKey    = sigv4.SigningKey("secret-key", testDate, testRegion, "s3")
	testSeed   = strings.Repeat("5eed", 16)
)

const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

type trailer struct{ name, value string }

// body describes an aws-chunked body to encode.
type body struct {
	mode     chunked.Mode
	data     []byte
	sizes    []int     // chunk sizes; the rest of data goes in one more chunk
	trailers []trailer // written in this order
	// Knobs for broken bodies.
	badChunkSig    int  // 1-based chunk whose signature is wrong; len(chunks)+1 is the final chunk
	badTrailerSig  bool // wrong x-amz-trailer-signature
	noTrailerSig   bool // omit x-amz-trailer-signature
	noFinalChunk   bool // stop after the last data chunk
	hexUpper       bool // upper-case hex sizes
	trailerLineEnd string
}

func hmacHex(key []byte, s string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (b body) signed() bool { return b.mode == chunked.Signed || b.mode == chunked.SignedTrailer }

func (b body) chunks() [][]byte {
	var out [][]byte
	data := b.data
	for _, n := range b.sizes {
		out = append(out, data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}

// encode returns the wire bytes of b.
func (b body) encode() []byte {
	stamp := testDate.Format("20060102T150405Z")
	scope := testDate.Format("20060102") + "/" + testRegion + "/s3/aws4_request"
	prev := testSeed
	var w bytes.Buffer
	sizeFmt := "%x"
	if b.hexUpper {
		sizeFmt = "%X"
	}
	chunks := b.chunks()
	if !b.noFinalChunk {
		chunks = append(chunks, nil)
	}
	for i, c := range chunks {
		fmt.Fprintf(&w, sizeFmt, len(c))
		if b.signed() {
			sig := hmacHex(testKey, strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, prev, emptyHash, sha256Hex(c)}, "\n"))
			prev = sig
			if b.badChunkSig == i+1 {
				sig = flip(sig)
			}
			w.WriteString(";chunk-signature=" + sig)
		}
		w.WriteString("\r\n")
		if len(c) > 0 {
			w.Write(c)
			w.WriteString("\r\n")
		}
	}
	if b.noFinalChunk {
		return w.Bytes()
	}
	end := "\r\n"
	if b.trailerLineEnd != "" {
		end = b.trailerLineEnd
	}
	for _, t := range b.trailers {
		w.WriteString(t.name + ":" + t.value + end)
	}
	if b.mode == chunked.SignedTrailer && !b.noTrailerSig {
		sorted := slices.Clone(b.trailers)
		slices.SortFunc(sorted, func(x, y trailer) int { return strings.Compare(x.name, y.name) })
		var canon strings.Builder
		for _, t := range sorted {
			canon.WriteString(t.name + ":" + t.value + "\n")
		}
		sig := hmacHex(testKey, strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", stamp, scope, prev, sha256Hex([]byte(canon.String()))}, "\n"))
		if b.badTrailerSig {
			sig = flip(sig)
		}
		w.WriteString("x-amz-trailer-signature:" + sig + "\r\n")
	}
	w.WriteString("\r\n")
	return w.Bytes()
}

func flip(hexString string) string {
	if hexString[0] == '0' {
		return "1" + hexString[1:]
	}
	return "0" + hexString[1:]
}

// options returns the Options a gateway would build for b's request.
func (b body) options() chunked.Options {
	o := chunked.Options{Mode: b.mode, DecodedLength: int64(len(b.data))}
	if b.signed() {
		o.SigningKey, o.SeedSignature, o.Date, o.Region = testKey, testSeed, testDate, testRegion
	}
	for _, t := range b.trailers {
		o.Trailers = append(o.Trailers, t.name)
	}
	return o
}

// sum returns the base64 checksum of data for algo.
func sum(tb testing.TB, algo string, data []byte) string {
	tb.Helper()
	h, err := checksum.New(algo)
	if err != nil {
		tb.Fatal(err)
	}
	h.Write(data)
	return checksum.Encode(h.Sum(nil))
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}
