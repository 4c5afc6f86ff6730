# A corpus made with another tokenizer than the model directory's is refused by eval and train
# (vocab.json + merges.txt hashed as prep records them); exports carry the tokenizer files.
add_test(NAME cli_tokenizer_check
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/tokcheck.sh $<TARGET_FILE:ringtune>
                 ${RT_TOKENIZERS_DIR}/gpt2 ${CMAKE_BINARY_DIR}/tokcheck)
set_tests_properties(cli_tokenizer_check PROPERTIES TIMEOUT 300 ENVIRONMENT "${RT_MPI_SAN_ENV}")
