import { NDArray } from "../ndarray";
import { numel, shapeToString } from "../shape";
import { ShapeError } from "../shape";
import { checkArity, type PrimitiveDef } from "./def";

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

function rotl32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/**
 * Threefry-2x32 with 20 rounds (Salmon et al. 2011), the counter-based
 * generator JAX uses: a pure function of (key, counter), so every backend that
 * implements these lines draws bit-identical numbers.
 */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let group = 0; group < 5; group++) {
    const base = (group % 2) * 4;
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl32(x1, ROTATIONS[base + r]!);
      x1 = (x1 ^ x0) >>> 0;
    }
    x0 = (x0 + ks[(group + 1) % 3]!) >>> 0;
    x1 = (x1 + ks[(group + 2) % 3]! + group + 1) >>> 0;
  }
  return [x0, x1];
}

/**
 * Element i of a draw is word (i & 1) of threefry(key, (0, i >> 1)).
 * Bits are stored in i32 (two's complement of the unsigned word).
 */
const randomBits: PrimitiveDef<"randomBits"> = {
  abstractEval(inputs, { shape }) {
    checkArity("randomBits", inputs, 1);
    const key = inputs[0]!;
    if (key.dtype !== "i32" || key.shape.length !== 1 || key.shape[0] !== 2) {
      throw new ShapeError(
        `random: a key is an i32[2] tensor (from random.key or random.split), got ${key.dtype}${shapeToString(key.shape)}`,
      );
    }
    return { shape, dtype: "i32" };
  },
  impl([key], { shape }) {
    const dims = shape as number[];
    const n = numel(dims);
    const out = new Int32Array(n);
    const k0 = key!.data[0]!;
    const k1 = key!.data[1]!;
    for (let i = 0; i < n; i += 2) {
      const [a, b] = threefry2x32(k0, k1, 0, i >>> 1);
      out[i] = a | 0;
      if (i + 1 < n) out[i + 1] = b | 0;
    }
    return new NDArray("i32", dims, out);
  },
  jvp: () => null,
  vjp: () => [null],
};

export const randomPrimitives = { randomBits };
