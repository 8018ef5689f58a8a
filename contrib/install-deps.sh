#!/bin/bash
# Install cryo's build dependencies on Debian 12 (run as root). Idempotent:
# does nothing, not even apt-get update, when every package is already there.
#   contrib/install-deps.sh [--with-clang]    (clang: optional, for libFuzzer builds)
set -euo pipefail

pkgs=(gcc make protobuf-c-compiler libprotobuf-c-dev libcap-dev pkg-config)
for arg in "$@"; do
	case "$arg" in
	--with-clang) pkgs+=(clang) ;;
	-h | --help)
		echo "usage: $0 [--with-clang]"
		exit 0
		;;
	*)
		echo "install-deps: unknown option '$arg'" >&2
		exit 2
		;;
	esac
done

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all build dependencies are installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
