package s3api

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEndToEndWithS3Tools runs scripts/e2e-s3.sh: the real binary's
// `rhizome serve` driven by the aws CLI, boto3 and rclone. Missing tools
// fail the test with instructions (scripts/install-rclone.sh,
// scripts/install-awscli.sh); they are never a reason to skip.
func TestEndToEndWithS3Tools(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("../../scripts/e2e-s3.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	// The script starts a server in the background: stop the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	var steps []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "== ") {
			steps = append(steps, strings.TrimPrefix(l, "== "))
		}
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
			t.Fatalf("scripts/e2e-s3.sh cannot run: S3 tools are missing (install them; this test does not skip):\n%s", out.String())
		}
		t.Fatalf("scripts/e2e-s3.sh failed after %v: %v\n%s", time.Since(start).Round(time.Second), err, out.String())
	}
	if !strings.Contains(out.String(), "e2e-s3: all checks passed") {
		t.Fatalf("scripts/e2e-s3.sh exited 0 without passing every check:\n%s", out.String())
	}
	t.Logf("scripts/e2e-s3.sh passed in %v: %s", time.Since(start).Round(time.Second), strings.Join(steps, "; "))
}
