#!/usr/bin/env bash
# `make system-packages`: install the Debian packages that `make test` needs, when run as root;
# otherwise print the one apt-get line that installs the missing ones, and stop.
# Usage: scripts/system-packages.sh PACKAGE...
set -euo pipefail
if ! command -v dpkg-query >/dev/null; then
  echo "make: not a Debian system; make sure these (Debian names) are installed: $*" >&2
  exit 0
fi
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "make: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "make: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
