// Reference packets: what libavformat's own demuxer (via ffprobe) reads from a
// file or stream, per packet, with a hash of the packet data.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type PacketType = 'video' | 'audio' | 'data';

export interface RefPacket {
  streamIndex: number;
  type: PacketType;
  /** In the stream's time base (1/1000 for FLV/RTMP); null when FFmpeg has none. */
  pts: number | null;
  dts: number | null;
  duration: number | null;
  keyframe: boolean;
  size: number;
  /** Same format as ffprobe -show_data_hash sha256: "SHA256:<64 lowercase hex>". */
  hash: string;
}

export interface RefStream {
  index: number;
  type: PacketType;
  codec: string;
  timeBase: string; // "1/1000"
  extradataSize: number;
  /** packetHash() of the extradata (AVC/HEVC config record, AudioSpecificConfig), or null without extradata. */
  extradataHash: string | null;
}

// Hash of packet bytes, exactly as ffprobe's -show_data_hash sha256 prints it.
export { packetHash } from './packet-record.mjs';

export function toPacketType(codecType: string | undefined): PacketType {
  return codecType === 'video' || codecType === 'audio' ? codecType : 'data';
}

// ffprobe -of json: numbers for pts/dts/duration, strings for size; fields
// whose value is unknown (AV_NOPTS_VALUE) are omitted.
export interface FfprobePacketJson {
  codec_type?: string;
  stream_index: number;
  pts?: number;
  dts?: number;
  duration?: number;
  size: string | number;
  flags?: string;
  data_hash?: string;
}

export interface FfprobeStreamJson {
  index: number;
  codec_type?: string;
  codec_name?: string;
  time_base?: string;
  extradata_size?: number;
  extradata_hash?: string;
}

interface FfprobeJson {
  packets?: FfprobePacketJson[];
  streams?: FfprobeStreamJson[];
}

/** Parses the output of `ffprobe -show_packets -show_data_hash sha256 -of json`. */
export function parseFfprobePackets(json: string): RefPacket[] {
  const parsed = JSON.parse(json) as FfprobeJson;
  return (parsed.packets ?? []).map((p) => {
    if (!p.data_hash) throw new Error('ffprobe output has no data_hash: was -show_data_hash sha256 given?');
    return {
      streamIndex: p.stream_index,
      type: toPacketType(p.codec_type),
      pts: p.pts ?? null,
      dts: p.dts ?? null,
      duration: p.duration ?? null,
      keyframe: (p.flags ?? '').includes('K'),
      size: Number(p.size),
      hash: p.data_hash,
    };
  });
}

export function parseFfprobeStreams(json: string): RefStream[] {
  const parsed = JSON.parse(json) as FfprobeJson;
  return (parsed.streams ?? []).map((s) => ({
    index: s.index,
    type: toPacketType(s.codec_type),
    codec: s.codec_name ?? 'unknown',
    timeBase: s.time_base ?? '',
    extradataSize: s.extradata_size ?? 0,
    extradataHash: s.extradata_size ? (s.extradata_hash ?? null) : null,
  }));
}

// A probe long enough for every stream's parameters before the first packet
// is printed: with the default 5 MB, a file that opens with a key frame of
// over 1 MB (2160p) left its first AAC packet without a duration.
const PROBE_FILE_ARGS = ['-probesize', '100M', '-analyzeduration', '30M'] as const;

export const FFPROBE_PACKET_ARGS = ['-v', 'error', '-show_packets', '-show_data_hash', 'sha256', '-of', 'json'] as const;

async function ffprobeJson(file: string, extra: readonly string[], ffprobe: string): Promise<string> {
  // Pass the file with -i so names starting with '-' are not taken for options.
  const { stdout } = await execFileAsync(ffprobe, [...extra, '-i', file], { maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** Every packet libavformat demuxes from `file`, in read order. `ffprobe`: which executable (default: the one on PATH). */
export async function probePackets(file: string, ffprobe = 'ffprobe'): Promise<RefPacket[]> {
  return parseFfprobePackets(await ffprobeJson(file, [...PROBE_FILE_ARGS, ...FFPROBE_PACKET_ARGS], ffprobe));
}

/** Stream list with extradata hashes (the AVC/AAC sequence headers end up there, not in packets). */
export async function probeStreams(file: string, ffprobe = 'ffprobe'): Promise<RefStream[]> {
  return parseFfprobeStreams(await ffprobeJson(file, ['-v', 'error', '-show_streams', '-show_data_hash', 'sha256', '-of', 'json'], ffprobe));
}
