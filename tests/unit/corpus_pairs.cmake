# Kind "pairs" corpora (io/corpus_pairs.c): writer/reader round trip, refusals both ways, damaged
# files refused. The prep side: tests/prep/pairs.sh (prep_pairs_e2e below), which also uses
# `test_corpus_pairs --dump` to read a corpus's pairs back through the reader API.
rt_unit_test(test_corpus_pairs ${CMAKE_CURRENT_LIST_DIR}/test_corpus_pairs.c LIBS rt_io
             TIMEOUT 60 THREADS 1)
# The MPI-free pieces of prep for pairs (dist/prep_pairs.c): truncation keeping </s> against
# T5TokenizerFast's ids (tests/fixtures/pairs/t5_ids.json), empty sides, fields, option checks.
rt_unit_test(test_prep_pairs ${CMAKE_CURRENT_LIST_DIR}/test_prep_pairs.c LIBS rt_dist TIMEOUT 60 THREADS 1)
target_compile_definitions(test_prep_pairs PRIVATE RT_T5_TOKENIZER="${RT_TOKENIZERS_DIR}/t5")
