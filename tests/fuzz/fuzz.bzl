"""A libFuzzer target and the test that replays its corpus."""

def authrefresh_fuzz_target(name, corpus, deps):
    native.cc_library(
        name = name + "_lib",
        srcs = [name + ".cc"],
        deps = deps + [":fuzz_support", "@authrefresh_deps//:absl"],
        alwayslink = True,
    )

    # Only links under --config=fuzz (-fsanitize=fuzzer supplies main).
    native.cc_binary(
        name = name,
        deps = [name + "_lib"],
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = ["corpus_replay_main.cc"],
        args = ["tests/fuzz/corpus/" + name[:-len("_fuzzer")]],
        data = corpus,
        deps = [name + "_lib"],
    )
