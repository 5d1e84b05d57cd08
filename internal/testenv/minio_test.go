package testenv

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithy "github.com/aws/smithy-go"
)

func client(m *MinIO, access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(m.Endpoint()),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(access, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func putObject(ctx context.Context, c *s3.Client, bucket, key, body string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)})
	return err
}

func getObject(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	p, err := io.ReadAll(out.Body)
	return string(p), err
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestFindMinIO(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "minio")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv(MinIOBinaryEnv, bin)
		if got, err := findMinIO(); err != nil || got != bin {
			t.Errorf("findMinIO() = %q, %v; want %q", got, err, bin)
		}
	})
	t.Run("env not executable", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nothing")
		t.Setenv(MinIOBinaryEnv, missing)
		if _, err := findMinIO(); err == nil || !strings.Contains(err.Error(), MinIOBinaryEnv) {
			t.Errorf("findMinIO() with %s=%s: error = %v; want one naming the variable", MinIOBinaryEnv, missing, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		goBin, err := exec.LookPath("go")
		if err != nil {
			t.Fatalf("go not on PATH: %v", err)
		}
		empty := t.TempDir()
		t.Setenv(MinIOBinaryEnv, "")
		t.Setenv("GOBIN", empty)
		t.Setenv("GOPATH", empty)
		t.Setenv("PATH", filepath.Dir(goBin))
		_, err = findMinIO()
		if err == nil || !strings.Contains(err.Error(), "scripts/install-minio.sh") {
			t.Errorf("findMinIO() with no binary anywhere: error = %v; want one pointing at scripts/install-minio.sh", err)
		}
	})
}

func TestMinIOLifecycle(t *testing.T) {
	t.Parallel()
	m := StartMinIO(t, nil)
	c := client(m, m.AccessKey(), m.SecretKey())
	ctx := t.Context()
	if m.Bucket() != "rhizome" {
		t.Errorf("Bucket() = %q; want the default %q", m.Bucket(), "rhizome")
	}
	if err := putObject(ctx, c, m.Bucket(), "k", "v1"); err != nil {
		t.Fatalf("PutObject = %v", err)
	}

	m.Stop()
	if _, err := getObject(ctx, c, m.Bucket(), "k"); err == nil {
		t.Errorf("GetObject from a stopped server succeeded")
	}
	m.Start()
	if got, err := getObject(ctx, c, m.Bucket(), "k"); err != nil || got != "v1" {
		t.Errorf("GetObject after restart = %q, %v; want %q (data kept)", got, err, "v1")
	}

	m.Pause()
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err := getObject(pctx, c, m.Bucket(), "k")
	cancel()
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("GetObject from a paused server = %v after %v; want a timeout after 300ms", err, time.Since(start))
	}
	m.Resume()
	if got, err := getObject(ctx, c, m.Bucket(), "k"); err != nil || got != "v1" {
		t.Errorf("GetObject after resume = %q, %v; want %q", got, err, "v1")
	}

	m.Wipe()
	_, err = getObject(ctx, c, m.Bucket(), "k")
	if errorCode(err) != "NoSuchBucket" {
		t.Errorf("GetObject after Wipe = %v; want NoSuchBucket", err)
	}
	if err := m.CreateBucket(ctx, m.Bucket()); err != nil {
		t.Fatal(err)
	}
	if _, err := getObject(ctx, c, m.Bucket(), "k"); errorCode(err) != "NoSuchKey" {
		t.Errorf("GetObject after Wipe and CreateBucket = %v; want NoSuchKey", err)
	}

	m.Pause()
	m.Stop() // stopping a paused server must not hang
	m.Start()
	if err := putObject(ctx, c, m.Bucket(), "k", "v2"); err != nil {
		t.Errorf("PutObject after stopping while paused and restarting = %v", err)
	}
	if _, err := os.Stat(m.LogPath()); err != nil {
		t.Errorf("server log: %v", err)
	}
}

func TestStartMinIOs(t *testing.T) {
	t.Parallel()
	ms := StartMinIOs(t, 3)
	ctx := t.Context()
	seen := map[string]bool{}
	for i, m := range ms {
		if seen[m.Endpoint()] || seen[m.AccessKey()] || seen[m.SecretKey()] {
			t.Errorf("server %d shares its endpoint or credentials with another", i)
		}
		seen[m.Endpoint()], seen[m.AccessKey()], seen[m.SecretKey()] = true, true, true
		if err := putObject(ctx, client(m, m.AccessKey(), m.SecretKey()), m.Bucket(), "k", "v"); err != nil {
			t.Errorf("server %d: PutObject = %v", i, err)
		}
	}
	// Each server knows only its own credentials.
	err := putObject(ctx, client(ms[0], ms[1].AccessKey(), ms[1].SecretKey()), ms[0].Bucket(), "k", "v")
	if code := errorCode(err); code != "InvalidAccessKeyId" {
		t.Errorf("PutObject to server 0 with server 1's credentials = %v; want InvalidAccessKeyId", err)
	}
}

func TestMinIOOptions(t *testing.T) {
	t.Parallel()
	m := StartMinIO(t, &MinIOOptions{
		Bucket: "other",
		Drives: 4,
		Env:    []string{"MINIO_STORAGE_CLASS_STANDARD=EC:1"},
	})
	c := client(m, m.AccessKey(), m.SecretKey())
	if err := putObject(t.Context(), c, "other", "k", "v"); err != nil {
		t.Fatalf("PutObject to bucket %q = %v", "other", err)
	}
	if got, err := getObject(t.Context(), c, "other", "k"); err != nil || got != "v" {
		t.Errorf("GetObject = %q, %v; want %q", got, err, "v")
	}
	entries, err := os.ReadDir(m.dataDir())
	if err != nil || len(entries) != 4 {
		t.Errorf("data directory holds %d entries, %v; want 4 drives", len(entries), err)
	}
}
