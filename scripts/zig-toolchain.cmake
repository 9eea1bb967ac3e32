# CMake toolchain for the prebuilds (scripts/build-prebuilds.sh): the zig
# cc/c++/ar/ranlib wrappers that script writes for one target, in
# RTMP_INGEST_ZIG_BIN, for Linux on RTMP_INGEST_ZIG_ARCH (x86_64, aarch64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${RTMP_INGEST_ZIG_ARCH})
set(CMAKE_C_COMPILER "${RTMP_INGEST_ZIG_BIN}/cc")
set(CMAKE_CXX_COMPILER "${RTMP_INGEST_ZIG_BIN}/c++")
set(CMAKE_AR "${RTMP_INGEST_ZIG_BIN}/ar" CACHE FILEPATH "zig ar")
set(CMAKE_RANLIB "${RTMP_INGEST_ZIG_BIN}/ranlib" CACHE FILEPATH "zig ranlib")
# try_compile projects get the same wrappers.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES RTMP_INGEST_ZIG_BIN RTMP_INGEST_ZIG_ARCH)
