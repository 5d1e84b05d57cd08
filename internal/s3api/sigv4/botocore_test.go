package sigv4_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/checksum"
	"github.com/rhizome-data/rhizome/internal/s3api/chunked"
	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// miniS3 is just enough of an S3 server, built from sigv4, chunked,
// checksum and s3xml, for a real client to run its common operations
// against: every request is verified, every body decoded and checked.
type miniS3 struct {
	mu       sync.Mutex
	objects  map[string][]byte
	errs     []string
	payloads map[string]int // x-amz-content-sha256 kinds seen
}

func newMiniS3() *miniS3 {
	return &miniS3{objects: map[string][]byte{}, payloads: map[string]int{}}
}

func (m *miniS3) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, status := "", 0
	for _, f := range []func(error) (string, int){sigv4.Code, chunked.Code, checksum.Code, s3xml.Code} {
		if code, status = f(err); code != "" {
			break
		}
	}
	if code == "" {
		code, status = "InternalError", 500
	}
	m.mu.Lock()
	m.errs = append(m.errs, r.Method+" "+r.URL.RequestURI()+": "+err.Error())
	m.mu.Unlock()
	w.WriteHeader(status)
	s3xml.Encode(w, s3xml.Error{Code: code, Message: err.Error(), Resource: r.URL.Path})
}

// body returns the verified, decoded request body.
func (m *miniS3) body(r *http.Request, res *sigv4.Result) ([]byte, error) {
	var body io.Reader = r.Body
	if mode, ok := chunked.ParseMode(res.PayloadHash); ok {
		dl := int64(-1)
		if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, err
			}
			dl = n
		}
		body = chunked.NewReader(r.Body, chunked.Options{
			Mode: mode, SigningKey: res.SigningKey, SeedSignature: res.SeedSignature, Date: res.Date, Region: res.Region,
			DecodedLength: dl, Trailers: r.Header.Values("X-Amz-Trailer"),
		})
	} else if res.PayloadHash != sigv4.UnsignedPayload {
		body = sigv4.VerifyingBody(r.Body, res.PayloadHash)
	}
	algo, value, err := checksum.FromRequest(r.Header)
	if err != nil {
		return nil, err
	}
	if algo != "" {
		if body, err = checksum.NewReader(body, algo, value); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(body)
}

func (m *miniS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := sigv4.Verify(r, testLookup, time.Now(), nil)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	data, err := m.body(r, res)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, streaming := chunked.ParseMode(res.PayloadHash); streaming || res.PayloadHash == sigv4.UnsignedPayload {
		m.payloads[res.PayloadHash]++
	} else {
		m.payloads["sha256"]++
	}
	q := r.URL.Query()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	etag := `"` + sha256Hex(data)[:32] + `"`
	switch {
	case r.Method == http.MethodPut && q.Has("uploadId"):
		m.objects["part:"+q.Get("uploadId")+":"+q.Get("partNumber")] = data
		w.Header().Set("ETag", etag)
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		// x-amz-copy-source is URL-encoded: "bucket/key%20name".
		src, err := url.PathUnescape(strings.TrimPrefix(r.Header.Get("X-Amz-Copy-Source"), "/"))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		m.objects[key] = m.objects[strings.SplitN(src, "/", 2)[1]]
		s3xml.Encode(w, s3xml.CopyObjectResult{LastModified: s3xml.Time(time.Now()), ETag: etag})
	case r.Method == http.MethodPut:
		m.objects[key] = data
		w.Header().Set("ETag", etag)
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		out := s3xml.ListBucketV2Result{Name: bucket, Prefix: q.Get("prefix"), MaxKeys: 1000}
		var keys []string
		for k := range m.objects {
			if !strings.HasPrefix(k, "part:") && strings.HasPrefix(k, out.Prefix) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			out.Contents = append(out.Contents, s3xml.Object{Key: k, LastModified: s3xml.Time(time.Now()), ETag: `"e"`, Size: int64(len(m.objects[k])), StorageClass: "STANDARD"})
		}
		out.KeyCount = len(keys)
		if q.Get("encoding-type") == "url" {
			out.URLEncode()
		}
		s3xml.Encode(w, out)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		obj, ok := m.objects[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			s3xml.Encode(w, s3xml.Error{Code: "NoSuchKey", Message: "no such key " + key})
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		w.Header().Set("ETag", etag)
		w.Write(obj)
	case r.Method == http.MethodPost && q.Has("delete"):
		var d s3xml.Delete
		if err := s3xml.Decode(bytes.NewReader(data), 0, &d); err != nil {
			m.errs = append(m.errs, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var out s3xml.DeleteResult
		for _, o := range d.Objects {
			delete(m.objects, o.Key)
			out.Deleted = append(out.Deleted, s3xml.DeletedObject{Key: o.Key, VersionId: o.VersionId})
		}
		s3xml.Encode(w, out)
	case r.Method == http.MethodPost && q.Has("uploads"):
		s3xml.Encode(w, s3xml.InitiateMultipartUploadResult{Bucket: bucket, Key: key, UploadId: "up-" + strconv.Itoa(len(m.objects))})
	case r.Method == http.MethodPost && q.Has("uploadId"):
		var c s3xml.CompleteMultipartUpload
		err := s3xml.Decode(bytes.NewReader(data), 0, &c)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			m.errs = append(m.errs, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var all []byte
		for _, p := range c.Parts {
			all = append(all, m.objects["part:"+q.Get("uploadId")+":"+strconv.Itoa(p.PartNumber)]...)
		}
		m.objects[key] = all
		s3xml.Encode(w, s3xml.CompleteMultipartUploadResult{Bucket: bucket, Key: key, ETag: `"multi-2"`})
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// botoScript runs boto3's common operations against ENDPOINT, checking
// what comes back; it exits non-zero on any difference.
const botoScript = `
import os, sys, io, urllib.request, ssl, warnings
warnings.filterwarnings("ignore")
import boto3
from botocore.config import Config

ep = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, region_name="rhizome-1", verify=False,
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

keys = ["plain.txt", "dir/with space+plus=eq~tilde.txt", "ünïcødé/日本語 😀", "literal%2Fpercent", "dir//double//slash", "semi;colon,comma!$&'()*@"]
data = bytes(range(256)) * 4000
for i, k in enumerate(keys):
    body = data[: 1000 * (i + 1)]
    s3.put_object(Bucket="b", Key=k, Body=body, Metadata={"who": "boto  three"})
    got = s3.get_object(Bucket="b", Key=k)["Body"].read()
    assert got == body, ("get", k, len(got), len(body))
    assert s3.head_object(Bucket="b", Key=k)["ContentLength"] == len(body), ("head", k)

# A file-like body is streamed.
s3.put_object(Bucket="b", Key="stream", Body=io.BytesIO(data))
assert s3.get_object(Bucket="b", Key="stream")["Body"].read() == data
from botocore.exceptions import MissingDependencyException
for algo in ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]:
    try:
        s3.put_object(Bucket="b", Key="sum-" + algo, Body=io.BytesIO(data[:70000]), ChecksumAlgorithm=algo)
        s3.put_object(Bucket="b", Key="sum-bytes-" + algo, Body=data[:5000], ChecksumAlgorithm=algo)
    except MissingDependencyException:
        pass  # CRC32C and CRC64NVME need botocore[crt]

# botocore asks for encoding-type=url itself and decodes the keys.
listed = [o["Key"] for o in s3.list_objects_v2(Bucket="b")["Contents"]]
for k in keys:
    assert k in listed, ("list", k, listed)
# Asked for explicitly, the keys stay encoded.
listed = [o["Key"] for o in s3.list_objects_v2(Bucket="b", EncodingType="url")["Contents"]]
assert "dir/with%20space%2Bplus%3Deq~tilde.txt" in listed, listed
listed = [o["Key"] for o in s3.list_objects_v2(Bucket="b", Prefix="ünïcødé/")["Contents"]]
assert listed == ["ünïcødé/日本語 😀"], listed

s3.copy_object(Bucket="b", Key="copy", CopySource={"Bucket": "b", "Key": keys[1]})
assert s3.get_object(Bucket="b", Key="copy")["Body"].read() == data[:2000]

up = s3.create_multipart_upload(Bucket="b", Key="multi part")["UploadId"]
p1 = s3.upload_part(Bucket="b", Key="multi part", UploadId=up, PartNumber=1, Body=data[:5 << 20 if len(data) > 5 << 20 else 600000])
p2 = s3.upload_part(Bucket="b", Key="multi part", UploadId=up, PartNumber=2, Body=io.BytesIO(b"tail"))
s3.complete_multipart_upload(Bucket="b", Key="multi part", UploadId=up,
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
assert s3.get_object(Bucket="b", Key="multi part")["Body"].read() == data[:600000] + b"tail"

url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": keys[2]}, ExpiresIn=300)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
assert urllib.request.urlopen(url, context=ctx).read() == data[:3000]

s3.delete_objects(Bucket="b", Delete={"Objects": [{"Key": k} for k in keys]})
assert s3.list_objects_v2(Bucket="b", Prefix="dir/")["KeyCount"] == 0
print("ok")
`

// TestBotocore runs boto3, the library under the aws CLI, against a
// server built from these packages, over http and https. It is skipped
// where python3 with boto3 is not installed.
func TestBotocore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python3")
	}
	python, err := exec.LookPath("python3")
	if err != nil || exec.Command(python, "-c", "import boto3").Run() != nil {
		t.Skip("python3 with boto3 is not installed")
	}
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			m := newMiniS3()
			var srv *httptest.Server
			if tls {
				srv = httptest.NewTLSServer(m)
			} else {
				srv = httptest.NewServer(m)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "-c", botoScript)
			cmd.Env = append(os.Environ(), "ENDPOINT="+srv.URL, "AK="+testAccessKey, "SK="+testSecretKey,
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			out, err := cmd.CombinedOutput()
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, e := range m.errs {
				t.Errorf("server: %s", e)
			}
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running python3: %v", err)
			}
			if err != nil || !strings.Contains(string(out), "ok") {
				t.Fatalf("boto3 script failed: %v\n%s", err, out)
			}
			t.Logf("payload modes seen: %v", m.payloads)
			if tls && m.payloads[sigv4.StreamingUnsignedPayloadTrailer] == 0 {
				t.Errorf("botocore sent no %s body over https; the chunked path was not exercised", sigv4.StreamingUnsignedPayloadTrailer)
			}
		})
	}
}
