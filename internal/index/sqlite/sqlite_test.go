package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
	"github.com/rhizome-data/rhizome/internal/index/indextest"
)

// dirs maps each test to its index directory, so that every open(t) of one
// test reaches the same file.
var dirs sync.Map // *testing.T -> string

func open(t *testing.T) index.Index {
	t.Helper()
	d, _ := dirs.LoadOrStore(t, t.TempDir())
	return openPath(t, filepath.Join(d.(string), "index.db"))
}

func openPath(t testing.TB, path string) *Index {
	t.Helper()
	ix, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := ix.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return ix
}

func TestConformance(t *testing.T) {
	indextest.Run(t, open)
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE people (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if ix, err := Open(other, nil); err == nil {
		ix.Close()
		t.Errorf("Open(an unrelated SQLite database) = nil error")
	}

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	if ix, err := Open(garbage, nil); err == nil {
		ix.Close()
		t.Errorf("Open(garbage) = nil error")
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	ix := openPath(t, path)
	var v string
	if err := ix.rdb.QueryRow(`SELECT value FROM meta WHERE name = 'schema_version'`).Scan(&v); err != nil || v != fmt.Sprint(len(migrations)) {
		t.Fatalf("schema_version = %q, %v; want %d", v, err, len(migrations))
	}
	var app int
	if err := ix.rdb.QueryRow(`PRAGMA application_id`).Scan(&app); err != nil || app != applicationID {
		t.Errorf("application_id = %#x, %v; want %#x", app, err, applicationID)
	}
	// Reopening does not migrate again.
	openPath(t, path)

	// A file from a newer build is refused rather than misread.
	if _, err := ix.wconn.ExecContext(t.Context(), `UPDATE meta SET value = '99' WHERE name = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	if ix2, err := Open(path, nil); err == nil {
		ix2.Close()
		t.Errorf("Open(schema version 99) = nil error")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open(schema version 99) = %v; want an error about a newer schema", err)
	}
}

// TestPathEscaping: a file name with URI syntax in it opens as a file name.
func TestPathEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "index.db")
	ix := openPath(t, path)
	if err := ix.CreateBucket(t.Context(), "b", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("index file not where asked: %v", err)
	}
}

// TestQueryPlans: the listing queries walk primary keys in order and never
// sort or scan a whole table, whatever the data.
func TestQueryPlans(t *testing.T) {
	ix := openPath(t, filepath.Join(t.TempDir(), "index.db"))
	queries := []struct {
		name, query string
		want        []string // plan lines that must appear
	}{
		{"listLive", listLiveQuery(true), []string{"SEARCH l USING PRIMARY KEY (bucket=? AND key>? AND key<?)", "SEARCH v USING PRIMARY KEY (bucket=? AND key=? AND id=?)"}},
		{"listLiveN", listLiveQuery(false), []string{"SEARCH l USING PRIMARY KEY (bucket=? AND key>?)", "SEARCH v USING PRIMARY KEY (bucket=? AND key=? AND id=?)"}},
		{"listLatest", listLatestQuery(true), []string{"SEARCH v USING PRIMARY KEY (bucket=? AND key>? AND key<?)"}},
		{"listLatestN", listLatestQuery(false), []string{"SEARCH v USING PRIMARY KEY (bucket=? AND key>?)"}},
		{"listAll", listAllQuery(true), []string{"SEARCH v USING PRIMARY KEY (bucket=? AND key>? AND key<?)"}},
		{"listAllN", listAllQuery(false), []string{"SEARCH v USING PRIMARY KEY (bucket=? AND key>?)"}},
		{"massTally", massTallyQuery, []string{"SEARCH mass_changes USING COVERING INDEX mass_changes_by_identity (policy=? AND prefix=? AND identity=? AND time>?)"}},
		{"massPrune", massPruneQuery, []string{"SEARCH mass_changes USING INDEX mass_changes_by_time (time<?)"}},
		{"manifests", `SELECT ref, data FROM manifests WHERE ref IN (SELECT value FROM json_each(?))`, []string{"SEARCH manifests USING INTEGER PRIMARY KEY (rowid=?)"}},
	}
	for _, q := range queries {
		args := []any{"b", "k", int64(0), "z", 1}[:strings.Count(q.query, "?")]
		rows, err := ix.rdb.Query("EXPLAIN QUERY PLAN "+q.query, args...)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		for _, w := range q.want {
			if !strings.Contains(p, w) {
				t.Errorf("%s: plan %q lacks %q", q.name, p, w)
			}
		}
		if strings.Contains(p, "TEMP B-TREE") || strings.Contains(strings.NewReplacer("SCAN json_each VIRTUAL TABLE", "", "SCAN (subquery-1)", "").Replace(p), "SCAN") {
			t.Errorf("%s: plan %q sorts or scans", q.name, p)
		}
	}
}

// Child processes: the test binary runs itself with childEnv set to the
// index path and childMode to what to do.
const (
	childEnv  = "RHIZOME_INDEX_TEST_CHILD"
	childMode = "RHIZOME_INDEX_TEST_CHILD_MODE"
)

// TestChild is the child process's body; it does nothing in a normal run.
func TestChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as a child process")
	}
	ix, err := Open(path, nil)
	if err != nil {
		fmt.Printf("child: open: %v\n", err)
		os.Exit(2)
	}
	ctx := context.Background()
	switch os.Getenv(childMode) {
	case "write":
		// Write childVersions versions from several goroutines.
		if err := writeMany(ctx, ix, "child", childVersions, 4, nil); err != nil {
			fmt.Printf("child: %v\n", err)
			os.Exit(1)
		}
		if err := ix.Close(); err != nil {
			fmt.Printf("child: close: %v\n", err)
			os.Exit(1)
		}
	case "write-until-killed":
		// Report each acknowledged write on stdout; the parent kills us.
		var mu sync.Mutex
		out := bufio.NewWriter(os.Stdout)
		err := writeMany(ctx, ix, "doomed", 1<<30, 4, func(id string) {
			mu.Lock()
			fmt.Fprintf(out, "acked %s\n", id)
			out.Flush()
			mu.Unlock()
		})
		fmt.Printf("child: %v\n", err)
		os.Exit(1)
	}
}

const childVersions = 400

// writeMany writes n versions of keys under prefix from workers goroutines,
// calling acked (if not nil) after each write returns.
func writeMany(ctx context.Context, ix index.Index, prefix string, n, workers int, acked func(id string)) error {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				at := base.Add(time.Duration(i) * time.Millisecond)
				key := fmt.Sprintf("%s/%d", prefix, i%50)
				v := index.Version{
					Bucket: "b", Key: key, ID: fmt.Sprintf("%016x%016x", at.UnixNano(), i),
					Time: at, Size: int64(i), ETag: "etag", Shards: 6,
					Manifest: []byte(fmt.Sprintf("%s manifest %d", prefix, i)),
				}
				if err := ix.PutVersion(ctx, v); err != nil {
					errs <- fmt.Errorf("PutVersion(%s %s) = %w", key, v.ID, err)
					return
				}
				if acked != nil {
					acked(key + " " + v.ID)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func child(t *testing.T, path, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path, childMode+"="+mode)
	return cmd
}

// TestMultiProcess: another process writes to the same file while this one
// does. Neither sees a locking error and all writes of both are there.
func TestMultiProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	ix := openPath(t, path)
	if err := ix.CreateBucket(t.Context(), "b", time.Now()); err != nil {
		t.Fatal(err)
	}
	cmd := child(t, path, "write")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	parentErr := writeMany(t.Context(), ix, "parent", childVersions, 4, nil)
	childErr := cmd.Wait()
	if parentErr != nil {
		t.Errorf("parent: %v", parentErr)
	}
	if childErr != nil {
		t.Errorf("child: %v\n%s", childErr, out.String())
	}
	for _, prefix := range []string{"parent/", "child/"} {
		res, err := ix.ListVersions(t.Context(), index.ListVersionsOptions{Bucket: "b", Prefix: prefix, Limit: index.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Versions) != childVersions {
			t.Errorf("%s: %d versions; want %d", prefix, len(res.Versions), childVersions)
		}
	}
}

// TestKilledWriter: every write a process saw acknowledged is in the index
// after that process is killed with SIGKILL mid-stream.
func TestKilledWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	ix := openPath(t, path)
	if err := ix.CreateBucket(t.Context(), "b", time.Now()); err != nil {
		t.Fatal(err)
	}
	cmd := child(t, path, "write-until-killed")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked [][2]string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "acked ")
		if !ok {
			t.Errorf("child: %s", sc.Text())
			continue
		}
		key, id, _ := strings.Cut(line, " ")
		acked = append(acked, [2]string{key, id})
		if len(acked) == 300 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v; want killed", err)
	}
	// A new handle, as after a restart: recovery from the WAL.
	ix2 := openPath(t, path)
	for _, a := range acked {
		if _, err := ix2.Version(t.Context(), "b", a[0], a[1]); err != nil {
			t.Errorf("acknowledged write %s %s lost: %v", a[0], a[1], err)
		}
	}
	t.Logf("%d acknowledged writes before the kill, all present", len(acked))
}

// TestWritePanics: a panic in an UpdateVersion callback reaches the caller
// and leaves the index usable.
func TestWritePanics(t *testing.T) {
	ix := openPath(t, filepath.Join(t.TempDir(), "index.db"))
	ctx := t.Context()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	v := index.Version{Bucket: "b", Key: "k", ID: fmt.Sprintf("%016x%016x", at.UnixNano(), 1), Time: at, Shards: 6}
	if err := ix.CreateBucket(ctx, "b", at); err != nil {
		t.Fatal(err)
	}
	if err := ix.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v; want boom", p)
			}
		}()
		_ = ix.UpdateVersion(ctx, "b", "k", v.ID, func(v *index.Version) error {
			v.Shards = 1
			panic("boom")
		})
	}()
	got, err := ix.Version(ctx, "b", "k", v.ID)
	if err != nil || got.Shards != 6 {
		t.Errorf("after a panicking update: Version() = %+v, %v; want Shards 6", got, err)
	}
	if err := ix.UpdateVersion(ctx, "b", "k", v.ID, func(v *index.Version) error { v.Shards = 5; return nil }); err != nil {
		t.Errorf("UpdateVersion() after a panic = %v", err)
	}
}

func TestClosed(t *testing.T) {
	ix := openPath(t, filepath.Join(t.TempDir(), "index.db"))
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.CreateBucket(t.Context(), "b", time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateBucket() after Close = %v; want ErrClosed", err)
	}
	if _, err := ix.Buckets(t.Context()); err == nil {
		t.Errorf("Buckets() after Close = nil error")
	}
}
