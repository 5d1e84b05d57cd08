package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteCorpus regenerates the seed corpora under testdata/fuzz from
// real encodings. It runs only with RHIZOME_WRITE_CORPUS=1.
func TestWriteCorpus(t *testing.T) {
	if os.Getenv("RHIZOME_WRITE_CORPUS") != "1" {
		t.Skip("set RHIZOME_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	priv := testKey(t)
	env, _ := Encode(sample(), priv)
	var vid [16]byte
	pieces, _ := Seal(env, vid, 4, 6, nil)
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzDecode", "valid", env)
	write("FuzzDecode", "truncated", env[:len(env)/2])
	write("FuzzDecode", "bad-length", append([]byte("RZM1\xff\xff\xff\xff"), env[8:]...))
	write("FuzzParsePiece", "valid", pieces[0])
	write("FuzzParsePiece", "short", pieces[1][:30])
	write("FuzzParsePiece", "bad-k", append([]byte("RZP1\x07\x06\x00\x00"), pieces[2][8:]...))
}
