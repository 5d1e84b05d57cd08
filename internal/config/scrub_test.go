package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScrubSettings(t *testing.T) {
	for _, tc := range []struct {
		interval string
		every    time.Duration
		bad      bool
	}{
		{"", DefaultScrubInterval, false},
		{"off", 0, false},
		{"36h", 36 * time.Hour, false},
		{"weekly", 0, true},
		{"-1h", 0, true},
	} {
		c := Default(t.TempDir())
		c.ScrubInterval = tc.interval
		every, _, err := c.Scrub()
		_, cerr := c.Check()
		if tc.bad {
			if !errors.Is(err, ErrInvalid) || !errors.Is(cerr, ErrInvalid) {
				t.Errorf("scrub_interval %q: Scrub() = %v, Check() = %v; want ErrInvalid from both", tc.interval, err, cerr)
			}
			continue
		}
		if err != nil || cerr != nil || every != tc.every {
			t.Errorf("scrub_interval %q: Scrub() = %v, %v (Check %v); want %v", tc.interval, every, err, cerr, tc.every)
		}
	}
	c := Default(t.TempDir())
	c.ScrubRate = -1
	if _, err := c.Check(); !errors.Is(err, ErrInvalid) {
		t.Errorf("scrub_rate -1: Check() = %v; want ErrInvalid", err)
	}
}

func TestScrubRateFromYAML(t *testing.T) {
	dir := t.TempDir()
	c := Default(dir)
	c.ScrubRate, c.ScrubInterval = 50<<20, "24h"
	if err := c.Write(); err != nil {
		t.Fatal(err)
	}
	got, _, err := Load(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	every, rate, err := got.Scrub()
	if err != nil || every != 24*time.Hour || rate != 50<<20 {
		t.Fatalf("loaded scrub settings = %v, %d, %v; want 24h, 50 MiB/s", every, rate, err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, FileName))
	if !strings.Contains(string(raw), "scrub_rate: 50MiB") {
		t.Fatalf("written config lacks scrub_rate: 50MiB:\n%s", raw)
	}
}
