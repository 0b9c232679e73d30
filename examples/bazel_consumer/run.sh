#!/usr/bin/env bash
# The README's "Use it with Bazel" recipe, as CI runs it: a workspace that
# declares its own gRPC, Protobuf and Abseil under its own repository names
# (own_grpc.bzl) builds authrefresh against them, then runs the consumer's
# program and authrefresh's end-to-end demo with them.
set -euo pipefail
cd "$(dirname "$0")"

targets=(//:app @authrefresh//examples:quickstart @authrefresh//examples:demo)
bazel build "${targets[@]}"

echo "== nothing of authrefresh's comes from @authrefresh_system_libs"
query="deps(//:app) + deps(@authrefresh//examples:quickstart) + deps(@authrefresh//examples:demo)"
system="$(bazel query "$query" 2>/dev/null | grep -c '^@authrefresh_system_libs' || true)"
if [[ "$system" != 0 ]]; then
  echo "FAIL: $system targets of @authrefresh_system_libs in the consumer's build"
  exit 1
fi
echo "ok: 0 targets"

echo "== the consumer's program"
bazel run //:app

echo "== authrefresh's demo, on the consumer's gRPC"
bazel run @authrefresh//examples:demo -- --seconds=5

bazel shutdown
