/**
 * LEB128, the variable-length integer encoding of the WebAssembly binary
 * format: 7 bits a byte, low bits first, the high bit set on every byte but the
 * last. Signed values are sign-extended from the last byte's bit 6.
 */

/** Unsigned LEB128 of a non-negative integer below 2^32. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32)
    throw new RangeError(`uleb: ${n} is not an unsigned 32-bit integer`);
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of an integer in [-2^31, 2^32) (values >= 2^31 are taken as their i32 bit pattern). */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32)
    throw new RangeError(`sleb: ${n} is not a 32-bit integer`);
  let x = n | 0;
  const out: number[] = [];
  for (;;) {
    const byte = x & 0x7f;
    x >>= 7;
    const done = (x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A length-prefixed UTF-8 name. */
export function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** A vector: its element count, then the elements' bytes. */
export function vec(items: readonly (readonly number[])[]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
