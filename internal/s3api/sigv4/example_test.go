package sigv4_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// The GET Object example of the S3 SigV4 documentation, verified, then
// replayed with a changed Range header.
func ExampleVerify() {
	lookup := sigv4.StaticLookup(sigv4.Credentials{AccessKey: "AKIAIOSFODNN7EXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
	now := time.Date(2013, 5, 24, 0, 1, 0, 0, time.UTC)

	r := httptest.NewRequest("GET", "/test.txt", nil)
	r.Host = "examplebucket.s3.amazonaws.com"
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", sigv4.EmptySHA256)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"+
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

	res, err := sigv4.Verify(r, lookup, now, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.AccessKey, res.Region, res.PayloadHash == sigv4.EmptySHA256)

	r.Header.Set("Range", "bytes=0-99")
	_, err = sigv4.Verify(r, lookup, now, nil)
	code, status := sigv4.Code(err)
	fmt.Println(status, code)
	// Output:
	// AKIAIOSFODNN7EXAMPLE us-east-1 true
	// 403 SignatureDoesNotMatch
}
