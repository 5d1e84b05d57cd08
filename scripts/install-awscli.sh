#!/bin/sh
# Installs the aws CLI and boto3 with pip when they are missing; the S3
# gateway's end-to-end test (scripts/e2e-s3.sh) drives both. Does nothing
# when both are present.
#
# Usage: scripts/install-awscli.sh
set -eu

have_aws=yes
command -v aws >/dev/null 2>&1 || have_aws=no
have_boto3=yes
python3 -c 'import boto3' >/dev/null 2>&1 || have_boto3=no
if [ "$have_aws" = yes ] && [ "$have_boto3" = yes ]; then
	echo "aws CLI and boto3 already installed ($(command -v aws))"
	exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "install-awscli: python3 is needed to install the aws CLI and boto3" >&2
	exit 1
fi
pkgs=""
[ "$have_aws" = yes ] || pkgs="$pkgs awscli"
[ "$have_boto3" = yes ] || pkgs="$pkgs boto3"
echo "installing$pkgs with pip"
# shellcheck disable=SC2086
python3 -m pip install --quiet --user $pkgs || python3 -m pip install --quiet $pkgs
command -v aws >/dev/null 2>&1 && python3 -c 'import boto3' || {
	echo "install-awscli: installed, but aws is not on PATH or boto3 does not import; add the pip user bin directory (python3 -m site --user-base)/bin to PATH" >&2
	exit 1
}
echo "installed aws CLI and boto3"
