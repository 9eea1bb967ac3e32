import type { PacketType, RefPacket } from './reference.js';

/** Hash of packet bytes, exactly as ffprobe's -show_data_hash sha256 prints it: "SHA256:<64 lowercase hex>". */
export declare function packetHash(bytes: Uint8Array): string;

/** A packet's comparable fields (NaN timestamps as null) and the hash of its data: the same shape as a reference packet. */
export declare function packetRecord(p: {
  streamIndex: number;
  type: PacketType;
  pts: number;
  dts: number;
  duration: number;
  keyframe: boolean;
  size: number;
  data: Uint8Array;
}): RefPacket;
