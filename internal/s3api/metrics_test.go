package s3api

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/store"
)

// scrape returns the value of the first metric line matching re.
func (ts *testServer) scrape(t *testing.T, re string) float64 {
	t.Helper()
	resp, err := ts.http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestMetricsHealthReadyAndLog(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	data := random(1 << 20)
	ts.put(t, "lake", "obj", data)
	ts.get(t, "lake", "obj")
	ts.get(t, "lake", "obj")

	if v := ts.scrape(t, `rhizome_s3_requests_total\{code="200",operation="PutObject"\}`); v != 1 {
		t.Errorf("PutObject 200 count = %v; want 1", v)
	}
	if v := ts.scrape(t, `rhizome_s3_requests_total\{code="200",operation="GetObject"\}`); v != 2 {
		t.Errorf("GetObject 200 count = %v; want 2", v)
	}
	if v := ts.scrape(t, `rhizome_s3_sent_bytes_total\{operation="GetObject"\}`); v != float64(2*len(data)) {
		t.Errorf("GetObject bytes out = %v; want %d", v, 2*len(data))
	}
	if v := ts.scrape(t, `rhizome_s3_received_bytes_total\{operation="PutObject"\}`); v < float64(len(data)) {
		t.Errorf("PutObject bytes in = %v; want at least %d", v, len(data))
	}
	if v := ts.scrape(t, `rhizome_s3_request_duration_seconds_count\{operation="GetObject"\}`); v != 2 {
		t.Errorf("GetObject latency count = %v; want 2", v)
	}
	if v := ts.scrape(t, `go_goroutines`); v <= 0 {
		t.Errorf("go_goroutines = %v; want the Go collector", v)
	}
	// An error is counted by code and S3 error.
	req := ts.signedRequest(t, "GET", "/lake/missing", nil, sha256Hex(nil), time.Now(), nil)
	ts.do(t, req)
	if v := ts.scrape(t, `rhizome_s3_requests_total\{code="404",operation="GetObject"\}`); v != 1 {
		t.Errorf("GetObject 404 count = %v; want 1", v)
	}
	if v := ts.scrape(t, `rhizome_s3_errors_total\{error="NoSuchKey",operation="GetObject"\}`); v != 1 {
		t.Errorf("NoSuchKey count = %v; want 1", v)
	}

	// A degraded read: one shard file gone, the bytes still come back.
	info, err := ts.st.Stat(t.Context(), "lake", "obj", store.StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh := ts.st.Shards(info)[0]
	removed := 0
	for _, b := range ts.cfg.Backends {
		if b.Name != sh.Backend {
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(ts.cfg.Resolve(b.Path), "d", "*", sh.Segment+".0"))
		for _, m := range matches {
			if os.Remove(m) == nil {
				removed++
			}
		}
	}
	if removed != 1 {
		t.Fatalf("removed %d shard files; want 1", removed)
	}
	if got, _ := ts.get(t, "lake", "obj"); !bytes.Equal(got, data) {
		t.Fatal("degraded read returned other bytes")
	}
	if v := ts.scrape(t, `rhizome_s3_degraded_reads_total`); v != 1 {
		t.Errorf("degraded reads = %v; want 1", v)
	}

	// Liveness and readiness.
	resp, err := ts.http.Get(ts.url + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health: %v %v", resp, err)
	}
	resp.Body.Close()
	readiness := func() (int, Readiness) {
		resp, err := ts.http.Get(ts.url + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rd Readiness
		if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, rd
	}
	if status, rd := readiness(); status != 200 || !rd.Ready || rd.Reachable != 6 || rd.ReadNeeds != 4 || rd.WriteNeeds != 5 {
		t.Errorf("/ready = %d %+v; want 200, 6 reachable, needs 4 and 5", status, rd)
	}
	// Two backends gone: reads still work, writes (quorum 5) would not.
	var moved []string
	for _, b := range ts.cfg.Backends[:2] {
		p := ts.cfg.Resolve(b.Path)
		if err := os.Rename(p, p+".away"); err != nil {
			t.Fatal(err)
		}
		moved = append(moved, p)
	}
	time.Sleep(1100 * time.Millisecond) // readiness is cached for a second
	status, rd := readiness()
	if status != 503 || rd.Ready || rd.Reachable != 4 || len(rd.Down) != 2 {
		t.Errorf("/ready with two backends gone = %d %+v; want 503, 4 reachable, 2 down", status, rd)
	}
	for _, p := range moved {
		os.Rename(p+".away", p)
	}
	// A signed request for /health is an S3 request for bucket "health".
	req = ts.signedRequest(t, "GET", "/health", nil, sha256Hex(nil), time.Now(), nil)
	if status, _, body := ts.do(t, req); status != 404 || errorCodeOf(body) != "NoSuchBucket" {
		t.Errorf("signed GET /health: %d %s; want 404 NoSuchBucket", status, errorCodeOf(body))
	}

	// The access log has one structured line per request.
	log := ts.accessLog()
	for _, want := range []string{"msg=request", "component=s3", "operation=PutObject", "status=200", "bucket=lake", "key=obj",
		"access_key=" + adminKey, "request_id=", "bytes_in=", "bytes_out=1048576", "duration=", "error=NoSuchKey"} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, adminSecret) {
		t.Error("the access log contains the secret key")
	}
}
