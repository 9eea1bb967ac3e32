// Converting the reader's events into the JS shapes of lib/native.ts.
#pragma once

#include <napi.h>

#include "events.h"

namespace rtmp_ingest {

Napi::Object ErrorToJs(Napi::Env env, const ErrorInfo& error);
Napi::Value EventToJs(Napi::Env env, Event& event);

}  // namespace rtmp_ingest
