#!/bin/sh
# Installs rclone (the Debian package), which the S3 gateway's end-to-end
# test (scripts/e2e-s3.sh) drives against `rhizome serve`. Does nothing when
# rclone is already on PATH.
#
# Usage: scripts/install-rclone.sh
# Needs root (or sudo) and apt-get; elsewhere install rclone by hand:
# https://rclone.org/install/
set -eu

if command -v rclone >/dev/null 2>&1; then
	echo "rclone already installed at $(command -v rclone)"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-rclone: rclone is not installed and apt-get is not available; install it from https://rclone.org/install/" >&2
	exit 1
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-rclone: rclone is not installed; run as root: apt-get install -y rclone" >&2
		exit 1
	fi
	sudo="sudo"
fi

echo "installing rclone with apt-get"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q rclone >/dev/null 2>&1; then
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q rclone >/dev/null
fi
command -v rclone >/dev/null 2>&1 || {
	echo "install-rclone: apt-get finished but rclone is not on PATH" >&2
	exit 1
}
echo "installed $(command -v rclone)"
