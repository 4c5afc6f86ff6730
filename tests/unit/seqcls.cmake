# Sequence classification (GPT2ForSequenceClassification): golden fixtures from transformers
# (tests/fixtures/gen_seqcls_fixtures.py), finite differences of the head and its pooling, and the
# Hugging Face directory import/export.
rt_unit_test(test_seqcls_golden ${CMAKE_CURRENT_LIST_DIR}/test_seqcls_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_seqcls_fd ${CMAKE_CURRENT_LIST_DIR}/test_seqcls_fd.c LIBS rt_compute)
rt_unit_test(test_hf_gpt2_seqcls ${CMAKE_CURRENT_LIST_DIR}/test_hf_gpt2_seqcls.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_model_seqcls ${CMAKE_CURRENT_LIST_DIR}/test_model_seqcls.c LIBS rt_io)
# Classification over whole examples and its command line (tests/fixtures/clseval/, made by
# gen_clseval_fixture.py): test_cls_eval also writes the labeled corpus the CLI tests read.
rt_unit_test(test_cls_eval ${CMAKE_CURRENT_LIST_DIR}/test_cls_eval.c LIBS rt_dist PkgConfig::JANSSON)
set_tests_properties(test_cls_eval PROPERTIES FIXTURES_SETUP clseval_corpus)
set(RT_CLSEVAL ${RT_FIXTURES_DIR}/clseval)
add_test(NAME cli_eval_labeled
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 0 "f1_macro +0.3360"
                 $<TARGET_FILE:ringtune> eval --model ${RT_CLSEVAL}/hf --corpus ${CMAKE_BINARY_DIR}/clseval.h5
                 --batch 4 --json ${CMAKE_BINARY_DIR}/clseval-eval.json)
add_test(NAME cli_eval_labeled_before_after
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 0 "metric +before +after"
                 $<TARGET_FILE:ringtune> eval --before ${RT_CLSEVAL}/hf --model ${RT_CLSEVAL}/hf
                 --corpus ${CMAKE_BINARY_DIR}/clseval.h5)
set_tests_properties(cli_eval_labeled cli_eval_labeled_before_after PROPERTIES
                     FIXTURES_REQUIRED clseval_corpus ENVIRONMENT "${RT_MPI_SAN_ENV}")
# predict: the real GPT-2 tokenizer, each text alone; the long fourth text (31 tokens) is cut to
# 16 on either side, its neutral probability as transformers gives it (predict.json: 0.9963631,
# 0.9985899) to 6 decimals
foreach(side right left)
  if(side STREQUAL right)
    set(p "0\\.996363")
  else()
    set(p "0\\.998589")
  endif()
  add_test(NAME cli_predict_${side}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 0 "\"label\":\"neutral\",\"label_id\":1,\"score\":${p}"
                   $<TARGET_FILE:ringtune> predict --model ${RT_CLSEVAL}/hf --tokenizer ${RT_TOKENIZERS_DIR}/gpt2
                   --input ${RT_CLSEVAL}/predict_input.jsonl --max-length 16 --truncation ${side})
  set_tests_properties(cli_predict_${side} PROPERTIES ENVIRONMENT "${RT_MPI_SAN_ENV}")
endforeach()
add_test(NAME cli_predict_bad_field
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 1 "predict_input.jsonl:1: field 'body' is missing or not a string"
                 $<TARGET_FILE:ringtune> predict --model ${RT_CLSEVAL}/hf --tokenizer ${RT_TOKENIZERS_DIR}/gpt2
                 --input ${RT_CLSEVAL}/predict_input.jsonl --text-field body)
add_test(NAME cli_predict_bad_truncation
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 2 "--truncation 'middle': expected right or left"
                 $<TARGET_FILE:ringtune> predict --model x --input y --truncation middle)
set_tests_properties(cli_predict_bad_field cli_predict_bad_truncation PROPERTIES ENVIRONMENT "${RT_MPI_SAN_ENV}")
# data.task: classification through `ringtune train` under mpirun (tests/cls/train.sh): 1/2/3
# ranks agree, resume at another rank count, feature extraction trains the score alone, the
# export evaluates as the run said.
add_test(NAME cls_e2e_train
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../cls/train.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/cls_e2e/train)
set_tests_properties(cls_e2e_train PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS mpi
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
# data.task: seq2seq through `ringtune train` under mpirun (tests/s2s/train.sh): T5 on pairs, 1/2/3
# ranks agree with the same samples, resume at another rank count, preemption, length grouping,
# export, partial fine-tuning, refusals.
add_test(NAME s2s_e2e_train
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../s2s/train.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/s2s_e2e/train)
set_tests_properties(s2s_e2e_train PROPERTIES PROCESSORS 2 TIMEOUT 400 LABELS "mpi;slow"
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
# eval.metric: a classification metric needs data.task classification
add_test(NAME train_metric_needs_classification
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 1 "'eval.metric' = 'accuracy' .* is a classification metric, but 'data.task' is lm"
                 $<TARGET_FILE:ringtune> train ${CMAKE_SOURCE_DIR}/tests/configs/minimal.yaml eval.metric=accuracy)
add_test(NAME train_metric_unknown
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/../expect.sh 1 "'eval.metric' = 'acuracy' .*: unknown metric"
                 $<TARGET_FILE:ringtune> train ${CMAKE_SOURCE_DIR}/tests/configs/minimal.yaml eval.metric=acuracy data.task=classification)
set_tests_properties(train_metric_needs_classification train_metric_unknown PROPERTIES ENVIRONMENT "${RT_MPI_SAN_ENV}")
# The on-disk feature cache (io/fcache.c): parts, row reads, staleness reasons, safe removal.
rt_unit_test(test_fcache ${CMAKE_CURRENT_LIST_DIR}/test_fcache.c LIBS rt_io THREADS 1)
# Feature extraction with the cache on disk (tests/cls/feature_cache.sh): the losses of the
# in-memory cache, reuse at another rank count, rebuilt on every change, never removing others'
# files.
add_test(NAME cls_e2e_feature_cache
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../cls/feature_cache.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/cls_e2e/feature_cache)
set_tests_properties(cls_e2e_feature_cache PROPERTIES PROCESSORS 2 TIMEOUT 300 LABELS "mpi;slow"
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
# LoRA on the three tasks (tests/lora/train.sh): rank counts, resume at another rank count, the
# adapter-only checkpoints, the PEFT export and the merged model, importing an adapter, refusals
add_test(NAME lora_e2e_train
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../lora/train.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/lora_e2e/train)
set_tests_properties(lora_e2e_train PROPERTIES PROCESSORS 2 TIMEOUT 400 LABELS mpi
                     ENVIRONMENT "RT_MPIEXEC=${MPIEXEC_EXECUTABLE};RT_MPIEXEC_PREFLAGS=${RT_CKPT_E2E_PREFLAGS};OMP_NUM_THREADS=1;${RT_MPI_SAN_ENV}")
