/**
 * Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its first non-empty `{hash tag}`, modulo 16384,
 * as the Redis Cluster specification defines it. The store groups one batch's commands by the node serving each slot,
 * so a request costs one pipeline per node, all sent at once.
 */

const SLOTS = 16_384;
let table: Uint16Array | undefined;

function crcTable(): Uint16Array {
  if (table !== undefined) return table;
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  table = t;
  return t;
}

function crc16(bytes: Uint8Array, start: number, end: number): number {
  const t = crcTable();
  let crc = 0;
  for (let i = start; i < end; i++)
    crc = ((crc << 8) & 0xffff) ^ (t[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

/** Slot (0..16383) of `key`, hashing only the `{tag}` when the key has a non-empty one. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, "utf8");
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // "{"
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // "}"
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  return crc16(bytes, start, end) % SLOTS;
}
