#!/usr/bin/env bash
# Installs everything authrefresh needs to build and test, from Debian's
# packages. Idempotent: when every package is present it only checks and exits.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-rules-java bazel-platforms openjdk-17-jdk-headless
  build-essential clang libclang-rt-14-dev
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev libssl-dev cmake
  libhiredis-dev redis-server prometheus-cpp-dev
  pkg-config valgrind gnuplot-nox
)

# Node.js runs the real OAuth 2.0 server of the HTTP refresher's tests. Some
# machines have it from elsewhere; Debian's packages otherwise.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

# The test OAuth server's npm packages, exactly as package-lock.json pins
# them; reinstalled only when the lockfile changed since the last install.
OAUTH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/oauth_server"
STAMP="$OAUTH_DIR/node_modules/.authrefresh-installed-lock.json"
if cmp -s "$OAUTH_DIR/package-lock.json" "$STAMP"; then
  echo "setup: tests/oauth_server node_modules up to date"
else
  echo "setup: npm ci in tests/oauth_server"
  (cd "$OAUTH_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$OAUTH_DIR/package-lock.json" "$STAMP"
fi
