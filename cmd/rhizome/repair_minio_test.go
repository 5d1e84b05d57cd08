package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhizome-data/rhizome/internal/testenv"
)

// newMinIOStore writes the config of a 4+2 store over six MinIO servers,
// two per region, credentials in environment variables.
func newMinIOStore(t *testing.T, servers []*testenv.MinIO) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	var b strings.Builder
	b.WriteString("version: 1\nk: 4\nm: 2\nblock_size: 256KiB\nbackends:\n")
	for i, m := range servers {
		region := []string{"a", "b", "c"}[i/2]
		fmt.Fprintf(&b, "  - name: region-%s-%d\n    region: region-%s\n    type: s3\n    endpoint: %s\n    bucket: %s\n    path_style: true\n    timeout: 5s\n    access_key_env: RZ_CLI_AK_%d\n    secret_key_env: RZ_CLI_SK_%d\n",
			region, i%2+1, region, m.Endpoint(), m.Bucket(), i, i)
		t.Setenv(fmt.Sprintf("RZ_CLI_AK_%d", i), m.AccessKey())
		t.Setenv(fmt.Sprintf("RZ_CLI_SK_%d", i), m.SecretKey())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rhizome.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRepairKill9OnMinIO loses a whole server (restarted with an empty
// disk), kills repair with SIGKILL part-way, and checks that a second
// repair completes and every object reads back exactly.
func TestRepairKill9OnMinIO(t *testing.T) {
	servers := testenv.StartMinIOs(t, 6)
	dir := newMinIOStore(t, servers)
	want := putMany(t, dir, 30)

	lost := servers[3] // region-b-2
	lost.Wipe()
	if err := lost.CreateBucket(context.Background(), lost.Bucket()); err != nil {
		t.Fatal(err)
	}
	checkContents(t, dir, want) // degraded, but whole

	killRepairAfter(t, dir, 6)

	var rp struct {
		Repaired  int64
		Shards    int64 `json:"shards_rebuilt"`
		Deferred  int64
		QueueLeft int64 `json:"queue_left"`
	}
	out := mustRZ(t, dir, nil, "repair", "--json")
	if err := json.Unmarshal([]byte(out.stdout), &rp); err != nil {
		t.Fatal(err)
	}
	if rp.Shards < int64(len(want))-6 || rp.Deferred != 0 || rp.QueueLeft != 0 {
		t.Fatalf("second repair = %+v; want the remaining shards rebuilt, nothing left", rp)
	}
	if rep, r := scrubJSON(t, dir); r.code != 0 || rep.Healthy != int64(len(want)) {
		t.Fatalf("scrub after the second repair: exit %d, %+v; want %d healthy", r.code, rep, len(want))
	}
	checkContents(t, dir, want)
	var st struct{ Protected, UnderProtect int64 }
	json.Unmarshal([]byte(mustRZ(t, dir, nil, "status", "--json").stdout), &st)
	if st.Protected != int64(len(want)) || st.UnderProtect != 0 {
		t.Fatalf("status = %+v; want all %d fully protected", st, len(want))
	}
}
