#!/usr/bin/env bash
# End-to-end test of `rhizome serve` with the tools people use: builds the
# binary, starts the gateway on a free loopback port over a fresh store, and
# drives the aws CLI (s3 cp/sync/ls/presign, s3api), boto3 and rclone
# against it, checking every byte that comes back.
#
# Usage: scripts/e2e-s3.sh        (run by `go test ./internal/s3api`)
# Needs: go, aws (pip install awscli), python3 with boto3, rclone
# (scripts/install-rclone.sh), curl. Exits non-zero on the first failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
missing=()
command -v aws >/dev/null 2>&1 || missing+=("aws CLI: python3 -m pip install awscli (or scripts/install-awscli.sh)")
python3 -c 'import boto3' >/dev/null 2>&1 || missing+=("boto3: python3 -m pip install boto3 (or scripts/install-awscli.sh)")
command -v rclone >/dev/null 2>&1 || missing+=("rclone: scripts/install-rclone.sh (apt-get install -y rclone)")
command -v curl >/dev/null 2>&1 || missing+=("curl: apt-get install -y curl")
if [ ${#missing[@]} -gt 0 ]; then
	echo "e2e-s3: missing tools; install them and rerun:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 3
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rhizome-e2e-s3.XXXXXX")
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ -n "${E2E_KEEP:-}" ]; then
		echo "e2e-s3: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

step() { echo "== [${SECONDS}s] $*"; }
fail() {
	echo "e2e-s3: FAIL: $*" >&2
	if [ -f "$work/server.err" ]; then
		echo "--- server log (last 30 lines)" >&2
		tail -30 "$work/server.err" >&2
	fi
	exit 1
}

step "build"
(cd "$root" && go build -o "$work/rhizome" ./cmd/rhizome)

export RHIZOME_ACCESS_KEY=E2EACCESSKEY00000000
export RHIZOME_SECRET_KEY=e2e-secret-key-0123456789abcdefghijklmn
start_server() {
	"$work/rhizome" --dir "$work/store" serve --listen 127.0.0.1:0 >"$work/server.out" 2>>"$work/server.err" &
	server_pid=$!
	for _ in $(seq 100); do
		if endpoint=$(sed -n 's/^rhizome: S3 gateway on \(http[^ ]*\).*/\1/p' "$work/server.out") && [ -n "$endpoint" ]; then
			break
		fi
		kill -0 "$server_pid" 2>/dev/null || fail "rhizome serve exited at start"
		sleep 0.1
	done
	[ -n "$endpoint" ] || fail "rhizome serve printed no endpoint"
	curl -fsS "$endpoint/health" >/dev/null || fail "/health"
	curl -fsS "$endpoint/ready" | grep -q '"ready":true' || fail "/ready is not ready"
}
step "start rhizome serve"
endpoint=""
start_server
grep -q "credentials: access key $RHIZOME_ACCESS_KEY from RHIZOME_ACCESS_KEY" "$work/server.out" || fail "serve does not say where the credentials come from"

# The aws CLI, configured as docs/s3.md says: SigV4 presigning, path style.
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN || true
cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = us-east-1
s3 =
    signature_version = s3v4
    addressing_style = path
EOF
cat >"$AWS_SHARED_CREDENTIALS_FILE" <<EOF
[default]
aws_access_key_id = $RHIZOME_ACCESS_KEY
aws_secret_access_key = $RHIZOME_SECRET_KEY
EOF
awss3() {
	local cmd=$1
	shift
	case "$cmd" in
	cp | sync | mv | rm) aws --endpoint-url "$endpoint" s3 "$cmd" --only-show-errors "$@" ;;
	*) aws --endpoint-url "$endpoint" s3 "$cmd" "$@" ;;
	esac
}
s3api() { aws --endpoint-url "$endpoint" s3api "$@"; }

# A local tree: empty, tiny and multi-megabyte files (the CLI uploads files
# over 8 MiB in parts), odd names.
src="$work/src"
mkdir -p "$src/sub dir/ünï" "$src/deep/a/b"
: >"$src/empty.txt"
printf x >"$src/one-byte"
head -c 1048576 /dev/urandom >"$src/sub dir/one MiB.bin"
head -c 20000000 /dev/urandom >"$src/deep/a/b/twenty-mb.bin"
echo "grüße" >"$src/sub dir/ünï/名前.txt"
echo "plus+and%percent" >"$src/deep/plus+and%percent.txt"
for i in $(seq 1 30); do echo "row $i" >"$src/deep/a/row-$i.csv"; done
nfiles=$(find "$src" -type f | wc -l)

step "aws s3 mb / cp / sync / ls"
awss3 mb s3://lake
awss3 cp "$src/deep/a/b/twenty-mb.bin" s3://lake/single/twenty-mb.bin
awss3 sync "$src" s3://lake/tree
got=$(awss3 ls --recursive s3://lake/ | grep -c -v ' single/' || true)
[ "$got" -eq "$nfiles" ] || fail "aws s3 ls --recursive lists $got objects under tree/; want $nfiles"
awss3 cp s3://lake/single/twenty-mb.bin "$work/back.bin"
cmp "$src/deep/a/b/twenty-mb.bin" "$work/back.bin" || fail "aws s3 cp round trip differs"
awss3 sync s3://lake/tree "$work/down"
diff -r "$src" "$work/down" || fail "aws s3 sync down differs from the source tree"
# A second sync has nothing to do.
[ -z "$(aws --endpoint-url "$endpoint" s3 sync "$src" s3://lake/tree --dryrun)" ] || fail "a repeated sync wants to transfer files"

step "aws s3api"
s3api put-object --bucket lake --key api/obj.json --body "$src/one-byte" --content-type application/json \
	--metadata team=lake,run=7 --cache-control max-age=5 >"$work/put.json"
etag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ETag"])' "$work/put.json")
s3api head-object --bucket lake --key api/obj.json >"$work/head.json"
python3 - "$work/head.json" "$etag" <<'EOF2' || fail "head-object"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["ETag"] == sys.argv[2], h
assert h["ContentType"] == "application/json", h
assert h["Metadata"] == {"team": "lake", "run": "7"}, h
assert h["CacheControl"] == "max-age=5", h
assert h["ContentLength"] == 1, h
assert len(h["VersionId"]) == 32, h
EOF2
s3api get-object --bucket lake --key single/twenty-mb.bin --range bytes=1000-1999 "$work/range.bin" >/dev/null
cmp "$work/range.bin" <(tail -c +1001 "$src/deep/a/b/twenty-mb.bin" | head -c 1000) || fail "get-object --range"
if s3api put-bucket-versioning --bucket lake --versioning-configuration Status=Suspended 2>"$work/err"; then
	fail "versioning could be suspended"
fi
grep -q InvalidBucketState "$work/err" || fail "suspending versioning: $(cat "$work/err")"
s3api delete-object --bucket lake --key api/obj.json | grep -q '"DeleteMarker": true' || fail "delete-object wrote no delete marker"
s3api list-object-versions --bucket lake --prefix api/ >"$work/versions.json"
python3 - "$work/versions.json" <<'EOF2' || fail "list-object-versions"
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v["Versions"]) == 1 and len(v["DeleteMarkers"]) == 1, v
assert v["DeleteMarkers"][0]["IsLatest"] and not v["Versions"][0]["IsLatest"], v
EOF2

step "presigned GET (aws s3 presign)"
url=$(aws --endpoint-url "$endpoint" s3 presign s3://lake/single/twenty-mb.bin --expires-in 120)
case "$url" in *X-Amz-Signature=*) ;; *) fail "aws s3 presign made no SigV4 URL: $url" ;; esac
curl -fsS -o "$work/presigned.bin" "$url" || fail "presigned GET"
cmp "$src/deep/a/b/twenty-mb.bin" "$work/presigned.bin" || fail "presigned GET differs"

step "time travel: aws s3 sync and boto3 from lake--at-T"
# T is a whole second after the first sync; then the tree changes.
at=$(python3 -c 'import time; print(int(time.time()) + 1)')
python3 -c "import time; time.sleep(max(0, $at - time.time() + 0.05))"
view="lake--at-$(date -u -d "@$at" +%Y%m%dt%H%M%Sz)"
echo "changed" >"$work/changed.txt"
python3 - "$endpoint" "$work/changed.txt" <<'EOF2' || fail "changing the tree after T"
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
changed = open(sys.argv[2], "rb").read()
s3.put_object(Bucket="lake", Key="tree/sub dir/one MiB.bin", Body=changed)
s3.delete_object(Bucket="lake", Key="tree/one-byte")
s3.put_object(Bucket="lake", Key="tree/new-after-T.txt", Body=changed)
EOF2
awss3 sync "s3://$view/tree" "$work/old"
diff -r "$src" "$work/old" || fail "aws s3 sync from $view differs from the tree as it was"
awss3 ls "s3://$view/tree/" | grep -q "one-byte" || fail "aws s3 ls $view misses a key deleted after T"
if awss3 cp "$work/changed.txt" "s3://$view/tree/x" 2>"$work/err"; then fail "a write into $view succeeded"; fi
grep -q "AccessDenied" "$work/err" || fail "write into a view: $(cat "$work/err")"
python3 - "$endpoint" "$view" "$src" <<'EOF' || fail "boto3 time travel"
import sys, boto3
from botocore.config import Config
endpoint, view, src = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=view, Prefix="tree/") for o in p.get("Contents", [])]
assert "tree/one-byte" in keys and "tree/new-after-T.txt" not in keys, keys
body = s3.get_object(Bucket=view, Key="tree/sub dir/one MiB.bin")["Body"].read()
assert body == open(src + "/sub dir/one MiB.bin", "rb").read(), "old version differs"
now = s3.get_object(Bucket="lake", Key="tree/sub dir/one MiB.bin")["Body"].read()
assert now == b"changed\n", now
try:
    s3.put_object(Bucket=view, Key="x", Body=b"x")
    raise SystemExit("boto3 wrote into a view")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
# Restore one file from the view with a server-side copy (no data copied).
s3.copy_object(Bucket="lake", Key="tree/one-byte", CopySource={"Bucket": view, "Key": "tree/one-byte"})
assert s3.get_object(Bucket="lake", Key="tree/one-byte")["Body"].read() == b"x"
# Presigned PUT with boto3.
url = s3.generate_presigned_url("put_object", Params={"Bucket": "lake", "Key": "boto3/presigned.txt"}, ExpiresIn=60)
import urllib.request
req = urllib.request.Request(url, data=b"presigned put", method="PUT")
assert urllib.request.urlopen(req).status == 200
assert s3.get_object(Bucket="lake", Key="boto3/presigned.txt")["Body"].read() == b"presigned put"
print("boto3 ok")
EOF

step "rclone copy, check and time travel"
export RCLONE_CONFIG_RZ_TYPE=s3 RCLONE_CONFIG_RZ_PROVIDER=Other RCLONE_CONFIG_RZ_ENDPOINT="$endpoint" \
	RCLONE_CONFIG_RZ_ACCESS_KEY_ID="$RHIZOME_ACCESS_KEY" RCLONE_CONFIG_RZ_SECRET_ACCESS_KEY="$RHIZOME_SECRET_KEY" \
	RCLONE_CONFIG_RZ_FORCE_PATH_STYLE=true RCLONE_CONFIG="$work/rclone.conf"
: >"$RCLONE_CONFIG"
# The ETag is not an MD5 (docs/s3.md): rclone must not compare it with one.
# Uploads stay verified: rclone sends Content-MD5 and Rhizome checks it.
rcl() { env -u AWS_CA_BUNDLE rclone --ignore-checksum "$@"; }
rcl mkdir rz:rc-bucket
rcl copy "$src" rz:rc-bucket/tree
rcl copy rz:rc-bucket/tree "$work/rc-down"
diff -r "$src" "$work/rc-down" || fail "rclone round trip differs"
env -u AWS_CA_BUNDLE rclone check --download "$src" rz:rc-bucket/tree || fail "rclone check --download"
[ "$(rcl lsf -R --files-only rz:rc-bucket/tree | wc -l)" -eq "$nfiles" ] || fail "rclone lsf count"
rcl copy "rz:$view/tree" "$work/rc-old"
diff -r "$src" "$work/rc-old" || fail "rclone copy from $view differs"
rcl sync "$src" rz:rc-bucket/tree
[ -z "$(env -u AWS_CA_BUNDLE rclone --ignore-checksum sync "$src" rz:rc-bucket/tree --dry-run 2>&1 | grep -i 'skipped copy\|skipped delete' || true)" ] || fail "a repeated rclone sync wants to transfer files"

step "metrics"
# Fetch first, then search: grep -q would close the pipe early and, with
# pipefail, fail the pipeline once /metrics outgrows the pipe buffer.
curl -fsS -o "$work/metrics.txt" "$endpoint/metrics" || fail "GET /metrics failed"
grep -q 'rhizome_s3_requests_total{code="200",operation="PutObject"}' "$work/metrics.txt" || fail "/metrics lacks PutObject requests"
grep -q 'rhizome_backend_up{' "$work/metrics.txt" || fail "/metrics lacks per-backend figures"

step "graceful stop"
kill -TERM "$server_pid"
wait "$server_pid" || fail "rhizome serve exited with status $? on SIGTERM"
server_pid=""
grep -q "stopped" "$work/server.err" || fail "serve did not report a clean stop"
echo "e2e-s3: all checks passed"
