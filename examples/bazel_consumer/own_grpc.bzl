"""Stands in for the way a real project gets gRPC: built from source under
its own repository names (@com_github_grpc_grpc, @com_google_protobuf,
@com_google_absl, ...), usually with http_archive.

Nothing can be downloaded where this example runs, so each repository here
is made from a prebuilt copy described by pkg-config (Debian's -dev packages).
What matters for authrefresh is the names: the example's WORKSPACE hands
these targets to authrefresh_dependencies(), and CI checks that nothing of
authrefresh's reaches @authrefresh_system_libs.
"""

def _prebuilt_impl(rctx):
    packages = {}
    for label, module in rctx.attr.libraries.items():
        package, name = label.lstrip("/").split(":")
        result = rctx.execute(["pkg-config", "--libs", module])
        if result.return_code != 0:
            fail("pkg-config --libs %s: %s" % (module, result.stderr))
        linkopts = result.stdout.strip().split(" ")
        packages.setdefault(package, []).append(
            "cc_library(name = %r, linkopts = %r)" % (name, linkopts),
        )
    for label, path in rctx.attr.tools.items():
        package, name = label.lstrip("/").split(":")
        rctx.symlink(path, (package + "/" if package else "") + name + ".bin")
        packages.setdefault(package, []).append(
            "sh_binary(name = %r, srcs = [%r])" % (name, name + ".bin"),
        )
    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name)
    for package, rules in packages.items():
        rctx.file(
            (package + "/" if package else "") + "BUILD",
            "package(default_visibility = [\"//visibility:public\"])\n\n" + "\n".join(rules) + "\n",
        )

_prebuilt = repository_rule(
    implementation = _prebuilt_impl,
    attrs = {
        "libraries": attr.string_dict(doc = "target label -> pkg-config module"),
        "tools": attr.string_dict(doc = "target label -> executable"),
    },
)

def own_grpc_repositories():
    _prebuilt(
        name = "com_github_grpc_grpc",
        libraries = {"//:grpc++": "grpc++"},
        tools = {"//src/compiler:grpc_cpp_plugin": "/usr/bin/grpc_cpp_plugin"},
    )
    _prebuilt(
        name = "com_google_protobuf",
        libraries = {"//:protobuf": "protobuf"},
        tools = {"//:protoc": "/usr/bin/protoc"},
    )
    _prebuilt(
        name = "com_google_absl",
        libraries = {
            "//absl/base:base": "absl_base",
            "//absl/container:flat_hash_set": "absl_flat_hash_set",
            "//absl/status:status": "absl_status",
            "//absl/status:statusor": "absl_statusor",
            "//absl/strings:strings": "absl_strings",
            "//absl/strings:str_format": "absl_str_format",
            "//absl/synchronization:synchronization": "absl_synchronization",
            "//absl/time:time": "absl_time",
        },
    )
    _prebuilt(
        name = "openssl",
        libraries = {"//:crypto": "libcrypto"},
    )
    _prebuilt(
        name = "curl",
        libraries = {"//:curl": "libcurl"},
    )
    _prebuilt(
        name = "hiredis",
        libraries = {"//:hiredis": "hiredis"},
    )
