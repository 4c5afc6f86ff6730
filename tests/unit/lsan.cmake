# LeakSanitizer in RT_SANITIZE builds (tests/lsan/lsan_probe.c says why these tests exist).
# lsan_dtls_positions: the leak check at exit survives a dlopened module's TLS block at each of the
# 128 positions a 32-byte heap slot can take in a page (gcc 12's crashed at one; machine state
# chose which). lsan_catches_our_leak: in the MPI tests' environment, after an MPI singleton init
# and finalize, a leak of ours is reported, and only it (Open MPI's own are suppressed).
if(RT_SANITIZE)
  add_library(rt_tls_module MODULE ${CMAKE_CURRENT_LIST_DIR}/../lsan/tls_module.c)
  add_executable(lsan_probe ${CMAKE_CURRENT_LIST_DIR}/../lsan/lsan_probe.c)
  target_link_libraries(lsan_probe PRIVATE MPI::MPI_C ${CMAKE_DL_LIBS})
  set(RT_LSAN_PROBE ${CMAKE_CURRENT_LIST_DIR}/../lsan/probe.sh)
  add_test(NAME lsan_dtls_positions
           COMMAND ${RT_LSAN_PROBE} dtls $<TARGET_FILE:lsan_probe> $<TARGET_FILE:rt_tls_module>)
  set_tests_properties(lsan_dtls_positions PROPERTIES TIMEOUT 300
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
  add_test(NAME lsan_catches_our_leak COMMAND ${RT_LSAN_PROBE} leak $<TARGET_FILE:lsan_probe>)
  set_tests_properties(lsan_catches_our_leak PROPERTIES TIMEOUT 120
                       ENVIRONMENT "${RT_MPI_SAN_ENV}")
endif()
