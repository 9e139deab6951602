# Registers every Catch2 TEST_CASE of a test binary as a ctest test, by listing them at build time.
function(moska_add_catch_tests target)
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DTEST_BIN=$<TARGET_FILE:${target}>
            -DOUT=${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake
            -P ${PROJECT_SOURCE_DIR}/tools/cmake/ListCatchTests.cmake
    BYPRODUCTS ${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake)
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake)
endfunction()
