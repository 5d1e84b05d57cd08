package guard

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var fuzzKeys = []string{"x.csv", "x.tsv", "x.jsonl", "x.json", "x.parquet", "x.png", "x.jpg", "x.zip", "x.gz", "x"}

// FuzzProfiler feeds arbitrary bytes, under every kind of name and cut
// into writes of any size, to the profiler: it must not panic, the profile
// must encode as JSON and read back the same, and Check must cope with it.
func FuzzProfiler(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n3,x\n"), uint8(0), uint8(3))
	f.Add([]byte("a\tb\n1\t2\n"), uint8(1), uint8(0))
	f.Add([]byte("{\"a\":1,\"b\":[1,{\"c\":null}]}\n{\"a\":\"2\"}\n"), uint8(2), uint8(5))
	f.Add([]byte(`[{"a":1},{"a":true}]`), uint8(3), uint8(2))
	f.Add([]byte("id,n\n1,\"x\ny\"\n2,\"\"\"\"\n"), uint8(0), uint8(1))
	f.Add([]byte("t\n2024-03-01T10:00:00+01:00\n1e308\n-1e308\n"), uint8(0), uint8(0))
	f.Add([]byte("x,y,k\n1,2,a\n2,4.5,b\n3,5,a\n4,8,b\n5,9,a\n6,13,c\n7,14,a\n8,15,b\n9,19,a\n10,20,b\n11,1e300,a\n12,NA,b\n"), uint8(0), uint8(3))
	f.Add(pngBytes(f)[:100], uint8(5), uint8(7))
	f.Add(zipBytes(f), uint8(7), uint8(9))
	f.Add(gzipBytes(f, []byte("a,b\n1,2\n3,x\n")), uint8(8), uint8(4))
	f.Add(gzipBytes(f, []byte("{\"a\":1}\n{\"a\":2}\n")), uint8(8), uint8(201))
	files, _ := filepath.Glob(filepath.Join("testdata", "parquet", "*", "*.parquet"))
	more, _ := filepath.Glob(filepath.Join("testdata", "parquet", "*.parquet"))
	for _, name := range append(files, more...) {
		if data, err := os.ReadFile(name); err == nil && len(data) < 8<<10 {
			f.Add(data, uint8(4), uint8(11))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, key, cut uint8) {
		chunk := int(cut)%64 + 1
		if cut > 200 {
			chunk = 0
		}
		opts := &ProfileOptions{FullRows: 50, SampleBytes: 64, MaxBuffer: 1 << 20, MaxDecompressed: 1 << 20}
		if cut%2 == 1 {
			opts.Size = int64(len(data))
		}
		p := profileBytes(t, fuzzKeys[int(key)%len(fuzzKeys)], data, chunk, opts)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("profile does not encode: %v", err)
		}
		var back Profile
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("profile does not decode: %v", err)
		}
		if !reflect.DeepEqual(&back, p) {
			t.Fatalf("profile changes through JSON:\n%s", b)
		}
		sib := []*Profile{p, &back, p, &back, p, &back}
		Check(p, Baseline{Previous: &back, Siblings: sib}, Thresholds{})
		Check(&back, Baseline{Siblings: sib[:2]}, Thresholds{})
		// the same bytes profiled with the model their own profile gives
		if m := NewModel(sib, Thresholds{}); m != nil {
			opts.Model = m
			q := profileBytes(t, fuzzKeys[int(key)%len(fuzzKeys)], data, chunk, opts)
			if _, err := json.Marshal(q); err != nil {
				t.Fatalf("profile with a model does not encode: %v", err)
			}
			Check(q, Baseline{Siblings: sib}, Thresholds{})
		}
	})
}
