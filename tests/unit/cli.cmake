# End-to-end checks of the ringtune executable: exit code and output, through tests/expect.sh.
set(RT_CLI $<TARGET_FILE:ringtune>)
set(RT_EXPECT ${CMAKE_CURRENT_LIST_DIR}/../expect.sh)
function(rt_cli_test name rc regex)
  add_test(NAME ${name} COMMAND ${RT_EXPECT} ${rc} ${regex} ${RT_CLI} ${ARGN})
  # the demo initialises MPI (for prep): Open MPI's own leaks are suppressed as for MPI tests
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${RT_MPI_SAN_ENV}")
endfunction()

# the README's demo script with a few steps: init, prep, and the GPT-2 and T5 trainings under
# mpirun -n 2
add_test(NAME cli_demo_short
         COMMAND ${RT_EXPECT} 0 "fine-tuned \\(after\\)" ${CMAKE_SOURCE_DIR}/cli/demo/demo.sh
                 --quick --out ${CMAKE_BINARY_DIR}/cli_demo)
set_tests_properties(cli_demo_short PROPERTIES TIMEOUT 600 LABELS slow FIXTURES_SETUP demo_corpus
                     ENVIRONMENT "RINGTUNE=$<TARGET_FILE:ringtune>;${RT_MPI_SAN_ENV}")
rt_cli_test(cli_convert_fixture 0 "659520 parameters"
            convert ${RT_FIXTURES_DIR}/gpt2_odd/hf ${CMAKE_BINARY_DIR}/cli_convert)
rt_cli_test(cli_convert_t5 0 "t5, 48324 parameters"
            convert ${RT_FIXTURES_DIR}/t5_gated_odd/hf ${CMAKE_BINARY_DIR}/cli_convert_t5)
rt_cli_test(cli_init_t5 0 "initialised T5 \\(8976 parameters\\)"
            init --arch t5 --out ${CMAKE_BINARY_DIR}/cli_init_t5 --vocab 100 --embd 16 --d-kv 4
            --d-ff 24 --layers 2 --decoder-layers 1 --heads 2 --ff gated-gelu)
rt_cli_test(cli_init_t5_bad_ff 2 "--ff 'swish': expected relu"
            init --arch t5 --out x --ff swish)
rt_cli_test(cli_init_arch 2 "--arch 'bert': expected gpt2 or t5" init --arch bert --out x)
rt_cli_test(cli_missing_model 1 "no_such_dir/config.json"
            convert ${CMAKE_BINARY_DIR}/no_such_dir ${CMAKE_BINARY_DIR}/x)
rt_cli_test(cli_unknown_option 2 "unknown option '--bogus'" eval --model x --corpus y --bogus 1)
rt_cli_test(cli_bad_number 2 "--layers 'zero': expected an integer" init --out x --layers zero)
# a corpus made with the 50257-token GPT-2 vocabulary does not fit a 512-token model
rt_cli_test(cli_vocab_mismatch 1 "vocab.*50257.*512|512.*50257"
            eval --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --corpus ${CMAKE_BINARY_DIR}/cli_demo/legal-val.h5)
# Tests on the demo's output share its label: a pass that skips "slow" (the sanitizer pass) would
# otherwise still run the demo as their fixture (ctest adds the setup of a required fixture).
set_tests_properties(cli_vocab_mismatch PROPERTIES FIXTURES_REQUIRED demo_corpus LABELS slow)
rt_cli_test(cli_eval_demo 0 "perplexity"
            eval --model ${CMAKE_BINARY_DIR}/cli_demo/finetune/final --corpus ${CMAKE_BINARY_DIR}/cli_demo/legal-val.h5)
set_tests_properties(cli_eval_demo PROPERTIES FIXTURES_REQUIRED demo_corpus LABELS slow)
# the demo's last part: the T5 fine-tuned on English -> German exports a T5 directory that loads
rt_cli_test(cli_demo_t5 0 "\\(t5, 5031680 parameters\\)"
            convert ${CMAKE_BINARY_DIR}/cli_demo/t5-translate/final ${CMAKE_BINARY_DIR}/cli_demo_t5_convert)
set_tests_properties(cli_demo_t5 PROPERTIES FIXTURES_REQUIRED demo_corpus LABELS slow)
rt_cli_test(cli_generate 0 "^1,2,3(,[0-9]+){5}$"
            generate --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --ids 1,2,3 --new 5)
# T5: greedy and beam search against transformers' generate (tests/fixtures/decode/decode.json),
# --text / --input JSONL with the real T5 tokenizer, a checkpoint against its export
# (tests/s2s/generate.sh)
add_test(NAME cli_generate_t5
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../s2s/generate.sh $<TARGET_FILE:ringtune>
                 ${CMAKE_BINARY_DIR}/cli_generate_t5)
set_tests_properties(cli_generate_t5 PROPERTIES TIMEOUT 300 ENVIRONMENT "${RT_MPI_SAN_ENV}")
rt_cli_test(cli_generate_t5_ids 0 "^298,298,298,122,286,69,51,291,178,298,51,251$"
            generate --model ${RT_FIXTURES_DIR}/t5_gated_odd/hf --ids 5,25,47,117,1
            --max-new-tokens 12)
rt_cli_test(cli_generate_t5_no_tokenizer 2 "has no spiece.model: pass --tokenizer DIR"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --text "translate English to German: Hello")
rt_cli_test(cli_generate_t5_gpt2_tokenizer 2 "holds a GPT-2 tokenizer .*a T5 model needs a SentencePiece one"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --ids 1 --tokenizer ${CMAKE_SOURCE_DIR}/cli/demo/tokenizers/gpt2)
rt_cli_test(cli_generate_t5_vocab 2 "has 32100 tokens, more than the model's vocabulary of 257"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --text hi --tokenizer ${CMAKE_SOURCE_DIR}/cli/demo/tokenizers/t5)
rt_cli_test(cli_generate_t5_bad_ids 2 "--ids '1,300': expected comma-separated ids in \\[0, 257\\)"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --ids 1,300)
rt_cli_test(cli_generate_t5_early 2 "--early-stopping 'maybe': expected true, false or never"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --ids 1 --num-beams 2 --early-stopping maybe)
rt_cli_test(cli_generate_t5_sampling 2 "encoder-decoder model \\(T5\\).*--top-k \\(sampling\\) is for GPT-2"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --ids 1 --top-k 3)
rt_cli_test(cli_generate_t5_bad_field 1 "input.jsonl:1: field 'nosuch' is missing"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf --input ${RT_FIXTURES_DIR}/pairs/input.jsonl --field nosuch)
rt_cli_test(cli_generate_gpt2_beams 2 "is a GPT-2 \\(decoder-only\\) model: --num-beams is for encoder-decoder models"
            generate --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --ids 1,2 --num-beams 2)
rt_cli_test(cli_generate_gpt2_no_tokenizer 2 "--text needs GPT-2's tokenizer, and .* has no vocab.json \\+ merges.txt"
            generate --model ${RT_FIXTURES_DIR}/gpt2_tiny/hf --text hello)
rt_cli_test(cli_generate_no_input 2 "one of --ids, --text or --input are required"
            generate --model ${RT_FIXTURES_DIR}/t5_tied/hf)
# `ringtune finetune` is retired: it says what to run instead and how its options map
rt_cli_test(cli_finetune_retired 2 "ringtune finetune is retired: run `ringtune train RUN.yaml`.*--steps train.max_steps"
            finetune --model x --corpus y --out z)
# a Hugging Face directory of an architecture this build does not know is refused by name
rt_cli_test(cli_unknown_model_type 1 "model_type \"bert\" is not an architecture this build knows"
            eval --model ${RT_FIXTURES_DIR}/hf_unknown_type --corpus y)
