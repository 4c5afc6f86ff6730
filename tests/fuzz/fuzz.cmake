# libFuzzer targets (README.md), built only with -DRT_FUZZ=ON and CC=clang-14: each links
# libFuzzer's main with ASan+UBSan (the libraries carry the coverage instrumentation, see the
# top-level CMakeLists.txt). `cmake --build build-fuzz --target fuzz_all` builds them; ctest -L fuzz
# runs each for a short bounded time over its seeds (tests/fuzz/run.sh).
set(RT_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(RT_FUZZ_SECONDS 10 CACHE STRING "seconds of fuzzing per target in ctest -L fuzz")
add_custom_target(fuzz_all)
function(rt_fuzz_target name)
  add_executable(${name} ${RT_FUZZ_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE rt_dist)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_compile_definitions(${name} PRIVATE
    RT_FUZZ_TOKENIZER="${RT_FUZZ_DIR}/corpus/tokenizer"
    RT_FUZZ_GPT2="${CMAKE_SOURCE_DIR}/cli/demo/tokenizers/gpt2")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fuzz)
  add_dependencies(fuzz_all ${name})
  add_test(NAME ${name}
           COMMAND bash ${RT_FUZZ_DIR}/run.sh --build ${CMAKE_BINARY_DIR} --seconds ${RT_FUZZ_SECONDS}
                   ${name})
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
foreach(t config_yaml hf_config safetensors vocab merges ckpt_manifest ckpt_load prep_jsonl
          prep_text spm_model)
  rt_fuzz_target(fuzz_${t})
endforeach()
