#!/usr/bin/env bash
# The README's "Use it with Bazel" recipe, as CI runs it: a workspace that
# declares its own gRPC, Protobuf and Abseil under its own repository names
# (own_grpc.bzl) builds authrefresh against them, then runs the consumer's
# program and authrefresh's end-to-end demo with them.
set -euo pipefail
cd "$(dirname "$0")"

# Not @authrefresh//examples:demo: it serves /metrics with the system's
# prometheus-cpp (@authrefresh_system_libs//:prometheus_pull), which this
# workspace does not bring.
targets=(//:app @authrefresh//examples:quickstart)
bazel build "${targets[@]}"

echo "== authrefresh's libraries reach gRPC, Protobuf and Abseil through the consumer's repositories"
query="deps(//:app) + deps(@authrefresh//examples:quickstart)"
deps="$(bazel query "$query")"  # fails, and so does this script, on any unknown repository
for want in @com_github_grpc_grpc//:grpc++ @com_google_protobuf//:protobuf \
            @com_google_protobuf//:protoc @com_google_absl//absl/status:statusor @openssl//:crypto; do
  grep -qxF "$want" <<<"$deps" || { echo "FAIL: $want is not among the dependencies"; exit 1; }
done
system="$(grep -c '^@authrefresh_system_libs' <<<"$deps" || true)"
if [[ "$system" != 0 ]]; then
  echo "FAIL: $system targets of @authrefresh_system_libs in the consumer's build"
  exit 1
fi
echo "ok: $(wc -l <<<"$deps") targets, the consumer's gRPC among them, 0 of @authrefresh_system_libs"

echo "== the consumer's program"
bazel run //:app

echo "== authrefresh's demo, on the consumer's gRPC"
bazel run @authrefresh//examples:demo -- --seconds=5

bazel shutdown
