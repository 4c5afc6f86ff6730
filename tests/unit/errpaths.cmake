# Error messages carry no absolute build paths: the traceback lines name sources relative to the
# repository ("at dist/train.c:315 setup"), and the first line stays the one naming the user's
# file. Each command runs in a scratch directory with relative user paths, so any absolute path
# in its output would come from the build; FAIL_REGULAR_EXPRESSION catches one.
set(RT_ERRPATH_DIR ${CMAKE_BINARY_DIR}/errpaths)
file(MAKE_DIRECTORY ${RT_ERRPATH_DIR})
file(WRITE ${RT_ERRPATH_DIR}/bad.yaml
     "model:\n  path: no_such_model\ndata:\n  corpus: no_such.h5\n  seq_len: 8\n"
     "output:\n  dir: out\n")
string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" RT_SRC_RE "${CMAKE_SOURCE_DIR}")
function(rt_errpath_test name rc regex)
  add_test(NAME ${name} COMMAND ${RT_EXPECT} ${rc} ${regex} ${RT_CLI} ${ARGN}
           WORKING_DIRECTORY ${RT_ERRPATH_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 ENVIRONMENT "${RT_MPI_SAN_ENV}"
                       FAIL_REGULAR_EXPRESSION "at /;${RT_SRC_RE}/")
endfunction()
rt_errpath_test(errpath_convert 1
                "^  at io/model_registry\\.c:[0-9]+ rt_model_load_hf$"
                convert no_such_dir x)
rt_errpath_test(errpath_train 1 "^  at dist/train\\.c:[0-9]+ setup$" train bad.yaml)
rt_errpath_test(errpath_prep 1 "^  at dist/prep\\.c:[0-9]+ [a-z_]+$"
                prep --out x.h5 no_such_input.txt)
