/** Shape checks with messages that name the function, the argument and the expected shape. */
import { Tensor, type Dim } from "../../core";

const fmt = (dims: readonly (Dim | null)[]) => `[${dims.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;

/**
 * Checks that `t` is a tensor whose shape matches `expected` (null = any size)
 * and returns its shape.
 * @example const [n, d] = expectShape("metaPi", "x", x, [null, 4]);
 */
export function expectShape(fn: string, what: string, t: unknown, expected: readonly (Dim | null)[]): Dim[] {
  if (!(t instanceof Tensor))
    throw new TypeError(`${fn}: ${what} must be a Tensor, got ${t === null ? "null" : typeof t}`);
  const ok = t.shape.length === expected.length && expected.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) throw new Error(`${fn}: ${what} has shape ${fmt(t.shape)}, expected ${fmt(expected)}`);
  return [...t.shape];
}
