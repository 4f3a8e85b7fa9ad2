# The power-loss test of courier::rocksdb (tests/rocksdb/power_loss_test.cc)
# and its LazyEnv, whose files lose what was never synced. Included by
# tests/rocksdb/CMakeLists.txt once courier::rocksdb exists.
# Runtime: COURIER_POWERLOSS_SEEDS=<n> (default 2000), COURIER_POWERLOSS_SEED=<n>.
if(NOT TARGET courier::rocksdb)
  return()
endif()
# The LazyEnv uses RocksDB's API itself: it links the same RocksDB library
# as the adapter (COURIER_ROCKSDB_TARGET, set by adapters/rocksdb).
courier_test(NAME power_loss_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/power_loss_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/lazy_env.cc
    ${CMAKE_CURRENT_LIST_DIR}/lazy_env_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/child_process.cc
  DEPS courier::rocksdb courier::memory ${COURIER_ROCKSDB_TARGET}
  LABELS rocksdb)
courier_test_uses_absl_mutex(power_loss_test)
