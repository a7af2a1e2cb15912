# The libFuzzer targets (tests/fuzz/fuzz_NAME.cpp, seeds in corpus/NAME/):
# one list for the clang build that makes them and the ctest tests that run them.
set(RSAGENT_FUZZ_TARGETS http_request config_file config_dropins journal control frames)
