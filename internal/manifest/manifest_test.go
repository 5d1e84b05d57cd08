package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func testKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

func sample() *Manifest {
	key := bytes.Repeat([]byte{7}, 32)
	return &Manifest{
		Kind: KindObject, ID: "0123456789abcdef0123456789abcdef", Bucket: "lake", Key: "a/b.csv",
		Time: time.Unix(1700000000, 5).UTC(), Size: 10, ContentHash: "ff",
		Meta: map[string]string{"x-amz-meta-owner": "ana"},
		Segments: []Segment{{
			ID: "0123456789abcdef0123456789abcdef", Size: 10, K: 2, M: 1, BlockSize: 4096, Key: key,
			Backends: []string{"a", "b", ""}, Roots: [][]byte{{1}, {2}, nil},
		}},
	}
}

func TestEncodeDecode(t *testing.T) {
	priv := testKey(t)
	env, err := Encode(sample(), priv)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(env, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if m.Key != "a/b.csv" || m.Size != 10 || m.Segments[0].Written() != 2 || !m.Time.Equal(sample().Time) {
		t.Fatalf("Decode = %+v; fields lost", m)
	}
}

func TestDecodeRejects(t *testing.T) {
	priv := testKey(t)
	pub := priv.Public().(ed25519.PublicKey)
	env, _ := Encode(sample(), priv)
	other := testKey(t)
	envOther, _ := Encode(sample(), other)

	flip := append([]byte(nil), env...)
	flip[20] ^= 1
	bad := sample()
	bad.Size = 11 // segments disagree
	envBad, _ := Encode(bad, priv)

	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", env[:len(env)-1], ErrMalformed},
		{"bit flip", flip, ErrSignature},
		{"other store", envOther, ErrSignature},
		{"inconsistent", envBad, ErrMalformed},
	}
	for _, tc := range cases {
		if _, err := Decode(tc.b, pub); !errors.Is(err, tc.want) {
			t.Errorf("%s: Decode err = %v; want %v", tc.name, err, tc.want)
		}
	}
}

func TestPiecesAnyK(t *testing.T) {
	priv := testKey(t)
	pub := priv.Public().(ed25519.PublicKey)
	env, _ := Encode(sample(), priv)
	var vid [16]byte
	copy(vid[:], "0123456789abcdef")
	for _, master := range [][]byte{nil, bytes.Repeat([]byte{9}, 32)} {
		pieces, err := Seal(env, vid, 4, 6, master)
		if err != nil {
			t.Fatal(err)
		}
		// any 4 of 6 open; 3 do not.
		subsets(6, 4, func(idx []int) bool {
			sub := make([][]byte, 6)
			for _, i := range idx {
				sub[i] = pieces[i]
			}
			res, err := Open(sub, master, pub)
			if err != nil {
				t.Fatalf("Open(%v): %v", idx, err)
			}
			if !bytes.Equal(res.Envelope, env) || len(res.Bad) != 0 {
				t.Fatalf("Open(%v) = bad %v", idx, res.Bad)
			}
			return true
		})
		if _, err := Open([][]byte{pieces[0], pieces[1], pieces[2]}, master, pub); !errors.Is(err, ErrUnreadable) {
			t.Fatalf("3 pieces: err = %v; want ErrUnreadable", err)
		}
		// No piece alone contains the envelope in clear.
		for i, p := range pieces {
			if bytes.Contains(p, []byte("a/b.csv")) || bytes.Contains(p, []byte("lake")) {
				t.Fatalf("piece %d leaks the key name", i)
			}
		}
	}
	// Master key needed when configured.
	master := bytes.Repeat([]byte{9}, 32)
	pieces, _ := Seal(env, vid, 4, 6, master)
	if _, err := Open(pieces, nil, pub); err == nil {
		t.Fatal("opened without the master key")
	}
}

func TestPiecesTolerateTampering(t *testing.T) {
	priv := testKey(t)
	pub := priv.Public().(ed25519.PublicKey)
	env, _ := Encode(sample(), priv)
	var vid [16]byte
	pieces, _ := Seal(env, vid, 4, 6, nil)
	// piece 1: share tampered; piece 4: ciphertext tampered.
	pieces[1][30] ^= 0xff
	pieces[4][len(pieces[4])-3] ^= 0xff
	res, err := Open(pieces, nil, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Bad; len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("Bad = %v; want [1 4]", got)
	}
	// shares 1, 2, 3 tampered: three good shares of six remain, so the
	// manifest is unreadable, never a wrong one.
	// (different bytes, so that errors cannot cancel in the interpolation)
	pieces[2][35] ^= 0xff
	pieces[3][40] ^= 0xff
	if _, err := Open(pieces, nil, pub); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("3 tampered: err = %v; want ErrUnreadable", err)
	}
	// a re-signed edit by someone without the store key is refused.
	m := sample()
	m.Size, m.Segments[0].Size = 99, 99
	forged, _ := Encode(m, testKey(t))
	fp, _ := Seal(forged, vid, 4, 6, nil)
	if _, err := Open(fp, nil, pub); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("forged manifest: err = %v; want signature error", err)
	}
}

func FuzzDecode(f *testing.F) {
	priv := testKey(f)
	pub := priv.Public().(ed25519.PublicKey)
	env, _ := Encode(sample(), priv)
	f.Add(env)
	f.Add(env[:10])
	f.Add([]byte("RZM1\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, pub)
		if err == nil && m == nil {
			t.Fatal("nil manifest without error")
		}
	})
}

func FuzzParsePiece(f *testing.F) {
	priv := testKey(f)
	env, _ := Encode(sample(), priv)
	var vid [16]byte
	pieces, _ := Seal(env, vid, 4, 6, nil)
	f.Add(pieces[0])
	f.Add(pieces[5][:40])
	f.Add([]byte("RZP1\x04\x06\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParsePiece(b)
		if err == nil && (h.K < 1 || h.Index >= h.N) {
			t.Fatalf("accepted impossible header %+v", h)
		}
		// Open never panics and never returns a manifest for random bytes.
		if res, err := Open([][]byte{b, b, b, b}, nil, priv.Public().(ed25519.PublicKey)); err == nil && res.Manifest == nil {
			t.Fatal("nil manifest without error")
		}
	})
}

func TestInlined(t *testing.T) {
	for _, tc := range []struct {
		m    Manifest
		want bool
	}{
		{Manifest{Kind: KindObject, Data: []byte("x"), Size: 1}, true},
		{Manifest{Kind: KindObject}, true}, // empty object
		{Manifest{Kind: KindObject, Segments: []Segment{{}}}, false},
		{Manifest{Kind: KindObject, DeleteMarker: true}, false},
		{Manifest{Kind: KindBucket}, false},
	} {
		if got := tc.m.Inlined(); got != tc.want {
			t.Errorf("%+v: Inlined() = %v; want %v", tc.m, got, tc.want)
		}
	}
}
