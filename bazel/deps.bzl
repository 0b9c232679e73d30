"""Repositories authrefresh needs.

A project that depends on authrefresh adds to its WORKSPACE:

    local_repository(name = "authrefresh", path = "third_party/authrefresh")
    load("@authrefresh//bazel:deps.bzl", "authrefresh_dependencies")
    authrefresh_dependencies()

(plus authrefresh_offline_bazel_repositories() with Debian's Bazel 4.2.3 and
no network). By default gRPC, Protobuf, Abseil, OpenSSL's libcrypto, libcurl,
hiredis and prometheus-cpp come from the system (Debian's -dev packages, through the repository
@authrefresh_system_libs). A project that builds its own gRPC passes its own
targets instead, and then nothing of authrefresh's links a library from /usr:

    authrefresh_dependencies(
        grpc = ["@com_github_grpc_grpc//:grpc++"],
        protobuf = ["@com_google_protobuf//:protobuf"],
        absl = ["@com_google_absl//absl/status:statusor", ...],
        crypto = ["@boringssl//:crypto"],
        curl = ["@com_github_curl_curl//:curl"],
        hiredis = ["@com_github_redis_hiredis//:hiredis"],
        prometheus = ["@com_github_jupp0r_prometheus_cpp//core"],
        protoc = "@com_google_protobuf//:protoc",
        grpc_cpp_plugin = "@com_github_grpc_grpc//src/compiler:grpc_cpp_plugin",
    )

authrefresh's libraries name these only through @authrefresh_deps, a
repository of forwarding targets that this function writes.
"""

_SYSTEM = "@authrefresh_system_libs//:"

# Each library of @authrefresh_deps, and its default.
_LIBRARIES = {
    "grpc": ("grpc++", [_SYSTEM + "grpc++"]),
    "protobuf": ("protobuf", [_SYSTEM + "protobuf"]),
    "absl": ("absl", [_SYSTEM + "absl"]),
    "crypto": ("crypto", [_SYSTEM + "crypto"]),
    "curl": ("curl", [_SYSTEM + "curl"]),
    "hiredis": ("hiredis", [_SYSTEM + "hiredis"]),
    "prometheus": ("prometheus", [_SYSTEM + "prometheus_core"]),
}

# Each tool of @authrefresh_deps, and its default.
_TOOLS = {
    "protoc": _SYSTEM + "protoc",
    "grpc_cpp_plugin": _SYSTEM + "grpc_cpp_plugin",
}

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

def _deps_impl(rctx):
    lines = [
        "# Written by authrefresh_dependencies() (@authrefresh//bazel:deps.bzl).",
        "package(default_visibility = [\"//visibility:public\"])",
        "",
    ]
    for name, labels in rctx.attr.libraries.items():
        lines.append("cc_library(name = %r, deps = %r)" % (name, labels))
    for name, label in rctx.attr.tools.items():
        lines.append("alias(name = %r, actual = %r)" % (name, label))
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD", "\n".join(lines) + "\n")

_deps_repo = repository_rule(
    implementation = _deps_impl,
    attrs = {
        "libraries": attr.string_list_dict(),
        "tools": attr.string_dict(),
    },
    doc = "Forwarding targets: what authrefresh builds against.",
)

def _absolute(label, parameter):
    """A label as seen from any repository: //x becomes @//x (the main one)."""
    if type(label) == "Label":
        label = str(label)
    if type(label) != "string":
        fail("authrefresh_dependencies(%s = ...): expected label strings, got %r" % (parameter, label))
    if label.startswith("//"):
        return "@" + label
    if label.startswith("@"):
        return label
    fail("authrefresh_dependencies(%s = ...): %r is not an absolute label (start it with @ or //)" % (parameter, label))

def _maybe(rule, name, **kwargs):
    if name not in native.existing_rules():
        rule(name = name, **kwargs)

def authrefresh_dependencies(
        grpc = None,
        protobuf = None,
        absl = None,
        crypto = None,
        curl = None,
        hiredis = None,
        prometheus = None,
        protoc = None,
        grpc_cpp_plugin = None):
    """Declares the repositories authrefresh builds against.

    Args:
      grpc: labels of gRPC C++ (grpc++), default: the system's.
      protobuf: labels of the Protobuf C++ runtime.
      absl: labels of the Abseil libraries authrefresh uses: base,
        container:flat_hash_set, status, status:statusor, strings,
        strings:str_format, synchronization, time.
      crypto: labels of a libcrypto with OpenSSL's SHA-256 API (OpenSSL or
        BoringSSL's crypto).
      curl: labels of libcurl, for @authrefresh//interceptor:http_token_refresher.
      hiredis: labels of hiredis (0.14 or later, synchronous API), for
        @authrefresh//interceptor:redis_backend.
      prometheus: labels of prometheus-cpp's core library (1.0 or later), for
        @authrefresh//interceptor:prometheus_metrics.
      protoc: the protoc binary that generates TokenService's code.
      grpc_cpp_plugin: gRPC's C++ protoc plugin.

    Labels start with @ (or // for your main repository); a Label works too.
    What you pass must be the same gRPC and Protobuf your own code links:
    authrefresh then never adds a second copy. grpc, protobuf, absl, crypto,
    protoc and grpc_cpp_plugin go together: give all of them or none. curl,
    hiredis and prometheus may be left out (the system's), or ignored if you
    do not use the HTTP refresher, the Redis backend or the Prometheus
    metrics. authrefresh's own tests and benchmarks use GoogleTest and
    Google Benchmark from the system whatever you pass.
    """
    given = {
        "grpc": grpc,
        "protobuf": protobuf,
        "absl": absl,
        "crypto": crypto,
        "curl": curl,
        "hiredis": hiredis,
        "prometheus": prometheus,
    }

    # gRPC, Protobuf, Abseil, the code generators and libcrypto come as one
    # set: Debian's protoc with another Protobuf runtime does not compile, and
    # Debian's Abseil or libcrypto beside another gRPC's are a second copy.
    together = dict(given, protoc = protoc, grpc_cpp_plugin = grpc_cpp_plugin)
    together.pop("curl")
    together.pop("hiredis")
    together.pop("prometheus")
    missing = sorted([k for k, v in together.items() if v == None])
    if missing and len(missing) != len(together):
        fail("authrefresh_dependencies(): %s given but not %s; pass all of them (your own gRPC) or none (the system's)" % (
            ", ".join(sorted([k for k in together if k not in missing])),
            ", ".join(missing),
        ))
    libraries = {}
    for parameter, (target, default) in _LIBRARIES.items():
        labels = given[parameter]
        if labels == None:
            labels = default
        if type(labels) != "list":
            labels = [labels]
        libraries[target] = [_absolute(l, parameter) for l in labels]
    tools = {}
    for parameter, label in {"protoc": protoc, "grpc_cpp_plugin": grpc_cpp_plugin}.items():
        tools[parameter] = _absolute(label if label != None else _TOOLS[parameter], parameter)

    existing = native.existing_rule("authrefresh_deps")
    if existing:
        # Called twice (say, by another library's deps macro first): the
        # second call must not silently lose the first's choice, or the other way round.
        before = {k: list(v) for k, v in existing["libraries"].items()}
        if before != libraries or dict(existing["tools"]) != tools:
            fail("authrefresh_dependencies() was called twice with different dependencies; call it once, from your WORKSPACE, before anything that calls it for you")
    else:
        _deps_repo(name = "authrefresh_deps", libraries = libraries, tools = tools)

    uses_system = [l for ls in libraries.values() for l in ls if l.startswith(_SYSTEM)]
    uses_system += [l for l in tools.values() if l.startswith(_SYSTEM)]
    if uses_system:
        # Debian's gRPC, Protobuf, Abseil, libcrypto, libcurl, hiredis and
        # prometheus-cpp.
        _maybe(
            native.new_local_repository,
            name = "authrefresh_system_libs",
            path = "/usr",
            build_file = str(Label("//bazel:system.BUILD")),
        )

def authrefresh_offline_bazel_repositories():
    """Debian 12's Bazel 4.2.3 (bazel-bootstrap), offline: local stand-ins for
    what its @bazel_tools would otherwise download.

    authrefresh's own WORKSPACE calls this; call it too if your workspace is
    built by Debian's Bazel with no network, before anything else declares
    these repositories. Elsewhere, leave it out: @platforms and @rules_java
    come from Debian's packages, and `bazel coverage` is switched off.
    """

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
