#!/usr/bin/env bash
# Stops a make target with a one-line reason when this machine cannot satisfy it.
set -u
fail() { echo "make: $*" >&2; exit 1; }
case "${1:-}" in
  python)
    py="${2:-python3}"
    command -v "$py" >/dev/null || fail "no $py found; install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
      || fail "$("$py" -V 2>&1) is too old; Variet needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"
    "$py" -c 'import venv, ensurepip' 2>/dev/null \
      || fail "$py cannot create virtual environments; install it (Debian: apt-get install python3-venv)"
    ;;
  build)
    command -v c++ >/dev/null || fail "no C++ compiler to build llama-server; install one (Debian: apt-get install build-essential)"
    command -v cmake >/dev/null || fail "no cmake to build llama-server; install it (Debian: apt-get install cmake)"
    free_mb=$(df -Pm . | awk 'NR==2 {print $4}')
    [ "$free_mb" -ge 3000 ] || fail "only ${free_mb} MB free here; building llama-server and the tiny model need about 3000 MB"
    ;;
  nix)
    command -v nix-instantiate >/dev/null \
      || fail "no nix-instantiate to parse the .nix files; install it (Debian: apt-get install nix-bin)"
    ;;
  *) fail "preflight: unknown check '${1:-}'" ;;
esac
