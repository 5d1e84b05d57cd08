package s3api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// rawRequest writes a signed request's head and the given body bytes on
// a fresh connection, then closes it (or half-closes it and reads the
// response when read is set).
func (ts *testServer) rawRequest(t *testing.T, req *http.Request, body []byte, read bool) string {
	t.Helper()
	conn, err := net.Dial("tcp", ts.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.URL.Host)
	req.Header.Write(&head)
	head.WriteString("\r\n")
	conn.Write(head.Bytes())
	conn.Write(body)
	if !read {
		return ""
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "no response: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strconv.Itoa(resp.StatusCode) + " " + errorCodeOf(string(b))
}

// TestClientDisconnectMidUpload cuts uploads short in several ways and
// checks that no version appears, that no file is left on any backend and
// that no goroutine is left behind. It does not run in parallel, so the
// goroutine count is its own.
func TestClientDisconnectMidUpload(t *testing.T) {
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	ts.put(t, "lake", "warm-up", random(1<<20))
	ts.http.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	before := ts.blobFiles(t)
	data := random(8 << 20)

	cases := []struct {
		name string
		send func(key string) string
	}{
		{"disconnect after 3 of 8 MiB", func(key string) string {
			req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, "UNSIGNED-PAYLOAD", time.Now(), map[string]string{"Content-Length": strconv.Itoa(len(data))})
			return ts.rawRequest(t, req, data[:3<<20], false)
		}},
		{"body shorter than Content-Length, half-closed", func(key string) string {
			req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, "UNSIGNED-PAYLOAD", time.Now(), map[string]string{"Content-Length": strconv.Itoa(len(data))})
			return ts.rawRequest(t, req, data[:5<<20], true)
		}},
		{"aws-chunked cut mid-chunk", func(key string) string {
			at := time.Now().UTC()
			hdr := map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data)), "X-Amz-Trailer": "x-amz-checksum-crc32"}
			body := []byte(fmt.Sprintf("%x\r\n", len(data)))
			body = append(body, data[:2<<20]...)
			hdr["Content-Length"] = strconv.Itoa(len(data) + 200)
			req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", at, hdr)
			return ts.rawRequest(t, req, body, true)
		}},
		{"signed payload, body longer than Content-Length", func(key string) string {
			// Content-Length covers 1 MiB; the signature covers 2 MiB.
			whole := data[:2<<20]
			req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, sha256Hex(whole), time.Now(), map[string]string{"Content-Length": strconv.Itoa(1 << 20)})
			return ts.rawRequest(t, req, whole[:1<<20], true)
		}},
		{"Content-MD5 of a longer body", func(key string) string {
			whole := data[:2<<20]
			sum := md5.Sum(whole)
			req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, "UNSIGNED-PAYLOAD", time.Now(),
				map[string]string{"Content-Length": strconv.Itoa(1 << 20), "Content-Md5": base64.StdEncoding.EncodeToString(sum[:])})
			return ts.rawRequest(t, req, whole[:1<<20], true)
		}},
	}
	wantResp := []string{"", "400 IncompleteBody", "400 IncompleteBody", "400 XAmzContentSHA256Mismatch", "400 BadDigest"}
	for i, tc := range cases {
		key := fmt.Sprintf("cut-%d", i)
		logBefore := strings.Count(ts.accessLog(), "operation=PutObject")
		got := tc.send(key)
		if wantResp[i] != "" && got != wantResp[i] {
			t.Errorf("%s: response %q; want %q", tc.name, got, wantResp[i])
		}
		// The server has finished with the request once it is logged.
		if !waitFor(10*time.Second, func() bool { return strings.Count(ts.accessLog(), "operation=PutObject") > logBefore }) {
			t.Fatalf("%s: the server never finished the request", tc.name)
		}
		if n := ts.versionCount(t, "lake", key); n != 0 {
			t.Errorf("%s: %d versions stored; want none", tc.name, n)
		}
	}
	if extra := newBlobs(before, ts.blobFiles(t)); len(extra) > 0 {
		t.Errorf("cut uploads left %d files on the backends: %v", len(extra), extra)
	}
	ts.http.CloseIdleConnections()
	if !waitFor(5*time.Second, func() bool { return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines after the cut uploads; %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
	}
	// The server still works.
	ts.put(t, "lake", "after", []byte("fine"))
	if got, _ := ts.get(t, "lake", "after"); string(got) != "fine" {
		t.Errorf("GET after the cut uploads = %q", got)
	}
}

func TestLimitsAndRequestIDs(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")

	// A PUT announcing more than 5 GiB is refused before any byte is read.
	req := ts.signedRequest(t, "PUT", "/lake/huge", nil, "UNSIGNED-PAYLOAD", time.Now(), map[string]string{"Content-Length": strconv.FormatInt(5<<30+1, 10)})
	if got := ts.rawRequest(t, req, nil, true); got != "400 EntityTooLarge" {
		t.Errorf("PUT of 5 GiB + 1: %q; want 400 EntityTooLarge", got)
	}
	// Oversized request headers are refused by the HTTP server.
	req = ts.signedRequest(t, "GET", "/lake/k", nil, sha256Hex(nil), time.Now(), map[string]string{"X-Filler": strings.Repeat("f", 32<<10)})
	if status, _, _ := ts.do(t, req); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("request with 32 KiB of headers: status %d; want 431", status)
	}

	// Every response carries a request ID; error bodies repeat it.
	req = ts.signedRequest(t, "GET", "/lake/missing", nil, sha256Hex(nil), time.Now(), nil)
	status, h, body := ts.do(t, req)
	id := h.Get("X-Amz-Request-Id")
	if status != 404 || len(id) != 16 || !strings.Contains(body, "<RequestId>"+id+"</RequestId>") || !strings.Contains(body, "<Key>missing</Key>") ||
		!strings.Contains(body, "<Resource>/lake/missing</Resource>") || h.Get("Content-Type") != "application/xml" {
		t.Errorf("GET missing: %d, request ID %q, body %s", status, id, body)
	}
	req = ts.signedRequest(t, "GET", "/lake?list-type=2", nil, sha256Hex(nil), time.Now(), nil)
	_, h2, _ := ts.do(t, req)
	if id2 := h2.Get("X-Amz-Request-Id"); id2 == "" || id2 == id {
		t.Errorf("request IDs %q then %q; want distinct IDs", id, id2)
	}
	// Errors of HEAD carry no body.
	req = ts.signedRequest(t, "HEAD", "/lake/missing", nil, sha256Hex(nil), time.Now(), nil)
	if status, _, body := ts.do(t, req); status != 404 || body != "" {
		t.Errorf("HEAD missing: %d %q; want 404 and no body", status, body)
	}
	// Unknown methods.
	req = ts.signedRequest(t, "PATCH", "/lake/k", nil, sha256Hex(nil), time.Now(), nil)
	if status, _, body := ts.do(t, req); status != 405 || errorCodeOf(body) != "MethodNotAllowed" {
		t.Errorf("PATCH: %d %s; want 405 MethodNotAllowed", status, errorCodeOf(body))
	}
	_, err := ts.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k"), Body: strings.NewReader("x"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 16)))})
	wantCode(t, "PutObject with a wrong Content-MD5", err, "BadDigest", http.StatusBadRequest)
}

// TestExpectContinueEarlyError sends a PUT with Expect: 100-continue (as
// botocore does) that the server refuses before reading the body: the
// refusal must come at once, without waiting for a body the client holds
// back until it hears 100 Continue.
func TestExpectContinueEarlyError(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	req := ts.signedRequest(t, "PUT", "/lake--at-20200101t000000z/k", nil, "UNSIGNED-PAYLOAD", time.Now(),
		map[string]string{"Content-Length": strconv.Itoa(1 << 20), "Expect": "100-continue"})
	conn, err := net.Dial("tcp", ts.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.URL.Host)
	req.Header.Write(&head)
	head.WriteString("\r\n")
	conn.Write(head.Bytes())
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("no response to a refused 100-continue PUT within 3s: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || errorCodeOf(string(b)) != "AccessDenied" {
		t.Errorf("refused 100-continue PUT: %d %s; want 403 AccessDenied", resp.StatusCode, b)
	}
	// The body was never read: the connection must not be reused, or the
	// client's body would be taken for its next request.
	if !resp.Close {
		t.Error("refused 100-continue PUT kept the connection open")
	}
}

// TestExpectContinueEmptyBody checks that an upload of an empty body with
// Expect: 100-continue gets 100 Continue before its final status, as from
// S3: botocore mishandles the next response on the connection otherwise.
func TestExpectContinueEmptyBody(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.mkBucket(t, "lake")
	conn, err := net.Dial("tcp", ts.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i, key := range []string{"empty-1", "empty-2"} {
		req := ts.signedRequest(t, "PUT", "/lake/"+key, nil, sha256Hex(nil), time.Now(),
			map[string]string{"Content-Length": "0", "Expect": "100-continue"})
		var head bytes.Buffer
		fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.URL.Host)
		req.Header.Write(&head)
		head.WriteString("\r\n")
		conn.Write(head.Bytes())
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		status, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
			t.Fatalf("request %d: first status line %q, %v; want 100 Continue", i+1, status, err)
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("request %d: final status %d; want 200", i+1, resp.StatusCode)
		}
	}
	if n := ts.versionCount(t, "lake", "empty-2"); n != 1 {
		t.Errorf("empty-2 has %d versions; want 1", n)
	}
}
