// Package testenv starts real services for tests. MinIO servers stand in
// for S3-compatible backends: each runs as a child process on a free
// loopback port with its own data directory and credentials, and can be
// stopped, paused, restarted or wiped to simulate outages and loss.
//
// Tests that need MinIO fail (they do not skip) when the binary is missing;
// scripts/install-minio.sh installs the pinned version.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MinIOBinaryEnv names the environment variable that overrides where the
// MinIO binary is found.
const MinIOBinaryEnv = "RHIZOME_MINIO_BIN"

const (
	defaultBucket = "rhizome"
	readyTimeout  = 30 * time.Second
	stopGrace     = 5 * time.Second
	logTailLines  = 40
)

var minioBinary = sync.OnceValues(findMinIO)

// MinIOBinary returns the path of the MinIO server binary: $RHIZOME_MINIO_BIN,
// else minio in the Go install directory ($GOBIN or $GOPATH/bin), else
// minio on $PATH. It fails t if there is none.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	path, err := minioBinary()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return path
}

func findMinIO() (string, error) {
	if p := os.Getenv(MinIOBinaryEnv); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("testenv: %s=%s: %w", MinIOBinaryEnv, p, err)
		}
		return p, nil
	}
	var looked []string
	for _, dir := range goBinDirs() {
		p := filepath.Join(dir, "minio")
		if executable(p) == nil {
			return p, nil
		}
		looked = append(looked, p)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	looked = append(looked, "$PATH")
	return "", fmt.Errorf("testenv: MinIO server binary not found (looked at %s): run scripts/install-minio.sh, or set %s",
		strings.Join(looked, ", "), MinIOBinaryEnv)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// goBinDirs returns where go install puts binaries.
func goBinDirs() []string {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return []string{filepath.Join(build.Default.GOPATH, "bin")}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var dirs []string
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		dirs = append(dirs, strings.TrimSpace(lines[0]))
	}
	if len(lines) > 1 {
		for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	return dirs
}

// MinIOOptions tune StartMinIO. A nil *MinIOOptions gives the defaults.
type MinIOOptions struct {
	// Bucket is created once the server is ready. Default "rhizome".
	Bucket string
	// Drives is the number of drive directories. 0 or 1 is a single drive;
	// more make one erasure set, as minio server dir/d{1...N}.
	Drives int
	// Env adds environment variables for the server, such as
	// "MINIO_STORAGE_CLASS_STANDARD=EC:2".
	Env []string
}

// MinIO is a MinIO server run by a test. Its methods must be called from
// the test's goroutine, since they fail the test on error.
type MinIO struct {
	t       testing.TB
	bin     string
	base    string // holds data/, certs/ and minio.log
	addr    string // 127.0.0.1:port
	access  string
	secret  string
	bucket  string
	drives  int
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	paused bool
}

// StartMinIO starts a MinIO server, waits until it is ready and creates
// the bucket. The server is killed when the test ends; if the test failed,
// the tail of the server's log is printed.
func StartMinIO(t testing.TB, opts *MinIOOptions) *MinIO {
	t.Helper()
	m, err := startMinIO(t, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return m
}

// StartMinIOs starts n servers in parallel, each as StartMinIO with nil
// options.
func StartMinIOs(t testing.TB, n int) []*MinIO {
	t.Helper()
	ms := make([]*MinIO, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ms[i], errs[i] = startMinIO(t, nil) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%v", err)
	}
	return ms
}

// startMinIO is StartMinIO without failing t, so it can run in any
// goroutine.
func startMinIO(t testing.TB, opts *MinIOOptions) (*MinIO, error) {
	if opts == nil {
		opts = &MinIOOptions{}
	}
	bin, err := minioBinary()
	if err != nil {
		return nil, err
	}
	m := &MinIO{
		t:      t,
		bin:    bin,
		base:   t.TempDir(), // removed after the cleanup below kills the server
		access: "rhizome-" + strings.ToLower(rand.Text()[:10]),
		secret: rand.Text(),
		bucket: opts.Bucket,
		drives: opts.Drives,
		env:    opts.Env,
	}
	if m.bucket == "" {
		m.bucket = defaultBucket
	}
	m.logPath = filepath.Join(m.base, "minio.log")
	t.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.stop()
		if t.Failed() {
			t.Logf("testenv: MinIO at %s, last lines of %s:\n%s", m.addr, m.logPath, m.logTail())
		}
	})
	if err := os.MkdirAll(m.dataDir(), 0o700); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Another process may take the free port between choosing and binding
	// it; choose again then.
	for attempt := 0; ; attempt++ {
		m.addr, err = freePort()
		if err != nil {
			return nil, err
		}
		err = m.start()
		if err == nil || attempt == 2 || !strings.Contains(m.logTail(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := m.CreateBucket(ctx, m.bucket); err != nil {
		return nil, err
	}
	return m, nil
}

// handedOut holds the ports this process gave to servers, so that two
// servers started in parallel never get the same one (the kernel may hand
// a just-released port out again before the first server binds it).
var (
	portsMu   sync.Mutex
	handedOut = map[string]bool{}
)

func freePort() (string, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("testenv: finding a free port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !handedOut[addr] {
			handedOut[addr] = true
			return addr, nil
		}
	}
	return "", fmt.Errorf("testenv: no unused free port after 100 tries")
}

// Endpoint returns the server's URL, such as "http://127.0.0.1:41234".
func (m *MinIO) Endpoint() string { return "http://" + m.addr }

// AccessKey returns the server's root user.
func (m *MinIO) AccessKey() string { return m.access }

// SecretKey returns the server's root password.
func (m *MinIO) SecretKey() string { return m.secret }

// Bucket returns the bucket created at start.
func (m *MinIO) Bucket() string { return m.bucket }

// LogPath returns the file the server logs to.
func (m *MinIO) LogPath() string { return m.logPath }

func (m *MinIO) dataDir() string { return filepath.Join(m.base, "data") }

// Stop stops the server (SIGTERM, then SIGKILL after a grace period) and
// waits for it to exit. The data stays; Start serves it again.
func (m *MinIO) Stop() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stop()
}

// Start starts a stopped server again, on the same port and data, and
// waits until it is ready. It does nothing if the server is running.
func (m *MinIO) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	if err := m.start(); err != nil {
		m.t.Fatalf("%v", err)
	}
}

// Pause freezes the server (SIGSTOP): connections are accepted by the
// kernel but never answered, like a hung host.
func (m *MinIO) Pause() {
	m.t.Helper()
	m.signal(syscall.SIGSTOP, true)
}

// Resume continues a paused server (SIGCONT).
func (m *MinIO) Resume() {
	m.t.Helper()
	m.signal(syscall.SIGCONT, false)
}

func (m *MinIO) signal(sig syscall.Signal, paused bool) {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		m.t.Fatalf("testenv: MinIO at %s is not running", m.addr)
	}
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.t.Fatalf("testenv: signalling MinIO at %s: %v", m.addr, err)
	}
	m.paused = paused
	// Signals are delivered asynchronously: wait until every thread has
	// stopped (or left the stopped state), so the next request sees it.
	deadline := time.Now().Add(5 * time.Second)
	for stopped(m.cmd.Process.Pid) != paused {
		if time.Now().After(deadline) {
			m.t.Fatalf("testenv: MinIO at %s did not react to %v", m.addr, sig)
		}
		time.Sleep(time.Millisecond)
	}
}

// stopped reports whether all threads of process pid are stopped, from
// Linux's /proc/PID/task/TID/stat.
func stopped(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if len(stats) == 0 {
		return false
	}
	for _, st := range stats {
		p, err := os.ReadFile(st)
		if err != nil {
			return false
		}
		// The state follows the parenthesised command name.
		i := bytes.LastIndexByte(p, ')')
		if i < 0 || i+2 >= len(p) || p[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Wipe stops the server, deletes all its data and starts it again empty,
// without the bucket: the whole backend is lost.
func (m *MinIO) Wipe() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stop()
	if err := os.RemoveAll(m.dataDir()); err != nil {
		m.t.Fatalf("testenv: %v", err)
	}
	if err := os.MkdirAll(m.dataDir(), 0o700); err != nil {
		m.t.Fatalf("testenv: %v", err)
	}
	if err := m.start(); err != nil {
		m.t.Fatalf("%v", err)
	}
}

// CreateBucket creates a bucket on the server.
func (m *MinIO) CreateBucket(ctx context.Context, name string) error {
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.access, m.secret, ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		return fmt.Errorf("testenv: creating bucket %q on MinIO at %s: %w", name, m.addr, err)
	}
	return nil
}

// start runs the server and waits until it is ready. m.mu is held.
func (m *MinIO) start() error {
	logf, err := os.OpenFile(m.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- testenv: starting %s on %s at %s\n", m.bin, m.addr, time.Now().Format(time.RFC3339Nano))

	drives := m.dataDir()
	if m.drives > 1 {
		drives = filepath.Join(drives, fmt.Sprintf("d{1...%d}", m.drives))
	}
	cmd := exec.Command(m.bin, "server",
		"--address", m.addr,
		"--certs-dir", filepath.Join(m.base, "certs"),
		drives)
	cmd.Env = append(minioEnv(),
		"MINIO_ROOT_USER="+m.access,
		"MINIO_ROOT_PASSWORD="+m.secret,
		"MINIO_CI_CD=1", // accept drives on the root disk
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Env = append(cmd.Env, m.env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Do not outlive the test binary if it dies without cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: starting MinIO: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	m.cmd, m.exited, m.paused = cmd, exited, false

	if err := m.waitReady(); err != nil {
		m.stop()
		return fmt.Errorf("testenv: MinIO on %s: %w; last lines of %s:\n%s", m.addr, err, m.logPath, m.logTail())
	}
	return nil
}

// minioEnv is the test's environment without settings meant for other
// MinIO servers or AWS clients.
func minioEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

func (m *MinIO) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	// ready: the server answers; cluster: its drives are formatted and
	// S3 requests will be served.
	checks := []string{"/minio/health/ready", "/minio/health/cluster"}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) && len(checks) > 0 {
		select {
		case <-m.exited:
			return fmt.Errorf("server exited: %v", m.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(m.Endpoint() + checks[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				checks = checks[1:]
				continue
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	if len(checks) > 0 {
		return fmt.Errorf("%s not OK after %v", checks[0], readyTimeout)
	}
	return nil
}

// stop ends the server if it runs. m.mu is held.
func (m *MinIO) stop() {
	if m.cmd == nil {
		return
	}
	if m.paused {
		// A stopped process only acts on SIGTERM once continued.
		m.cmd.Process.Signal(syscall.SIGCONT)
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(stopGrace):
		m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd, m.paused = nil, false
}

// logTail returns the last lines of the server's log.
func (m *MinIO) logTail() string {
	p, err := os.ReadFile(m.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
