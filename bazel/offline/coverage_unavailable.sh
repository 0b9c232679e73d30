#!/bin/sh
echo "bazel coverage is not available offline; use llvm-cov outside Bazel" >&2
exit 1
