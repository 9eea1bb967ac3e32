// rtmp-ingest: receive live RTMP publishes inside this process.
//
//   import { RtmpIngest } from 'rtmp-ingest';
//   const ingest = new RtmpIngest({ url: 'rtmp://0.0.0.0:1935/live/secret' });
//   const { port } = await ingest.listen();
//   for await (const session of ingest) for await (const packet of session) { ... }

import { loadBinding } from './binding';
import type { BuildInfo } from './native';

export { RtmpIngest } from './ingest';
export type { AddressInfo, ConnectionEvent, IngestEvents, RejectReason, RejectedEvent } from './ingest';
export { IngestSession } from './session';
export type { EndReason, MediaType, Packet, SessionEndEvent, SessionEvents, SessionStats, StreamInfo, StreamStats } from './session';
export type { AuthorizeRequest, RtmpIngestOptions } from './options';
export { Recorder, Relay, SINK_DEFAULTS } from './sinks';
export type { RecordFormat, RecordOptions, RecorderEvents, RecorderStats, RelayEvents, RelayOptions, RelayStats, SegmentInfo } from './sinks';
export { DEFAULTS } from './options';
export { ErrorCode, IngestError, InvalidArgumentError } from './errors';
export type { ErrorCodeValue } from './errors';
export { LOG_LEVELS } from './log';
export type { LogEvent, LogLevel } from './log';
export type { BuildInfo } from './native';

/** Versions and configuration of the loaded addon and the FFmpeg inside it. Loads the addon (throws ERR_ADDON_LOAD_FAILED with instructions if it cannot). */
export function buildInfo(): BuildInfo {
  return loadBinding().buildInfo();
}
