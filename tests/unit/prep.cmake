# `ringtune prep` and the HDF5 corpus. test_corpus: the serial writer/reader in a process that
# never initialises MPI. test_prep: MPI tests at 1, 2 and 3 ranks (3 catches uneven splits); each
# compares its output with a 1-rank run made in the same job. `test_prep --cli ARGS` runs
# rt_cmd_prep, the driver of the prep_cli_* tests until `prep` is wired into ringtune.
set(RT_PREP_TOKENIZER ${RT_TOKENIZERS_DIR}/gpt2)

rt_unit_test(test_corpus ${CMAKE_CURRENT_LIST_DIR}/test_corpus.c LIBS rt_io TIMEOUT 60 THREADS 1)

add_executable(test_prep ${CMAKE_CURRENT_LIST_DIR}/test_prep.c ${CMAKE_SOURCE_DIR}/cli/cmd_prep.c)
target_link_libraries(test_prep PRIVATE rt_dist rt_io PkgConfig::CHECK PkgConfig::JANSSON
                                        MPI::MPI_C m)
target_compile_definitions(test_prep PRIVATE RT_TOKENIZER_TEST_DIR="${RT_PREP_TOKENIZER}"
                                             RT_PREP_INPUTS="${CMAKE_SOURCE_DIR}/tests/prep"
                                             RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
foreach(n 1 2 3)
  add_test(NAME test_prep_np${n}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_prep> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(test_prep_np${n} PROPERTIES PROCESSORS ${n} TIMEOUT 120
                       ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}"
                       LABELS mpi)
endforeach()

# The command line: exit codes and messages (tests/expect.sh).
set(RT_PREP_CLI $<TARGET_FILE:test_prep> --cli)
set(RT_PREP_OUT ${CMAKE_BINARY_DIR}/prep_cli)
file(MAKE_DIRECTORY ${RT_PREP_OUT})
function(rt_prep_cli_test name rc regex)
  add_test(NAME ${name} COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh ${rc} ${regex} ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT 60 ENVIRONMENT "${RT_MPI_SAN_ENV}")
endfunction()
rt_prep_cli_test(prep_cli_help 0 "usage: ringtune prep" ${RT_PREP_CLI} --help)
rt_prep_cli_test(prep_cli_unknown_option 2 "unknown option '--bogus'"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --bogus 1 in.txt)
rt_prep_cli_test(prep_cli_needs_tokenizer 2 "--tokenizer DIR is required"
                 ${RT_PREP_CLI} --out x.h5 in.txt)
rt_prep_cli_test(prep_cli_looks_like_jsonl 2 "looks like JSONL. pass --format jsonl"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 data.jsonl)
rt_prep_cli_test(prep_cli_bad_ratio 2 "--val-ratio '1.5': expected a number in \\[0, 1\\]"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --val-ratio 1.5 a)
rt_prep_cli_test(prep_cli_missing_input 1 "cannot read input .*no_such_input.txt: No such file"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out ${RT_PREP_OUT}/missing.h5
                 ${RT_PREP_OUT}/no_such_input.txt)
rt_prep_cli_test(prep_cli_np2 0 "MB/s on 2 ranks"
                 ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS}
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out ${RT_PREP_OUT}/np2.h5
                 --overwrite --format jsonl ${CMAKE_SOURCE_DIR}/tests/prep/jsonl)
set_tests_properties(prep_cli_np2 PROPERTIES PROCESSORS 2)
rt_prep_cli_test(prep_cli_bad_json_np2 1 "text/a.txt:1: malformed JSON"
                 ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS}
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out ${RT_PREP_OUT}/bad.h5
                 --overwrite --format jsonl ${CMAKE_SOURCE_DIR}/tests/prep/text)
set_tests_properties(prep_cli_bad_json_np2 PROPERTIES PROCESSORS 2)
rt_prep_cli_test(prep_cli_delimiter_needs_text 2 "--delimiter applies to --format text only"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --format jsonl
                 --delimiter x a)

# Kind "labeled" (--label-field): the same at 1, 2 and 3 ranks, each compared byte for byte with a
# 1-rank run made in the same job; label orders, bad-label messages, truncation, stratification.
add_executable(test_prep_labels ${CMAKE_CURRENT_LIST_DIR}/test_prep_labels.c)
target_link_libraries(test_prep_labels PRIVATE rt_dist rt_io PkgConfig::CHECK PkgConfig::JANSSON
                                               MPI::MPI_C m)
target_compile_definitions(test_prep_labels PRIVATE RT_TOKENIZER_TEST_DIR="${RT_PREP_TOKENIZER}"
                                                    RT_BUILD_DIR="${CMAKE_BINARY_DIR}"
                                                    RT_FIXTURES="${RT_FIXTURES_DIR}")
foreach(n 1 2 3)
  add_test(NAME test_prep_labels_np${n}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${MPIEXEC_PREFLAGS}
                   $<TARGET_FILE:test_prep_labels> ${MPIEXEC_POSTFLAGS})
  set_tests_properties(test_prep_labels_np${n} PROPERTIES PROCESSORS ${n} TIMEOUT 120
                       ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}"
                       LABELS mpi)
endforeach()

# Labeled corpora from the command line (the oracle fixture's input).
set(RT_PREP_LABELED ${RT_FIXTURES_DIR}/labeled/input.jsonl)
rt_prep_cli_test(prep_cli_labels_need_field 2 "--labels, --num-labels.* need --label-field"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --format jsonl
                 --labels a,b ${RT_PREP_LABELED})
rt_prep_cli_test(prep_cli_label_field_jsonl_only 2 "--label-field applies to --format jsonl only"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --label-field label a)
rt_prep_cli_test(prep_cli_bad_truncation 2 "--truncation 'middle': expected right or left"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --format jsonl
                 --label-field label --truncation middle ${RT_PREP_LABELED})
rt_prep_cli_test(prep_cli_bad_label_list 2 "--labels 'a,,b': expected names separated by commas"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out x.h5 --format jsonl
                 --label-field label --labels a,,b ${RT_PREP_LABELED})
rt_prep_cli_test(prep_cli_labeled_np2 0
                 "labels: 7 classes. 30 examples truncated to 8 tokens .right.. 0 skipped"
                 ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS}
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out ${RT_PREP_OUT}/labeled.h5
                 --overwrite --format jsonl --label-field label --max-length 8
                 --val-ratio 0.25 ${RT_PREP_LABELED})
set_tests_properties(prep_cli_labeled_np2 PROPERTIES PROCESSORS 2)
rt_prep_cli_test(prep_cli_labeled_bad_label_np2 1
                 "labeled/input.jsonl:1: label \"pos\" is not one of --labels neg,Zoo"
                 ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_PREFLAGS}
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out ${RT_PREP_OUT}/bad-label.h5
                 --overwrite --format jsonl --label-field label --labels neg,Zoo
                 ${RT_PREP_LABELED})
set_tests_properties(prep_cli_labeled_bad_label_np2 PROPERTIES PROCESSORS 2)
# the demo's labeled set (cli/demo/packages_sections.jsonl, 350 per class): 70 per class held out
rt_prep_cli_test(prep_cli_demo_labeled 0 "3 sound +280 +70"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_TOKENIZER} --out ${RT_PREP_OUT}/demo-labeled.h5
                 --overwrite --quiet --format jsonl --label-field label --val-ratio 0.2
                 ${CMAKE_SOURCE_DIR}/cli/demo/packages_sections.jsonl)
set_tests_properties(prep_cli_demo_labeled PROPERTIES FIXTURES_SETUP demo_labeled)
# train packs text corpora into windows: a labeled corpus is refused by name, not read as text
rt_prep_cli_test(train_refuses_labeled 1 "demo-labeled.h5: corpus kind is \"labeled\", expected \"text\""
                 $<TARGET_FILE:ringtune> train ${CMAKE_SOURCE_DIR}/tests/configs/minimal.yaml
                 model.path=${RT_FIXTURES_DIR}/gpt2_tiny/hf data.corpus=${RT_PREP_OUT}/demo-labeled.h5
                 data.seq_len=16 output.dir=${RT_PREP_OUT}/train-labeled)
set_tests_properties(train_refuses_labeled PROPERTIES FIXTURES_REQUIRED demo_labeled)

# Kind "pairs" (--source-field/--target-field, a T5 SentencePiece tokenizer): the options, then
# end to end (tests/prep/pairs.sh): ids against T5TokenizerFast's (tests/fixtures/pairs), the
# truncation counts, byte-identical files at 1, 2 and 3 ranks, every bad-input message, the
# tokenizer directory's kind, and train/eval refusing the corpus.
set(RT_PREP_PAIRS ${RT_FIXTURES_DIR}/pairs/input.jsonl)
set(RT_PREP_T5 ${RT_TOKENIZERS_DIR}/t5)
rt_prep_cli_test(prep_cli_pairs_need_both 2 "--source-field and --target-field go together"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_T5} --out x.h5 --format jsonl
                 --source-field en ${RT_PREP_PAIRS})
rt_prep_cli_test(prep_cli_pairs_jsonl_only 2 "--source-field/--target-field apply to --format jsonl"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_T5} --out x.h5 --source-field en
                 --target-field de a.txt)
rt_prep_cli_test(prep_cli_pairs_limits_need_fields 2
                 "--source-prefix, --max-source-len and --max-target-len need --source-field"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_T5} --out x.h5 --format jsonl
                 --max-target-len 8 ${RT_PREP_PAIRS})
rt_prep_cli_test(prep_cli_pairs_not_labeled 2
                 "--label-field and --source-field/--target-field make different corpora"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_T5} --out x.h5 --format jsonl
                 --source-field en --target-field de --label-field catalog ${RT_PREP_PAIRS})
rt_prep_cli_test(prep_cli_pairs_bad_max_len 2 "--max-source-len '0': expected an integer in"
                 ${RT_PREP_CLI} --tokenizer ${RT_PREP_T5} --out x.h5 --format jsonl
                 --source-field en --target-field de --max-source-len 0 ${RT_PREP_PAIRS})
string(REPLACE ";" " " RT_PREP_E2E_PREFLAGS "${MPIEXEC_PREFLAGS}")
add_test(NAME prep_pairs_e2e
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../prep/pairs.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/prep_e2e/pairs)
set_tests_properties(prep_pairs_e2e PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS "mpi;slow"
                     ENVIRONMENT "RT_CORPUS_PAIRS=$<TARGET_FILE:test_corpus_pairs>;RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_PREP_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
