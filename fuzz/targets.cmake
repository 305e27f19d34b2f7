# The fuzz targets and the pure sources they exercise, shared by the
# libFuzzer build (fuzz/CMakeLists.txt, clang) and the corpus replay tests
# (fuzz/replay.cmake, the normal build). Paths are relative to the repo root.
set(WEFT_FUZZ_TARGETS request_parser request_diff chunked_decoder chunked_diff address echo_line
    qa_question static_path preconditions route_match)
# No coroutine code: clang-14 does not build weft's coroutines reliably with
# coverage instrumentation, and the parsers need none of it.
set(WEFT_FUZZ_PURE_SOURCES
    src/http/request_parser.cpp src/http/plain_head.cpp src/http/request_rules.cpp src/http/field_syntax.cpp
    src/http/chunked_decoder.cpp src/http/static_path.cpp src/http/preconditions.cpp src/http/route_match.cpp
    src/net/address.cpp apps/weft/qa_protocol.cpp)
# Extra sources per target, besides fuzz/targets/<target>.cpp.
set(WEFT_FUZZ_EXTRA_request_diff fuzz/reference/request_reference.cpp)
set(WEFT_FUZZ_EXTRA_chunked_diff fuzz/reference/chunked_reference.cpp)
