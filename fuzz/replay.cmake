# Replays every fuzz corpus and regression input through its target, built
# with the normal compiler and no libFuzzer (fuzz/replay_main.cpp), so that
# `make test` and `make test-asan` catch a regression without clang.
# Included from tests/CMakeLists.txt.
include(${PROJECT_SOURCE_DIR}/fuzz/targets.cmake)
set(fuzz_dir ${PROJECT_SOURCE_DIR}/fuzz)
foreach(t ${WEFT_FUZZ_TARGETS})
  set(extra ${WEFT_FUZZ_EXTRA_${t}})
  list(TRANSFORM extra PREPEND ${PROJECT_SOURCE_DIR}/)
  add_executable(fuzz_replay_${t} ${fuzz_dir}/replay_main.cpp ${fuzz_dir}/targets/${t}.cpp ${extra})
  target_include_directories(fuzz_replay_${t} PRIVATE ${PROJECT_SOURCE_DIR}/src
                                                      ${PROJECT_SOURCE_DIR}/apps/weft ${fuzz_dir})
  target_link_libraries(fuzz_replay_${t} PRIVATE weft::weft)
  if(t STREQUAL qa_question)
    target_sources(fuzz_replay_${t} PRIVATE ${PROJECT_SOURCE_DIR}/apps/weft/qa_protocol.cpp)
  endif()
  target_compile_options(fuzz_replay_${t} PRIVATE ${WEFT_WARNINGS})
  add_test(NAME fuzz.${t} COMMAND fuzz_replay_${t} ${fuzz_dir}/corpus/${t} ${fuzz_dir}/regressions/${t})
  set_tests_properties(fuzz.${t} PROPERTIES TIMEOUT 120 LABELS fuzz)
endforeach()
