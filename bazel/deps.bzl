"""Repositories authrefresh needs, all local: Debian's packages and in-repo stand-ins.

A project that depends on authrefresh adds to its WORKSPACE:

    local_repository(name = "authrefresh", path = "third_party/authrefresh")
    load("@authrefresh//bazel:deps.bzl", "authrefresh_dependencies")
    authrefresh_dependencies()

Bazel 4.2's @bazel_tools would otherwise download rules_cc, rules_java and
remote_coverage_tools; each is replaced here by a local repository.
"""

def _stand_in_impl(rctx):
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    if "BUILD" not in rctx.attr.files.values():
        rctx.file("BUILD", "")
    for src, dst in rctx.attr.files.items():
        rctx.symlink(src, dst)

_stand_in = repository_rule(
    implementation = _stand_in_impl,
    attrs = {"files": attr.label_keyed_string_dict(allow_files = True)},
    doc = "A repository made of files from this one (label -> path inside it).",
)

def _maybe(rule, name, **kwargs):
    if name not in native.existing_rules():
        rule(name = name, **kwargs)

def authrefresh_dependencies():
    """Declares the local repositories authrefresh builds against."""

    # Debian's bazel-rules-cc 0.0.4 needs a newer Bazel; forward to native rules.
    _maybe(
        _stand_in,
        name = "rules_cc",
        files = {
            Label("//bazel/offline:rules_cc_defs.bzl"): "cc/defs.bzl",
            Label("//bazel/offline:rules_cc_cc.BUILD"): "cc/BUILD",
        },
    )
    _maybe(
        _stand_in,
        name = "remote_coverage_tools",
        files = {
            Label("//bazel/offline:remote_coverage_tools.BUILD"): "BUILD",
            Label("//bazel/offline:coverage_unavailable.sh"): "unavailable.sh",
        },
    )
    _maybe(
        native.local_repository,
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )
    _maybe(
        native.local_repository,
        name = "platforms",
        path = "/usr/share/bazel/platforms",
    )

    # gRPC, Protobuf, Abseil, GoogleTest and Google Benchmark from Debian.
    _maybe(
        native.new_local_repository,
        name = "system",
        path = "/usr",
        build_file = str(Label("//bazel:system.BUILD")),
    )
