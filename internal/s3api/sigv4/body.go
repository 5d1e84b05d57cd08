package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// ErrContentSHA256Mismatch is returned (wrapped) by a VerifyingBody reader
// at the end of a body whose SHA-256 differs from x-amz-content-sha256.
var ErrContentSHA256Mismatch = errors.New("sigv4: x-amz-content-sha256 mismatch")

// VerifyingBody returns a reader that yields body's bytes and, at their
// end, io.EOF only if their SHA-256 equals wantSHA256Hex (a hex SHA-256
// from Result.PayloadHash); otherwise an error wrapping
// ErrContentSHA256Mismatch. Bytes are passed on before they are verified:
// the caller must discard what it read when Read returns an error.
// A want that is not a hex SHA-256 (UNSIGNED-PAYLOAD, STREAMING-*) makes
// the first Read fail with ErrInvalidContentSHA256.
func VerifyingBody(body io.Reader, wantSHA256Hex string) io.Reader {
	v := &verifyingBody{r: body, h: sha256.New(), want: strings.ToLower(wantSHA256Hex)}
	if !isHexSHA256(wantSHA256Hex) {
		v.err = fmt.Errorf("%w: %q is not a hex SHA-256; the body must be checked another way", ErrInvalidContentSHA256, clip(wantSHA256Hex))
	}
	return v
}

type verifyingBody struct {
	r    io.Reader
	h    hash.Hash
	want string
	err  error
}

func (v *verifyingBody) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			err = fmt.Errorf("%w: the body's SHA-256 is %s; x-amz-content-sha256 is %s", ErrContentSHA256Mismatch, got, v.want)
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}
