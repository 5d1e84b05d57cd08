package sigv4_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

const exampleSig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

func TestParseAuthorization(t *testing.T) {
	want := sigv4.Authorization{
		AccessKey: "AKIAIOSFODNN7EXAMPLE", Date: "20130524", Region: "us-east-1", Service: "s3",
		SignedHeaders: "host;range;x-amz-date", Signature: exampleSig,
	}
	good := []struct{ name, header string }{
		{"SDK form", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + exampleSig},
		{"no spaces", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-date,Signature=" + exampleSig},
		{"other order", "AWS4-HMAC-SHA256 Signature=" + exampleSig + ", Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date"},
		{"surrounding space", "  AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request ,  SignedHeaders=host;range;x-amz-date , Signature=" + exampleSig + "  "},
		{"uppercase signature", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + strings.ToUpper(exampleSig)},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sigv4.ParseAuthorization(tt.header)
			if err != nil {
				t.Fatalf("ParseAuthorization = %v; want success", err)
			}
			if *got != want {
				t.Errorf("ParseAuthorization = %+v; want %+v", *got, want)
			}
			if got.Scope() != "20130524/us-east-1/s3/aws4_request" {
				t.Errorf("Scope() = %q", got.Scope())
			}
		})
	}

	cred := "Credential=AKID/20130524/us-east-1/s3/aws4_request"
	sh := "SignedHeaders=host"
	sig := "Signature=" + exampleSig
	bad := []struct {
		name, header string
		want         error
	}{
		{"empty", "", sigv4.ErrAuthorizationHeaderMalformed},
		{"SigV2", "AWS AKID:c2ln", sigv4.ErrUnsupportedAlgorithm},
		{"SigV4a", "AWS4-ECDSA-P256-SHA256 " + cred + ", " + sh + ", " + sig, sigv4.ErrUnsupportedAlgorithm},
		{"bearer", "Bearer token", sigv4.ErrUnsupportedAlgorithm},
		{"algorithm only", "AWS4-HMAC-SHA256", sigv4.ErrAuthorizationHeaderMalformed},
		{"missing credential", "AWS4-HMAC-SHA256 " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"missing signed headers", "AWS4-HMAC-SHA256 " + cred + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"missing signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh, sigv4.ErrAuthorizationHeaderMalformed},
		{"duplicate component", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"unknown component", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ", Extra=1", sigv4.ErrAuthorizationHeaderMalformed},
		{"component without =", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ", junk", sigv4.ErrAuthorizationHeaderMalformed},
		{"short credential", "AWS4-HMAC-SHA256 Credential=AKID/20130524/s3/aws4_request, " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"empty access key", "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws5_request, " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"bad date", "AWS4-HMAC-SHA256 Credential=AKID/2013-05-24/us-east-1/s3/aws4_request, " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"impossible date", "AWS4-HMAC-SHA256 Credential=AKID/20131324/us-east-1/s3/aws4_request, " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"empty region", "AWS4-HMAC-SHA256 Credential=AKID/20130524//s3/aws4_request, " + sh + ", " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"empty signed header name", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"empty signed headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, " + sig, sigv4.ErrAuthorizationHeaderMalformed},
		{"short signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=abc", sigv4.ErrAuthorizationHeaderMalformed},
		{"non-hex signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("z", 64), sigv4.ErrAuthorizationHeaderMalformed},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sigv4.ParseAuthorization(tt.header)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseAuthorization(%q) = %+v, %v; want %v", tt.header, got, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sigv4: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestParseAuthorizationAccessKeyWithSlash(t *testing.T) {
	a, err := sigv4.ParseAuthorization("AWS4-HMAC-SHA256 Credential=team/alice/20260101/eu/s3/aws4_request, SignedHeaders=host, Signature=" + exampleSig)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKey != "team/alice" || a.Region != "eu" {
		t.Errorf("AccessKey, Region = %q, %q; want team/alice, eu", a.AccessKey, a.Region)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/20130524/r/s3/aws4_request,SignedHeaders=host,Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Signature=" + exampleSig + ",Credential=k/20260101/x/s3/aws4_request,SignedHeaders=a;b",
		"AWS4-HMAC-SHA256 Credential=,SignedHeaders=,Signature=",
		"AWS4-HMAC-SHA256 ,,,,",
		"AWS4-HMAC-SHA256 Credential=k/20260231/x/s3/aws4_request, Credential=k",
		"AWS AKID:sig",
		"AWS4-ECDSA-P256-SHA256 Credential=x",
		"",
		"\x00\xff=,;/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := sigv4.ParseAuthorization(header)
		if err != nil {
			if !errors.Is(err, sigv4.ErrAuthorizationHeaderMalformed) && !errors.Is(err, sigv4.ErrUnsupportedAlgorithm) {
				t.Fatalf("ParseAuthorization(%q) error %v wraps neither sentinel", header, err)
			}
			if a != nil {
				t.Fatalf("ParseAuthorization(%q) returned %+v with error %v", header, a, err)
			}
			return
		}
		// What parses must print back to something that parses the same.
		again := fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s", sigv4.Algorithm, a.AccessKey, a.Scope(), a.SignedHeaders, a.Signature)
		b, err := sigv4.ParseAuthorization(again)
		if err != nil || *b != *a {
			t.Fatalf("reparsing %q = %+v, %v; want %+v", again, b, err, a)
		}
		if len(a.Signature) != 64 || a.AccessKey == "" || a.Region == "" || a.Service == "" || a.SignedHeaders == "" {
			t.Fatalf("ParseAuthorization(%q) accepted incomplete %+v", header, a)
		}
	})
}

func TestVerifyingBody(t *testing.T) {
	body := "the body"
	good := sha256Hex([]byte(body))
	tests := []struct {
		name string
		want string
		err  error
	}{
		{"match", good, nil},
		{"match uppercase", strings.ToUpper(good), nil},
		{"mismatch", sha256Hex([]byte("the bodY")), sigv4.ErrContentSHA256Mismatch},
		{"unsigned payload", sigv4.UnsignedPayload, sigv4.ErrInvalidContentSHA256},
		{"streaming", sigv4.StreamingPayload, sigv4.ErrInvalidContentSHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader makes the hash see the body in many writes.
			got, err := io.ReadAll(sigv4.VerifyingBody(iotest.OneByteReader(strings.NewReader(body)), tt.want))
			if !errors.Is(err, tt.err) {
				t.Fatalf("ReadAll = %q, %v; want error %v", got, err, tt.err)
			}
			if err == nil && string(got) != body {
				t.Errorf("ReadAll = %q; want %q", got, body)
			}
		})
	}
	t.Run("error is sticky", func(t *testing.T) {
		r := sigv4.VerifyingBody(strings.NewReader(body), sigv4.EmptySHA256)
		io.ReadAll(r)
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, sigv4.ErrContentSHA256Mismatch) {
			t.Errorf("Read after mismatch = %v; want ErrContentSHA256Mismatch again", err)
		}
	})
}
