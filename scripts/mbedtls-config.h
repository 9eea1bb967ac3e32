
/* rtmp-ingest: appended to Mbed TLS's default include/mbedtls/mbedtls_config.h
 * by scripts/build-ffmpeg.sh before it builds the library, so the installed
 * headers that FFmpeg compiles against describe the same configuration.
 * Part of FFmpeg's build stamp: editing this rebuilds Mbed TLS and FFmpeg. */

/* FFmpeg's tls protocol may run on several threads at once (one relay per
 * session): psa_crypto_init() and PSA's key store (TLS 1.3) are global and
 * are only thread-safe with Mbed TLS's pthread threading layer. */
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD

/* Not needed by a TLS client inside FFmpeg: the self tests, the sockets
 * layer (FFmpeg does its own I/O through mbedtls_ssl_set_bio, and only uses
 * net_sockets.h for its error codes), and debug output. */
#undef MBEDTLS_SELF_TEST
#undef MBEDTLS_NET_C
#undef MBEDTLS_DEBUG_C
