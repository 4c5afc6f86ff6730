# GPT-2 byte-level BPE (io/bpe.c) against Hugging Face ids: tests/fixtures/tokenizer/gpt2_cases.json
# from tests/fixtures/gen_tokenizer_fixtures.py, the real GPT-2 files from the shared folder, and
# the demo corpus (cli/demo/*.txt) for the 4 MB text.
rt_unit_test(test_bpe ${CMAKE_CURRENT_LIST_DIR}/test_bpe.c LIBS rt_io OpenMP::OpenMP_C)
target_compile_definitions(test_bpe PRIVATE RT_GPT2_TOKENIZER="${RT_TOKENIZERS_DIR}/gpt2"
                                            RT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
