# config.json as transformers reads it, and the commands that need the model's eos id.
rt_unit_test(test_hf_config ${CMAKE_CURRENT_LIST_DIR}/test_hf_config.c LIBS rt_io THREADS 1)

# transformers' own save of GPT2Config(vocab_size=1001) (ids 50256): loads, warns once naming the
# file and the field, generates; --eos-id model refuses with the fix; --eos-id N stops at N.
rt_cli_test(cli_default_ids_generate 0
            "warning: .*gpt2_default_ids/hf/config.json: bos_token_id and eos_token_id 50256 are outside the vocabulary \\[0, 1001\\)"
            generate --model ${RT_FIXTURES_DIR}/gpt2_default_ids/hf --ids 1,2,3 --new 3)
rt_cli_test(cli_default_ids_convert 0 "warning: .*config.json: bos_token_id and eos_token_id 50256"
            convert ${RT_FIXTURES_DIR}/gpt2_default_ids/hf ${CMAKE_BINARY_DIR}/cli_default_ids_convert)
rt_cli_test(cli_default_ids_eos_refused 2
            "config.json: eos_token_id 50256 is outside the vocabulary \\[0, 1001\\), so generate --eos-id model cannot use it: set eos_token_id in .*or pass --eos-id N"
            generate --model ${RT_FIXTURES_DIR}/gpt2_default_ids/hf --ids 1,2,3 --eos-id model)
# greedy from 1,2,3 on gpt2_tiny continues 208,208,...: stopping at 208 leaves one new token
rt_cli_test(cli_generate_eos_stops 0 "^1,2,3,208$"
            generate --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --ids 1,2,3 --new 5 --eos-id 208)
rt_cli_test(cli_generate_eos_model 0 "^1,2,3,208,208,208,208,208$"
            generate --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --ids 1,2,3 --new 5 --eos-id model)
rt_cli_test(cli_generate_eos_range 2 "--eos-id '512': expected an integer in \\[0, 511\\]"
            generate --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --ids 1,2,3 --eos-id 512)
