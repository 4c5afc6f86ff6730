# Kind "labeled" corpora (io/corpus_labels.c): writer/reader round trip, refusals, damaged files
# refused on open, old text corpora unaffected. The prep side: test_prep_labels (prep.cmake).
rt_unit_test(test_corpus_labels ${CMAKE_CURRENT_LIST_DIR}/test_corpus_labels.c LIBS rt_io
             TIMEOUT 60 THREADS 1)
