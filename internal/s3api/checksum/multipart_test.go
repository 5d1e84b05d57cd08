package checksum

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestCombinerMatchesWholeCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	splits := map[string][]int{
		"one piece":         {len(data)},
		"equal pieces":      {100 << 10, 100 << 10, 100 << 10},
		"uneven pieces":     {1, 4095, 70000, 1 << 17, len(data) - 1 - 4095 - 70000 - 1<<17},
		"empty pieces":      {0, 1000, 0, len(data) - 1000, 0},
		"single byte first": {1, len(data) - 1},
	}
	for _, algo := range []string{CRC32, CRC32C, CRC64NVME} {
		h, _ := New(algo)
		h.Write(data)
		want := h.Sum(nil)
		for name, sizes := range splits {
			cb, err := NewCombiner(algo)
			if err != nil {
				t.Fatal(err)
			}
			off := 0
			for _, n := range sizes {
				ph, _ := New(algo)
				ph.Write(data[off : off+n])
				if err := cb.Add(ph.Sum(nil), int64(n)); err != nil {
					t.Fatal(err)
				}
				off += n
			}
			if got := cb.Sum(); !Equal(got, want) {
				t.Errorf("%s, %s: combined %s = %s; want %s", algo, name, algo, Encode(got), Encode(want))
			}
		}
	}
}

func TestCombinerRefuses(t *testing.T) {
	for _, algo := range []string{SHA1, SHA256, "MD5"} {
		if _, err := NewCombiner(algo); !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("NewCombiner(%s) = %v; want ErrUnknownAlgorithm", algo, err)
		}
	}
	cb, _ := NewCombiner(CRC32)
	if err := cb.Add(make([]byte, 8), 10); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Add(8-byte sum to a CRC32) = %v; want ErrInvalidValue", err)
	}
}

func TestCompositeOf(t *testing.T) {
	a, b := sha256.Sum256([]byte("part one")), sha256.Sum256([]byte("part two"))
	whole := sha256.Sum256(append(a[:], b[:]...))
	want := base64.StdEncoding.EncodeToString(whole[:]) + "-2"
	if got, err := CompositeOf(SHA256, [][]byte{a[:], b[:]}); err != nil || got != want {
		t.Errorf("CompositeOf(SHA256) = %q, %v; want %q", got, err, want)
	}
}

func TestSupports(t *testing.T) {
	for _, tc := range []struct {
		algo, typ string
		want      bool
	}{
		{CRC32, Composite, true}, {CRC32, FullObject, true},
		{CRC32C, Composite, true}, {CRC32C, FullObject, true},
		{CRC64NVME, Composite, false}, {CRC64NVME, FullObject, true},
		{SHA1, Composite, true}, {SHA1, FullObject, false},
		{SHA256, Composite, true}, {SHA256, FullObject, false},
		{"MD5", Composite, false}, {CRC32, "OTHER", false},
	} {
		if got := Supports(tc.algo, tc.typ); got != tc.want {
			t.Errorf("Supports(%s, %s) = %v; want %v", tc.algo, tc.typ, got, tc.want)
		}
	}
	if DefaultType(CRC64NVME) != FullObject || DefaultType("crc32") != Composite {
		t.Errorf("DefaultType(CRC64NVME), DefaultType(crc32) = %s, %s; want FULL_OBJECT, COMPOSITE", DefaultType(CRC64NVME), DefaultType("crc32"))
	}
}
