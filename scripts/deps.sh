#!/usr/bin/env bash
# scripts/deps.sh [build|cross|all]: install the Debian packages bothy's build and unit tests need.
# (The test hosts install their own: tests/host/run-host.sh; guest assets: scripts/guest-assets.sh;
# a cross build's target libraries: scripts/cross-sysroot.sh, run by the Makefile.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

what=${1:-build}
build_pkgs=(gcc make libc6-dev libcmocka-dev libjansson-dev libfdt-dev binutils git cpio)
cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-riscv64-linux-gnu libc6-dev-riscv64-cross)

case "$what" in
build) need_pkgs "${build_pkgs[@]}" ;;
cross) need_pkgs "${cross_pkgs[@]}" ;;
all) need_pkgs "${build_pkgs[@]}" "${cross_pkgs[@]}" ;;
*) die "usage: $0 [build|cross|all]" ;;
esac
