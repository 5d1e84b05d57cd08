// Command rhizome-bench runs the same S3 load against `rhizome serve` and
// against a MinIO server (six drives, erasure parity 2, built-in KMS with
// SSE-S3 bucket encryption) on each of a list of media, and prints a
// markdown table of throughput and server CPU-seconds per GiB, with the
// ratio Rhizome/MinIO.
//
// Server CPU is read from /proc/PID/stat (utime+stime) before and after
// each load. The load generator runs in this process, on the same machine.
//
//	go run ./cmd/rhizome-bench --media /dev/shm,/var/tmp
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

const bucket = "bench"

type options struct {
	rhizomeBin, minioBin string
	media                []string
	bigMiB, bigObjects   int
	bigClients           []int
	smallKiB             int
	smallObjects         int
	smallClients         int
	listKeys, listReps   int
	guardRow             bool
	keep                 bool
}

func main() {
	var o options
	var media, bigClients string
	flag.StringVar(&o.rhizomeBin, "rhizome-bin", "", "rhizome binary (default: go build ./cmd/rhizome into the work directory)")
	flag.StringVar(&o.minioBin, "minio-bin", "", "minio binary (default: $RHIZOME_MINIO_BIN, $(go env GOPATH)/bin/minio, or minio on $PATH)")
	flag.StringVar(&media, "media", "/dev/shm,/var/tmp", "comma-separated parent directories for the servers' data; one run per medium")
	flag.IntVar(&o.bigMiB, "big-mib", 64, "size of a large object in MiB")
	flag.IntVar(&o.bigObjects, "big-objects", 16, "large objects per PUT and per GET load")
	flag.StringVar(&bigClients, "big-clients", "4,16", "client counts for the large-object loads")
	flag.IntVar(&o.smallKiB, "small-kib", 4, "size of a small object in KiB")
	flag.IntVar(&o.smallObjects, "small-objects", 3000, "small objects per PUT and per GET load")
	flag.IntVar(&o.smallClients, "small-clients", 32, "clients for the small-object loads")
	flag.IntVar(&o.listKeys, "list-keys", 10000, "keys under the listed prefix")
	flag.IntVar(&o.listReps, "list-reps", 3, "full paginated listings of the prefix per LIST load")
	flag.BoolVar(&o.guardRow, "guard-row", true, "also measure Rhizome's large-object PUT with the guard on (the other loads run with it off)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directories")
	flag.Parse()
	for _, m := range strings.Split(media, ",") {
		if m = strings.TrimSpace(m); m != "" {
			o.media = append(o.media, m)
		}
	}
	for _, c := range strings.Split(bigClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fatalf("--big-clients %q: want positive integers", bigClients)
		}
		o.bigClients = append(o.bigClients, n)
	}
	if o.bigMiB < 1 || o.bigObjects < 1 || o.smallKiB < 1 || o.smallObjects < 1 || o.smallClients < 1 || o.listKeys < 1 || o.listReps < 1 {
		fatalf("sizes, counts and client numbers must be positive")
	}
	if err := run(context.Background(), o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "rhizome-bench: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// result is one load against one server.
type result struct {
	ops   int
	bytes int64
	keys  int // LIST: keys returned
	dur   time.Duration
	cpu   float64 // server CPU seconds
}

// row is one load against both servers.
type row struct {
	medium, load string
	list         bool
	rh, mi       *result
	note         string
}

func run(ctx context.Context, o options) error {
	if o.minioBin == "" {
		p, err := findMinIO()
		if err != nil {
			return err
		}
		o.minioBin = p
	}
	if o.rhizomeBin == "" {
		dir, err := os.MkdirTemp("", "rhizome-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.rhizomeBin = filepath.Join(dir, "rhizome")
		logf("building %s", o.rhizomeBin)
		cmd := exec.Command("go", "build", "-o", o.rhizomeBin, "./cmd/rhizome")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/rhizome (run from the repository root, or pass --rhizome-bin): %w", err)
		}
	}
	big := make([]byte, o.bigMiB<<20)
	small := make([]byte, o.smallKiB<<10)
	rand.Read(big)
	rand.Read(small)

	var rows []row
	for _, medium := range o.media {
		mrows, err := runMedium(ctx, o, medium, big, small)
		if err != nil {
			return fmt.Errorf("%s: %w", medium, err)
		}
		rows = append(rows, mrows...)
	}
	printTable(os.Stdout, o, rows)
	return nil
}

// loadSpec is one load, run the same way against each server.
type loadSpec struct {
	name    string
	clients int
	ops     int
	list    bool
	fn      func(ctx context.Context, c *s3.Client, i int) (int64, int, error)
}

func specs(o options, big, small []byte) []loadSpec {
	var ls []loadSpec
	for _, c := range o.bigClients {
		prefix := fmt.Sprintf("big/c%d/", c)
		ls = append(ls, loadSpec{name: fmt.Sprintf("PUT %d MiB, %d clients", o.bigMiB, c), clients: c, ops: o.bigObjects,
			fn: putFn(prefix, big)})
	}
	for _, c := range o.bigClients {
		prefix := fmt.Sprintf("big/c%d/", c)
		ls = append(ls, loadSpec{name: fmt.Sprintf("GET %d MiB, %d clients", o.bigMiB, c), clients: c, ops: o.bigObjects,
			fn: getFn(prefix, int64(len(big)))})
	}
	ls = append(ls,
		loadSpec{name: fmt.Sprintf("PUT %d KiB, %d clients", o.smallKiB, o.smallClients), clients: o.smallClients, ops: o.smallObjects,
			fn: putFn("small/", small)},
		loadSpec{name: fmt.Sprintf("GET %d KiB, %d clients", o.smallKiB, o.smallClients), clients: o.smallClients, ops: o.smallObjects,
			fn: getFn("small/", int64(len(small)))},
		loadSpec{name: fmt.Sprintf("LIST %d keys (1000 per page), 1 client", o.listKeys), clients: 1, ops: o.listReps, list: true,
			fn: listFn("list/", o.listKeys)},
	)
	return ls
}

func key(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

func putFn(prefix string, body []byte) func(context.Context, *s3.Client, int) (int64, int, error) {
	return func(ctx context.Context, c *s3.Client, i int) (int64, int, error) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(prefix, i)),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
		return int64(len(body)), 0, err
	}
}

func getFn(prefix string, size int64) func(context.Context, *s3.Client, int) (int64, int, error) {
	return func(ctx context.Context, c *s3.Client, i int) (int64, int, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(prefix, i))})
		if err != nil {
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if err == nil && n != size {
			err = fmt.Errorf("GET %s: %d bytes, want %d", key(prefix, i), n, size)
		}
		return n, 0, err
	}
}

func listFn(prefix string, want int) func(context.Context, *s3.Client, int) (int64, int, error) {
	return func(ctx context.Context, c *s3.Client, _ int) (int64, int, error) {
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1000)})
		n := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return 0, n, err
			}
			n += len(page.Contents)
		}
		if n != want {
			return 0, n, fmt.Errorf("LIST %s: %d keys, want %d", prefix, n, want)
		}
		return 0, n, nil
	}
}

func runMedium(ctx context.Context, o options, medium string, big, small []byte) ([]row, error) {
	work, err := os.MkdirTemp(medium, "rhizome-bench-")
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	ls := specs(o, big, small)
	rows := make([]row, len(ls))
	for i, l := range ls {
		rows[i] = row{medium: medium, load: l.name, list: l.list}
	}

	// MinIO first, then its data is removed before Rhizome starts.
	mi, err := startMinIO(ctx, o.minioBin, filepath.Join(work, "minio"))
	if err != nil {
		return nil, err
	}
	err = runAll(ctx, mi, ls, rows, false, o, small)
	mi.stop()
	if err != nil {
		return nil, fmt.Errorf("minio: %w (log %s)", err, mi.logPath)
	}
	if !o.keep {
		os.RemoveAll(filepath.Join(work, "minio"))
	}

	storeDir := filepath.Join(work, "rhizome")
	if err := initRhizome(o.rhizomeBin, storeDir, isShm(medium)); err != nil {
		return nil, err
	}
	if err := setGuard(storeDir, false); err != nil {
		return nil, err
	}
	rh, err := startRhizome(ctx, o.rhizomeBin, storeDir)
	if err != nil {
		return nil, err
	}
	err = runAll(ctx, rh, ls, rows, true, o, small)
	rh.stop()
	if err != nil {
		return nil, fmt.Errorf("rhizome: %w (log %s)", err, rh.logPath)
	}

	if o.guardRow {
		if err := setGuard(storeDir, true); err != nil {
			return nil, err
		}
		rh, err = startRhizome(ctx, o.rhizomeBin, storeDir)
		if err != nil {
			return nil, err
		}
		for _, c := range o.bigClients {
			l := loadSpec{name: fmt.Sprintf("PUT %d MiB, %d clients", o.bigMiB, c), clients: c, ops: o.bigObjects,
				fn: putFn(fmt.Sprintf("guard/c%d/", c), big)}
			var base *row
			for i := range rows {
				if rows[i].load == l.name {
					base = &rows[i]
				}
			}
			logf("%s rhizome (guard on): %s", medium, l.name)
			r, err := runLoad(ctx, rh, l)
			if err != nil {
				rh.stop()
				return nil, fmt.Errorf("rhizome (guard on): %s: %w (log %s)", l.name, err, rh.logPath)
			}
			rows = append(rows, row{medium: medium, load: l.name + ", guard on", rh: r, mi: base.mi,
				note: "MinIO figures repeated from the row above"})
		}
		rh.stop()
	}
	return rows, nil
}

func isShm(dir string) bool {
	abs, err := filepath.Abs(dir)
	return err == nil && (abs == "/dev/shm" || strings.HasPrefix(abs, "/dev/shm/"))
}

// runAll runs every load against s, filling the Rhizome or MinIO half of
// each row. The LIST prefix is populated (untimed) before the LIST load.
func runAll(ctx context.Context, s *server, ls []loadSpec, rows []row, isRhizome bool, o options, small []byte) error {
	if err := s.createBucket(ctx); err != nil {
		return err
	}
	for i, l := range ls {
		if l.list {
			logf("%s: populating %d keys for LIST (untimed)", s.name, o.listKeys)
			t0 := time.Now()
			if _, err := runLoad(ctx, s, loadSpec{clients: o.smallClients, ops: o.listKeys, fn: putFn("list/", small[:0])}); err != nil {
				return fmt.Errorf("populating list prefix: %w", err)
			}
			logf("%s: populated in %.1fs", s.name, time.Since(t0).Seconds())
		}
		logf("%s: %s", s.name, l.name)
		r, err := runLoad(ctx, s, l)
		if err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		logf("%s: %s: %d ops in %.2fs, server CPU %.2fs", s.name, l.name, r.ops, r.dur.Seconds(), r.cpu)
		if i == 0 {
			if err := s.checkEncrypted(ctx, key("big/c"+strconv.Itoa(o.bigClients[0])+"/", 0)); err != nil {
				return err
			}
		}
		if isRhizome {
			rows[i].rh = r
		} else {
			rows[i].mi = r
		}
	}
	return nil
}

// runLoad runs l.ops operations over l.clients goroutines, and measures the
// wall time and the server's CPU time.
func runLoad(ctx context.Context, s *server, l loadSpec) (*result, error) {
	cpu0, err := s.cpuSeconds()
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	var nbytes, nkeys atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range l.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= l.ops {
					return
				}
				b, k, err := l.fn(ctx, s.client, i)
				if err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(l.ops))
					return
				}
				nbytes.Add(b)
				nkeys.Add(int64(k))
			}
		})
	}
	wg.Wait()
	dur := time.Since(t0)
	cpu1, err := s.cpuSeconds()
	if err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return &result{ops: l.ops, bytes: nbytes.Load(), keys: int(nkeys.Load()), dur: dur, cpu: cpu1 - cpu0}, nil
}

// server is one S3 server process started by the benchmark.
type server struct {
	name      string
	cmd       *exec.Cmd
	exited    chan struct{}
	endpoint  string
	client    *s3.Client
	logPath   string
	sseBucket bool // set SSE-S3 as the bucket's default encryption
}

func (s *server) cpuSeconds() (float64, error) {
	p, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(p, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", s.cmd.Process.Pid)
	}
	f := strings.Fields(string(p[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", s.cmd.Process.Pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

func (s *server) createBucket(ctx context.Context) error {
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if s.sseBucket {
		_, err := s.client.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
			Bucket: aws.String(bucket),
			ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256},
			}}},
		})
		if err != nil {
			return fmt.Errorf("put bucket encryption: %w", err)
		}
	}
	return nil
}

// checkEncrypted makes sure MinIO stored the object encrypted (Rhizome
// encrypts every object and has no unencrypted mode).
func (s *server) checkEncrypted(ctx context.Context, k string) error {
	if !s.sseBucket {
		return nil
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
	if err != nil {
		return fmt.Errorf("head %s: %w", k, err)
	}
	if out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		return fmt.Errorf("%s: object %s is not encrypted (x-amz-server-side-encryption %q)", s.name, k, out.ServerSideEncryption)
	}
	logf("%s: %s is stored with SSE-S3 (%s)", s.name, k, out.ServerSideEncryption)
	return nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func newClient(endpoint, access, secret string) *s3.Client {
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(endpoint),
		Region:                     "us-east-1",
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		HTTPClient:                 hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
}

// start runs cmd, logging to logPath, and waits until GET readyPath
// answers 200.
func start(ctx context.Context, name string, cmd *exec.Cmd, addr, readyPath, logPath, access, secret string) (*server, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, exited: make(chan struct{}), endpoint: "http://" + addr, logPath: logPath}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited: %v (log %s)", name, cmd.ProcessState, logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		resp, err := hc.Get(s.endpoint + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not ready on %s after 60s (log %s)", name, s.endpoint, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.client = newClient(s.endpoint, access, secret)
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") && !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RHIZOME_") {
			env = append(env, kv)
		}
	}
	return env
}

func startMinIO(ctx context.Context, bin, dir string) (*server, error) {
	for i := 1; i <= 6; i++ {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%d", i)), 0o700); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	access, secret := "bench"+strings.ToLower(rand.Text()[:8]), rand.Text()
	kmsKey := make([]byte, 32)
	rand.Read(kmsKey)
	cmd := exec.Command(bin, "server", "--address", addr, "--certs-dir", filepath.Join(dir, "certs"),
		filepath.Join(dir, "d{1...6}"))
	cmd.Env = append(cleanEnv(),
		"MINIO_ROOT_USER="+access,
		"MINIO_ROOT_PASSWORD="+secret,
		"MINIO_CI_CD=1",
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_STORAGE_CLASS_STANDARD=EC:2",
		"MINIO_KMS_SECRET_KEY=bench-key:"+base64.StdEncoding.EncodeToString(kmsKey),
	)
	logf("starting minio (6 drives, EC:2, SSE-S3) under %s", dir)
	s, err := start(ctx, "MinIO", cmd, addr, "/minio/health/cluster", filepath.Join(dir, "minio.log"), access, secret)
	if err != nil {
		return nil, err
	}
	s.sseBucket = true
	return s, nil
}

func initRhizome(bin, storeDir string, noSync bool) error {
	out, err := exec.Command(bin, "--dir", storeDir, "init", "-q").CombinedOutput()
	if err != nil {
		return fmt.Errorf("rhizome init: %w: %s", err, out)
	}
	if !noSync {
		return nil
	}
	cfgPath := filepath.Join(storeDir, "rhizome.yaml")
	p, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	// RAM disk: fsync is meaningless (as scripts/bench-cli.sh).
	p = bytes.ReplaceAll(p, []byte("type: fs\n"), []byte("type: fs\n      no_sync: true\n"))
	return os.WriteFile(cfgPath, p, 0o600)
}

// setGuard turns the guard off (off: true under guard:) or back on.
func setGuard(storeDir string, on bool) error {
	cfgPath := filepath.Join(storeDir, "rhizome.yaml")
	p, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	p = bytes.ReplaceAll(p, []byte("guard:\n    off: true\n"), []byte("guard:\n"))
	if !on {
		if !bytes.Contains(p, []byte("\nguard:\n")) {
			p = append(p, []byte("guard:\n")...)
		}
		p = bytes.Replace(p, []byte("\nguard:\n"), []byte("\nguard:\n    off: true\n"), 1)
	}
	return os.WriteFile(cfgPath, p, 0o600)
}

func startRhizome(ctx context.Context, bin, storeDir string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	access, secret := "BENCH"+rand.Text()[:10], rand.Text()
	cmd := exec.Command(bin, "--dir", storeDir, "serve", "--listen", addr, "--log-format", "off")
	cmd.Env = append(cleanEnv(), "RHIZOME_ACCESS_KEY="+access, "RHIZOME_SECRET_KEY="+secret)
	logf("starting rhizome serve, store %s", storeDir)
	return start(ctx, "Rhizome", cmd, addr, "/ready", filepath.Join(storeDir, "serve.log"), access, secret)
}

func findMinIO() (string, error) {
	if p := os.Getenv("RHIZOME_MINIO_BIN"); p != "" {
		return p, nil
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "minio")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("minio binary not found: run scripts/install-minio.sh or pass --minio-bin")
}

// throughput formats a result's rate: MiB/s for data loads (with op/s for
// small objects), keys/s for LIST.
func throughput(r *result, list bool) (string, float64) {
	s := r.dur.Seconds()
	if list {
		v := float64(r.keys) / s
		return fmt.Sprintf("%.0f keys/s", v), v
	}
	mib := float64(r.bytes) / (1 << 20) / s
	if r.bytes/int64(r.ops) < 1<<20 {
		return fmt.Sprintf("%.0f op/s (%.1f MiB/s)", float64(r.ops)/s, mib), mib
	}
	return fmt.Sprintf("%.0f MiB/s", mib), mib
}

// cpuCost formats the server CPU per GiB moved, or per 10,000 keys listed.
func cpuCost(r *result, list bool) (string, float64) {
	if list {
		v := r.cpu / float64(r.keys) * 10000
		return fmt.Sprintf("%.2f s/10k keys", v), v
	}
	v := r.cpu / (float64(r.bytes) / (1 << 30))
	return fmt.Sprintf("%.2f s/GiB", v), v
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func printTable(w io.Writer, o options, rows []row) {
	fmt.Fprintf(w, "\nLarge objects: %d x %d MiB per load; small: %d x %d KiB; LIST: %d full listings of %d keys.\n",
		o.bigObjects, o.bigMiB, o.smallObjects, o.smallKiB, o.listReps, o.listKeys)
	fmt.Fprintf(w, "Throughput ratio: higher is better for Rhizome; CPU ratio: lower is better for Rhizome.\n\n")
	fmt.Fprintln(w, "| medium | load | Rhizome | MinIO | Rhizome/MinIO | Rhizome CPU | MinIO CPU | CPU Rhizome/MinIO |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		rt, rv := throughput(r.rh, r.list)
		mt, mv := throughput(r.mi, r.list)
		rc, rcv := cpuCost(r.rh, r.list)
		mc, mcv := cpuCost(r.mi, r.list)
		load := r.load
		if r.note != "" {
			load += " (" + r.note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.medium, load, rt, mt, ratio(rv, mv), rc, mc, ratio(rcv, mcv))
	}
}
