/** The simulator's one source of stable randomness: a hash of a text, so the same seed gives the same world. */
import { createHash } from 'node:crypto';

/** 64 bits of a text's SHA-256. */
export function hash64(text: string): bigint {
  return createHash('sha256').update(text).digest().readBigUInt64BE(0);
}

/** A uniform number in [0, 1) from a text. */
export function unit(text: string): number {
  return Number(hash64(text) >> 11n) / 2 ** 53;
}
