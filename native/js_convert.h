// Converting the server's events into the JS shapes of lib/native.ts.
//
// This runs in the thread-safe function's callback, which can fire while a
// worker is being terminated: then every Node-API call fails. node-addon-api
// turns such a failure into a fatal error (it cannot even build the Error),
// so this file uses plain Node-API and gives up quietly on the first failure.
#pragma once

#include <node_api.h>

#include <vector>

#include "events.h"

namespace rtmp_ingest {

// Packets smaller than this are copied into their batch's slab: cheaper than
// an external buffer and its finalizer. Larger ones are handed over.
constexpr int kCopyBelowBytes = 512;

// The events as one JS array, or nullptr when JS cannot run any more.
// Packets are moved out of the events (their buffers now belong to JS).
napi_value EventsToJs(napi_env env, std::vector<Event>& events);

// Packet batches of any connections as call arguments (meta, data, and
// groups: {connection, packets, bytes} per batch), for the common delivery
// that is nothing but packets: no object is built here. False when JS
// cannot run any more.
bool PacketBatchesToJs(napi_env env, std::vector<Event>& batches, napi_value* meta, napi_value* data, napi_value* groups);

// lib/native.ts NativePacketCounts.
napi_value PacketCountsToJs(napi_env env, const PacketCounts& counts);

// A sink's counters as lib/native.ts NativeSinkStats.
napi_value SinkStatsToJs(napi_env env, const SinkStats& stats);

}  // namespace rtmp_ingest
