# The heap allocator of Courier's own programs: courier-server, courier-load and
# core_bench. The libraries (courier::core and the adapters) never choose one:
# a program that links them keeps its own.
#
# COURIER_ALLOCATOR:
#   auto      tcmalloc (gperftools' tcmalloc_minimal) when it is installed and no
#             sanitizer or fuzzer build is asked for (they bring their own
#             allocator); the C library's malloc otherwise. The default.
#   tcmalloc  tcmalloc_minimal, required.
#   jemalloc  jemalloc, required.
#   system    the C library's malloc.
#
# Why (bench/README.md, "Eleventh session: the allocator"): the commit thread
# allocates each batch's results and the io threads free them, and glibc's
# arenas pay for that hand-over (unlink_chunk, malloc_consolidate: ~15-20 % of
# the commit thread's samples in W2's enqueue). A thread-caching allocator
# returns such blocks to a central free list in batches.
set(COURIER_ALLOCATOR "auto" CACHE STRING
    "Heap allocator of courier-server and the benchmarks: auto, tcmalloc, jemalloc or system")
set_property(CACHE COURIER_ALLOCATOR PROPERTY STRINGS auto tcmalloc jemalloc system)

find_library(COURIER_TCMALLOC_LIBRARY NAMES tcmalloc_minimal libtcmalloc_minimal.so.4)
find_library(COURIER_JEMALLOC_LIBRARY NAMES jemalloc libjemalloc.so.2)
mark_as_advanced(COURIER_TCMALLOC_LIBRARY COURIER_JEMALLOC_LIBRARY)

set(_courier_alloc_lib "")
set(_courier_alloc_name "system")
if(COURIER_ALLOCATOR STREQUAL "auto")
  if(COURIER_TCMALLOC_LIBRARY AND NOT COURIER_SANITIZE AND NOT COURIER_FUZZ)
    set(_courier_alloc_lib ${COURIER_TCMALLOC_LIBRARY})
    set(_courier_alloc_name "tcmalloc")
  endif()
elseif(COURIER_ALLOCATOR STREQUAL "tcmalloc" OR COURIER_ALLOCATOR STREQUAL "jemalloc")
  if(COURIER_SANITIZE OR COURIER_FUZZ)
    message(FATAL_ERROR "COURIER_ALLOCATOR=${COURIER_ALLOCATOR} cannot be combined with "
                        "COURIER_SANITIZE or COURIER_FUZZ (the sanitizers replace malloc): "
                        "use COURIER_ALLOCATOR=auto or system")
  endif()
  string(TOUPPER ${COURIER_ALLOCATOR} _upper)
  if(NOT COURIER_${_upper}_LIBRARY)
    message(FATAL_ERROR "COURIER_ALLOCATOR=${COURIER_ALLOCATOR} but its library was not found "
                        "(Debian: libgoogle-perftools-dev for tcmalloc, libjemalloc-dev for "
                        "jemalloc; bash cmake/install-deps.sh server installs the first)")
  endif()
  set(_courier_alloc_lib ${COURIER_${_upper}_LIBRARY})
  set(_courier_alloc_name ${COURIER_ALLOCATOR})
elseif(NOT COURIER_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "COURIER_ALLOCATOR must be auto, tcmalloc, jemalloc or system, "
                      "not '${COURIER_ALLOCATOR}'")
endif()
message(STATUS "Courier's programs allocate with: ${_courier_alloc_name}")

# courier_use_allocator(target): links the chosen allocator into an executable
# and tells it which one (COURIER_ALLOCATOR_NAME, a string literal) for its logs.
function(courier_use_allocator target)
  target_compile_definitions(${target} PRIVATE COURIER_ALLOCATOR_NAME="${_courier_alloc_name}")
  if(_courier_alloc_lib)
    # Listed before the C library, it is the one that defines malloc, free and
    # operator new for the whole process (shared libraries such as RocksDB's
    # included); the program's own calls keep it linked under --as-needed.
    target_link_libraries(${target} PRIVATE ${_courier_alloc_lib})
  endif()
endfunction()
