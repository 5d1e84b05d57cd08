#!/bin/sh
# Installs the MinIO server that the S3 backend tests run against
# (internal/testenv), pinned to one version, with go install. Does nothing
# if that version is already installed. The repository is archived upstream,
# so the version is a fixed pseudo-version.
#
# Usage: scripts/install-minio.sh
# The binary goes to $(go env GOBIN), or $(go env GOPATH)/bin, where the
# tests look for it; RHIZOME_MINIO_BIN points them elsewhere.
set -eu

MODULE=github.com/minio/minio
VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

bindir=$(go env GOBIN)
if [ -z "$bindir" ]; then
	bindir=$(go env GOPATH | cut -d: -f1)/bin
fi
bin=$bindir/minio

if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]]*$MODULE[[:space:]]*$VERSION[[:space:]]"; then
	echo "minio $VERSION already installed at $bin"
	exit 0
fi

echo "installing minio $VERSION into $bindir (takes a few minutes)"
go install "$MODULE@$VERSION"
go version -m "$bin" | grep -q "$VERSION" || {
	echo "install-minio: $bin is not version $VERSION after go install" >&2
	exit 1
}
echo "installed $bin"
