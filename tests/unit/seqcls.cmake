# Sequence classification (GPT2ForSequenceClassification): golden fixtures from transformers
# (tests/fixtures/gen_seqcls_fixtures.py), finite differences of the head and its pooling, and the
# Hugging Face directory import/export.
rt_unit_test(test_seqcls_golden ${CMAKE_CURRENT_LIST_DIR}/test_seqcls_golden.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_seqcls_fd ${CMAKE_CURRENT_LIST_DIR}/test_seqcls_fd.c LIBS rt_compute)
rt_unit_test(test_hf_gpt2_seqcls ${CMAKE_CURRENT_LIST_DIR}/test_hf_gpt2_seqcls.c LIBS rt_io PkgConfig::JANSSON)
rt_unit_test(test_model_seqcls ${CMAKE_CURRENT_LIST_DIR}/test_model_seqcls.c LIBS rt_io)
