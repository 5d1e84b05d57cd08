package keys

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

func TestSplitCombineEverySubset(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{6, 4}, {3, 1}, {5, 5}, {14, 10}, {2, 2}} {
		secret := make([]byte, 32)
		rand.Read(secret)
		shares, err := Split(secret, tc.n, tc.k, nil)
		if err != nil {
			t.Fatal(err)
		}
		// every k-subset rebuilds; every (k-1)-subset does not (with
		// overwhelming probability for a 32-byte secret).
		forSubsets(tc.n, tc.k, func(idx []int) {
			got, err := Combine(pick(shares, idx))
			if err != nil {
				t.Fatalf("%d-of-%d %v: %v", tc.k, tc.n, idx, err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("%d-of-%d Combine(%v) = %x; want %x", tc.k, tc.n, idx, got, secret)
			}
		})
		if tc.k > 1 {
			forSubsets(tc.n, tc.k-1, func(idx []int) {
				got, _ := Combine(pick(shares, idx))
				if bytes.Equal(got, secret) {
					t.Fatalf("%d-of-%d: %d shares %v rebuilt the secret", tc.k, tc.n, tc.k-1, idx)
				}
			})
		}
	}
}

// With k=2, one share alone is uniformly distributed: over many splits of the
// same secret, share 1's first byte takes many values.
func TestSingleShareRevealsNothing(t *testing.T) {
	seen := map[byte]bool{}
	for i := 0; i < 2000; i++ {
		s, err := Split([]byte{0x42}, 3, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[s[0].Y[0]] = true
	}
	if len(seen) < 200 {
		t.Fatalf("share values took only %d distinct values over 2000 splits; want near 256", len(seen))
	}
}

func TestCombineRejectsBadShares(t *testing.T) {
	cases := map[string][]Share{
		"none":     nil,
		"zero x":   {{X: 0, Y: []byte{1}}},
		"repeated": {{X: 1, Y: []byte{1}}, {X: 1, Y: []byte{2}}},
		"lengths":  {{X: 1, Y: []byte{1}}, {X: 2, Y: []byte{1, 2}}},
	}
	for name, sh := range cases {
		if _, err := Combine(sh); err == nil {
			t.Errorf("%s: Combine accepted bad shares", name)
		}
	}
	if _, err := Split([]byte{1}, 3, 4, nil); err == nil {
		t.Error("Split(k>n) accepted")
	}
}

func TestWrapNeedsMaster(t *testing.T) {
	dk, _ := NewDataKey()
	master, _ := NewDataKey()
	vid := []byte("version-1")
	w := Wrap(master, dk, vid)
	if bytes.Equal(w, dk) {
		t.Fatal("Wrap with a master key returned the data key unchanged")
	}
	if got := Unwrap(master, w, vid); !bytes.Equal(got, dk) {
		t.Fatalf("Unwrap = %x; want %x", got, dk)
	}
	if got := Unwrap(master, w, []byte("version-2")); bytes.Equal(got, dk) {
		t.Fatal("Unwrap under another version ID returned the data key")
	}
	if got := Wrap(nil, dk, vid); !bytes.Equal(got, dk) {
		t.Fatal("Wrap without master changed the key")
	}
}

func TestSigningKeyPersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "signing.key")
	k1, err := LoadOrCreateSigningKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateSigningKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second load returned a different key")
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v; want 0600", st.Mode().Perm())
	}
	os.WriteFile(p, []byte("not base64!"), 0o600)
	if _, err := LoadOrCreateSigningKey(p); err == nil {
		t.Fatal("corrupt key file accepted")
	}
}

func forSubsets(n, k int, fn func([]int)) {
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			fn(append([]int(nil), idx...))
			return
		}
		for i := start; i < n; i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

func pick(s []Share, idx []int) []Share {
	out := make([]Share, len(idx))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}
