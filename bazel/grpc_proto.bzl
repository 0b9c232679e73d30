"""cc_grpc_proto: C++ Protobuf and gRPC code from one .proto.

Generates <base>.pb.{h,cc} and <base>.grpc.pb.{h,cc} next to the .proto (so
`#include "protos/foo.pb.h"` works) and wraps them in two cc_libraries:
<name>_proto (the messages, Protobuf only) and <name>_grpc (the stubs).
protoc, the gRPC plugin and the libraries are the ones authrefresh_dependencies()
chose (@authrefresh_deps).
"""

_PROTOC = "@authrefresh_deps//:protoc"
_PLUGIN = "@authrefresh_deps//:grpc_cpp_plugin"

def cc_grpc_proto(name, src, deps = [], visibility = None):
    base = src[:-len(".proto")]
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]

    # The import root is the repository's root: "" here, external/<repo> when
    # authrefresh is used from another workspace.
    rel = native.package_name() + "/" + src if native.package_name() else src
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        tools = [_PROTOC, _PLUGIN],
        cmd = " ".join([
            "loc=$(location %s);" % src,
            "root=$${loc%%%s};" % rel,
            "root=$${root%/};",
            "$(location %s)" % _PROTOC,
            "--proto_path=$${root:-.}",
            "--cpp_out=$(GENDIR)/$$root",
            "--grpc_out=$(GENDIR)/$$root",
            "--plugin=protoc-gen-grpc=$(location %s)" % _PLUGIN,
            "$$loc",
        ]),
    )
    native.cc_library(
        name = name + "_proto",
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"],
        deps = deps + ["@authrefresh_deps//:protobuf"],
        visibility = visibility,
    )
    native.cc_library(
        name = name + "_grpc",
        srcs = [base + ".grpc.pb.cc"],
        hdrs = [base + ".grpc.pb.h"],
        deps = [name + "_proto", "@authrefresh_deps//:grpc++"],
        visibility = visibility,
    )
