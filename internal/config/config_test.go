package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := Default(dir)
	if err := c.Write(); err != nil {
		t.Fatal(err)
	}
	got, warn, err := Load(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 0 || got.K != 4 || got.M != 2 || len(got.Backends) != 6 || got.BlockSize != 1<<20 || got.WriteQuorum != 5 {
		t.Fatalf("Load(Default) = k=%d m=%d backends=%d bs=%d quorum=%d warn=%v", got.K, got.M, len(got.Backends), got.BlockSize, got.WriteQuorum, warn)
	}
	regions := map[string]int{}
	for _, b := range got.Backends {
		regions[b.Region]++
	}
	if len(regions) != 3 {
		t.Fatalf("default regions = %v; want 3 with 2 each", regions)
	}
	if err := c.Write(); err == nil {
		t.Fatal("Write overwrote an existing config")
	}
}

func TestLoadRejects(t *testing.T) {
	base := "version: 1\nk: 4\nm: 2\nbackends:\n" +
		"  - {name: a1, region: a, type: fs, path: a1}\n  - {name: a2, region: a, type: fs, path: a2}\n" +
		"  - {name: b1, region: b, type: fs, path: b1}\n  - {name: b2, region: b, type: fs, path: b2}\n" +
		"  - {name: c1, region: c, type: fs, path: c1}\n  - {name: c2, region: c, type: fs, path: c2}\n"
	cases := []struct{ name, yaml, want string }{
		{"typo", strings.Replace(base, "m: 2", "mm: 2", 1), "field mm not found"},
		{"bad size", base + "block_size: lots\n", "want a byte count"},
		{"tiny block", base + "block_size: 1KiB\n", "block_size"},
		{"quorum", base + "write_quorum: 7\n", "write_quorum 7"},
		{"type", strings.Replace(base, "type: fs, path: c2", "type: ftp", 1), `type "ftp"`},
		{"s3 without bucket", strings.Replace(base, "type: fs, path: c2", "type: s3, endpoint: http://x", 1), "needs endpoint and bucket"},
		{"region loss", strings.Replace(strings.Replace(base, "region: c", "region: b", 2), "region: a", "region: b", 1), "survive: backends"},
		{"version", strings.Replace(base, "version: 1", "version: 9", 1), "version 9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), FileName)
			os.WriteFile(p, []byte(tc.yaml), 0o644)
			_, _, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load err = %v; want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "1MiB": 1 << 20, "64 KiB": 64 << 10, "2GiB": 2 << 30, "5B": 5} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1MB", "x"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}
