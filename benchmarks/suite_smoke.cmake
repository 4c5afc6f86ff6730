# ctest bench_suite_smoke: cmake -DSCRIPT=run_suite.sh -DBUILD=<build dir> -DOUT=<dir> -P suite_smoke.cmake
# Runs the whole suite at smoke sizes, then checks that every step wrote its JSON, that the report
# (summary.md, the README's performance table) and every plot were written. gnuplot-nox comes with
# setup.sh; without it the suite itself fails (plot_suite.sh exits 3).
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND "${SCRIPT}" --quick --max-ranks 2 --build "${BUILD}" --out "${OUT}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run_suite.sh --quick exited ${rc}")
endif()
foreach(f machine suite gemm step tokenizer reader allreduce_p2 train_small_p2 vs_pytorch_small_p2
          seqcls_small_p1 t5_step_tiny scaling ckpt_p2)
  if(NOT EXISTS "${OUT}/${f}.json")
    message(FATAL_ERROR "missing ${OUT}/${f}.json")
  endif()
endforeach()
file(READ "${OUT}/summary.md" md)
foreach(want "| measurement | ringtune |" "all-reduce busbw, P=2" "weak scaling" "checkpoint save"
             "GEMMs of one small step" "training step, GPT-2 small"
             "seq. classification, full fine-tuning" "feature cache on" "T5 training step, tiny"
             "T5 training step MFU")
  string(FIND "${md}" "${want}" at)
  if(at LESS 0)
    message(FATAL_ERROR "${OUT}/summary.md has no '${want}'")
  endif()
endforeach()
foreach(f allreduce_busbw ckpt_io mfu scaling gemm)
  if(NOT EXISTS "${OUT}/${f}.png")
    message(FATAL_ERROR "missing ${OUT}/${f}.png")
  endif()
  file(SIZE "${OUT}/${f}.png" sz)
  if(sz LESS 5000)
    message(FATAL_ERROR "${OUT}/${f}.png is only ${sz} bytes")
  endif()
endforeach()
message(STATUS "bench_suite_smoke: all JSON, summary.md and 5 plots in ${OUT}")
