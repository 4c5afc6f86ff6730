# The libFuzzer targets of tests/fuzz (only in an RT_FUZZ build; ctest label fuzz).
if(RT_FUZZ)
  include(${CMAKE_CURRENT_LIST_DIR}/../fuzz/fuzz.cmake)
endif()
