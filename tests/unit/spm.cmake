# T5's SentencePiece unigram tokenizer (io/spm.c) against PyPI sentencepiece and T5TokenizerFast:
# tests/fixtures/tokenizer/t5_cases.json from tests/fixtures/gen_spm_fixtures.py, the bundled T5
# files (cli/demo/tokenizers/t5), malformed models and tokenizer.json files built in the test, and
# the demo corpus (cli/demo/general.txt) for the speed figure.
rt_unit_test(test_spm ${CMAKE_CURRENT_LIST_DIR}/test_spm.c LIBS rt_io OpenMP::OpenMP_C)
target_compile_definitions(test_spm PRIVATE RT_T5_TOKENIZER="${RT_TOKENIZERS_DIR}/t5"
                                            RT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
