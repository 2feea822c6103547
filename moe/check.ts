/**
 * Validation helpers shared by the MoE library. Every public function checks
 * its configuration and parameter shapes up front, so a mistake fails with a
 * message naming the function, the offending value and what was expected,
 * instead of a shape error deep inside a trace.
 */
import { Tensor, dims, type Dim, type DType, type FloatDType, type Shape } from "../core";
import { userCallSite } from "../dsl/call_site";

const isFloat = (d: DType): d is FloatDType => d === "f32" || d === "f64" || d === "f16";
const shapeToString = (s: Shape): string => `[${s.map(dims.format).join(", ")}]`;

/** A bad MoE configuration or parameter pytree (k > E, capacity factor <= 0, mismatched expert shapes, ...). */
export class MoeConfigError extends Error {
  override name = "MoeConfigError";
  /** The message already names the user's call site (see `withCallSite`). */
  readonly _sited = true;
  constructor(message: string) {
    const site = userCallSite();
    super(site ? `${message}\n    at ${site}` : message);
  }
}

/** Checks that `value` is an integer >= `min` and returns it. */
export function checkInt(value: unknown, where: string, what: string, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new MoeConfigError(`${where}: ${what} = ${String(value)} is invalid; expected an integer >= ${min}`);
  }
  return value;
}

/** Checks that `value` is a finite number > 0 and returns it. */
export function checkPositive(value: unknown, where: string, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new MoeConfigError(`${where}: ${what} = ${String(value)} is invalid; expected a finite number > 0`);
  }
  return value;
}

/** Checks that `x` is a Tensor and returns it. */
export function checkTensor(x: unknown, where: string, what: string): Tensor {
  if (!(x instanceof Tensor)) {
    throw new MoeConfigError(`${where}: ${what} must be a Tensor, got ${x === null ? "null" : typeof x}`);
  }
  return x;
}

/** Checks that `x` is a float tensor and returns its dtype. */
export function checkFloat(x: unknown, where: string, what: string): FloatDType {
  const t = checkTensor(x, where, what);
  if (!isFloat(t.dtype))
    throw new MoeConfigError(`${where}: ${what} has dtype ${t.dtype}; expected a float dtype (f32 or f64)`);
  return t.dtype;
}

/**
 * Checks a tensor's shape against a pattern: a number must match exactly, a
 * string names a size that must agree across calls sharing `bound` (e.g. "E"),
 * null matches any size. Every dim must be concrete (parameters); token
 * tensors, whose count may be a named dim, use `checkTokenShape`.
 *
 * @example checkShape(w1, [null, null, null], "ffnExperts", "w1", sizes)
 */
export function checkShape(
  x: unknown,
  pattern: readonly (number | string | null)[],
  where: string,
  what: string,
  bound: Map<string, Dim> = new Map(),
): number[] {
  return matchShape(x, pattern, where, what, bound, []) as number[];
}

/**
 * `checkShape` for token tensors: the axes in `tokenAxes` (default the first)
 * may be symbolic (a named dim such as "T", or an expression of one), so one
 * trace serves every token count; every other axis must be concrete.
 *
 * @example const [T, D] = checkTokenShape(x, [null, "D"], "topKGate", "x [T, D]", n); // T: "T" or 16
 */
export function checkTokenShape(
  x: unknown,
  pattern: readonly (number | string | null)[],
  where: string,
  what: string,
  bound: Map<string, Dim> = new Map(),
  tokenAxes: readonly number[] = [0],
): Dim[] {
  return matchShape(x, pattern, where, what, bound, tokenAxes);
}

function matchShape(
  x: unknown,
  pattern: readonly (number | string | null)[],
  where: string,
  what: string,
  bound: Map<string, Dim>,
  tokenAxes: readonly number[],
): Dim[] {
  const t = checkTensor(x, where, what);
  const shape = t.shape;
  const expected = () =>
    "[" +
    pattern
      .map((p) =>
        p === null ? "*" : typeof p === "number" ? String(p) : bound.has(p) ? `${p}=${String(bound.get(p))}` : p,
      )
      .join(", ") +
    "]";
  if (shape.length !== pattern.length) {
    throw new MoeConfigError(
      `${where}: ${what} has shape ${shapeToString(shape)}, expected rank ${pattern.length} ${expected()}`,
    );
  }
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (typeof d !== "number" && !tokenAxes.includes(i))
      throw new MoeConfigError(
        `${where}: ${what} has the symbolic dim ${String(d)} at axis ${i}; only the token count may be symbolic, the ` +
          `MoE library needs a concrete size here (it sizes parameters and expert buffers)`,
      );
    const p = pattern[i];
    if (typeof p === "number" && d !== p) {
      throw new MoeConfigError(`${where}: ${what} has shape ${shapeToString(shape)}, expected ${expected()}`);
    }
    if (typeof p === "string") {
      const prev = bound.get(p);
      if (prev !== undefined && !dims.equal(prev, d)) {
        throw new MoeConfigError(
          `${where}: ${what} has shape ${shapeToString(shape)}, expected ${expected()} (size ${p} is ${String(prev)} elsewhere)`,
        );
      }
      bound.set(p, d);
    }
    out.push(d);
  });
  return out;
}
