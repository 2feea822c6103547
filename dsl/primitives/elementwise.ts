import { NDArray } from "../ndarray";
import { allocArray, isFloat, type DType } from "../dtype";
import type { Aval } from "../program";
import { ShapeError, sameShape, shapeToString } from "../shape";
import type { Tensor } from "../tensor";
import * as ops from "../ops";
import { checkArity, type PrimitiveDef } from "./def";
import { BINARY_PRIMS, COMPARE_PRIMS, UNARY_PRIMS, type BinaryPrim, type ComparePrim, type UnaryPrim } from "./params";

type DTypeClass = "float" | "numeric" | "bool" | "any";

function acceptsDType(cls: DTypeClass, d: DType): boolean {
  switch (cls) {
    case "float":
      return isFloat(d);
    case "numeric":
      return d !== "bool";
    case "bool":
      return d === "bool";
    case "any":
      return true;
  }
}

function checkSameAvals(op: string, inputs: readonly Aval[]): void {
  const [a, ...rest] = inputs;
  for (const b of rest) {
    if (!sameShape(a!.shape, b.shape)) {
      throw new ShapeError(
        `${op}: operand shapes ${inputs.map((x) => shapeToString(x.shape)).join(" and ")} differ; expected equal shapes`,
      );
    }
    if (a!.dtype !== b.dtype) {
      throw new TypeError(
        `${op}: operand dtypes ${inputs.map((x) => x.dtype).join(" and ")} differ; cast one operand first`,
      );
    }
  }
}

function zeroIfNull(t: Tensor | null, like: Tensor): Tensor {
  return t ?? ops.zerosLike(like);
}

// ---------------------------------------------------------------- unary

interface UnarySpec {
  dtypes: DTypeClass;
  /** The scalar function (JS number semantics; i32 results are truncated by the store). */
  f: (x: number) => number;
  /** d out = derivative(x, out) * d x. `null` for piecewise-constant functions. */
  derivative: ((x: Tensor, y: Tensor) => Tensor) | null;
}

/**
 * The error function in f64 (|error| ~1e-15): its Taylor series below |x| = 2,
 * the continued fraction of erfc above (exact to f64 past |x| = 6). Written to
 * use nothing but `Math`, because the JS target inlines this very function's
 * source into kernels (codegen/kernel_ops.ts), so interpreter and kernels agree
 * bit for bit.
 * @example erfScalar(0.5) // 0.5204998778130465
 */
export function erfScalar(x: number): number {
  const a = Math.abs(x);
  if (!(a < 6)) return Number.isNaN(x) ? x : Math.sign(x);
  // Below 1e-8 the series' second term is under an ulp (and -0 stays -0).
  if (a < 1e-8) return x * 1.1283791670955126;
  if (a < 2) {
    // 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); 40 terms reach f64 precision at |x| = 2.
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 40; n++) {
      term *= -x2 / n;
      sum += term / (2 * n + 1);
    }
    return sum * 1.1283791670955126;
  }
  // erfc(a) = exp(-a^2) / (sqrt(pi) (a + (1/2) / (a + (2/2) / (a + (3/2) / ...)))), 60 levels from the bottom.
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / (1.7724538509055159 * f);
  return x < 0 ? erfc - 1 : 1 - erfc;
}

const UNARY: { readonly [P in UnaryPrim]: UnarySpec } = {
  neg: { dtypes: "numeric", f: (x) => -x, derivative: (x) => ops.fullLike(x, -1) },
  exp: { dtypes: "float", f: Math.exp, derivative: (_x, y) => y },
  log: { dtypes: "float", f: Math.log, derivative: (x) => ops.reciprocal(x) },
  log1p: { dtypes: "float", f: Math.log1p, derivative: (x) => ops.reciprocal(ops.add(x, 1)) },
  sqrt: { dtypes: "float", f: Math.sqrt, derivative: (_x, y) => ops.div(0.5, y) },
  rsqrt: { dtypes: "float", f: (x) => 1 / Math.sqrt(x), derivative: (x, y) => ops.mul(ops.div(y, x), -0.5) },
  tanh: { dtypes: "float", f: Math.tanh, derivative: (_x, y) => ops.sub(1, ops.mul(y, y)) },
  sigmoid: {
    dtypes: "float",
    f: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    derivative: (_x, y) => ops.mul(y, ops.sub(1, y)),
  },
  abs: { dtypes: "numeric", f: Math.abs, derivative: (x) => ops.sign(x) },
  sign: { dtypes: "numeric", f: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0), derivative: null },
  sin: { dtypes: "float", f: Math.sin, derivative: (x) => ops.cos(x) },
  cos: { dtypes: "float", f: Math.cos, derivative: (x) => ops.neg(ops.sin(x)) },
  erf: {
    dtypes: "float",
    f: erfScalar,
    // 2/sqrt(pi) exp(-x^2)
    derivative: (x) => ops.mul(ops.exp(ops.neg(ops.square(x))), 2 / Math.sqrt(Math.PI)),
  },
  logicalNot: { dtypes: "bool", f: (x) => (x ? 0 : 1), derivative: null },
};

function unaryDef(op: UnaryPrim): PrimitiveDef<UnaryPrim> {
  const spec = UNARY[op];
  return {
    abstractEval(inputs) {
      checkArity(op, inputs, 1);
      const x = inputs[0]!;
      if (!acceptsDType(spec.dtypes, x.dtype)) {
        throw new TypeError(`${op}: dtype ${x.dtype} is not supported; expected a ${spec.dtypes} dtype`);
      }
      return { shape: x.shape, dtype: x.dtype };
    },
    impl([x]) {
      const out = allocArray(x!.dtype, x!.size);
      const src = x!.data;
      for (let i = 0; i < out.length; i++) out[i] = spec.f(src[i]!);
      return new NDArray(x!.dtype, x!.shape, out);
    },
    jvp([x], [t], _p, y) {
      if (!t || !spec.derivative || !isFloat(y.dtype)) return null;
      return ops.mul(t, spec.derivative(x!, y));
    },
    vjp(ct, [x], _p, y) {
      if (!spec.derivative || !isFloat(y.dtype)) return [null];
      return [ops.mul(ct, spec.derivative(x!, y))];
    },
  };
}

// ---------------------------------------------------------------- binary arithmetic

interface BinarySpec {
  dtypes: DTypeClass;
  f: (a: number, b: number) => number;
  /** i32 variant where JS double arithmetic would differ from 32-bit integer arithmetic. */
  fInt?: (a: number, b: number) => number;
  /** Partial derivatives (d out/d a, d out/d b), given operands and the output. */
  partials: (a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];
}

/**
 * Partials of maximum/minimum: the gradient goes to the operand `picks` chose
 * (1 where picks(a, b), else 0); ties send all of it to the first operand.
 * `picks` is a closure: ops is not initialised yet when this table is built.
 */
const selectPartials =
  (picks: (a: Tensor, b: Tensor) => Tensor): BinarySpec["partials"] =>
  (a, b) => {
    const m = ops.cast(picks(a, b), a.dtype);
    return [m, ops.sub(1, m)];
  };

const BINARY: { readonly [P in BinaryPrim]: BinarySpec } = {
  add: { dtypes: "numeric", f: (a, b) => a + b, partials: (a) => [ops.onesLike(a), ops.onesLike(a)] },
  sub: { dtypes: "numeric", f: (a, b) => a - b, partials: (a) => [ops.onesLike(a), ops.fullLike(a, -1)] },
  mul: { dtypes: "numeric", f: (a, b) => a * b, fInt: Math.imul, partials: (a, b) => [b, a] },
  div: {
    dtypes: "numeric",
    f: (a, b) => a / b,
    fInt: (a, b) => (b === 0 ? 0 : Math.trunc(a / b)),
    partials: (_a, b, y) => [ops.reciprocal(b), ops.neg(ops.div(y, b))],
  },
  maximum: { dtypes: "numeric", f: Math.max, partials: selectPartials((a, b) => ops.greaterEqual(a, b)) },
  minimum: { dtypes: "numeric", f: Math.min, partials: selectPartials((a, b) => ops.lessEqual(a, b)) },
  pow: {
    dtypes: "float",
    f: Math.pow,
    partials: (a, b, y) => {
      // d/db a^b = a^b log a, taken as 0 where a <= 0 (the limit at a = 0 for b > 0).
      const safeLog = ops.where(ops.greater(a, 0), ops.log(ops.where(ops.greater(a, 0), a, 1)), 0);
      return [ops.mul(b, ops.pow(a, ops.sub(b, 1))), ops.mul(y, safeLog)];
    },
  },
  rem: {
    dtypes: "numeric",
    f: (a, b) => a % b,
    fInt: (a, b) => (b === 0 ? 0 : a % b),
    partials: (a, b) => [ops.onesLike(a), ops.neg(ops.trunc(ops.div(a, b)))],
  },
};

function binaryDef(op: BinaryPrim): PrimitiveDef<BinaryPrim> {
  const spec = BINARY[op];
  return {
    abstractEval(inputs) {
      checkArity(op, inputs, 2);
      checkSameAvals(op, inputs);
      if (!acceptsDType(spec.dtypes, inputs[0]!.dtype)) {
        throw new TypeError(`${op}: dtype ${inputs[0]!.dtype} is not supported; expected a ${spec.dtypes} dtype`);
      }
      return { shape: inputs[0]!.shape, dtype: inputs[0]!.dtype };
    },
    impl([a, b]) {
      const out = allocArray(a!.dtype, a!.size);
      const f = a!.dtype === "i32" && spec.fInt ? spec.fInt : spec.f;
      const x = a!.data;
      const y = b!.data;
      for (let i = 0; i < out.length; i++) out[i] = f(x[i]!, y[i]!);
      return new NDArray(a!.dtype, a!.shape, out);
    },
    jvp([a, b], [ta, tb], _p, y) {
      if (!isFloat(y.dtype) || (!ta && !tb)) return null;
      const [da, db] = spec.partials(a!, b!, y);
      const terms = [ta && da ? ops.mul(ta, da) : null, tb && db ? ops.mul(tb, db) : null].filter(
        (t): t is Tensor => t !== null,
      );
      return terms.length === 0 ? null : terms.length === 1 ? terms[0]! : ops.add(terms[0]!, terms[1]!);
    },
    vjp(ct, [a, b], _p, y) {
      if (!isFloat(y.dtype)) return [null, null];
      const [da, db] = spec.partials(a!, b!, y);
      return [da && ops.mul(ct, da), db && ops.mul(ct, db)];
    },
  };
}

// ---------------------------------------------------------------- comparisons and logic

const COMPARE: { readonly [P in ComparePrim]: { dtypes: DTypeClass; f: (a: number, b: number) => boolean } } = {
  equal: { dtypes: "any", f: (a, b) => a === b },
  notEqual: { dtypes: "any", f: (a, b) => a !== b },
  less: { dtypes: "numeric", f: (a, b) => a < b },
  lessEqual: { dtypes: "numeric", f: (a, b) => a <= b },
  greater: { dtypes: "numeric", f: (a, b) => a > b },
  greaterEqual: { dtypes: "numeric", f: (a, b) => a >= b },
  logicalAnd: { dtypes: "bool", f: (a, b) => !!a && !!b },
  logicalOr: { dtypes: "bool", f: (a, b) => !!a || !!b },
};

function compareDef(op: ComparePrim): PrimitiveDef<ComparePrim> {
  const spec = COMPARE[op];
  return {
    abstractEval(inputs) {
      checkArity(op, inputs, 2);
      checkSameAvals(op, inputs);
      if (!acceptsDType(spec.dtypes, inputs[0]!.dtype)) {
        throw new TypeError(`${op}: dtype ${inputs[0]!.dtype} is not supported; expected a ${spec.dtypes} dtype`);
      }
      return { shape: inputs[0]!.shape, dtype: "bool" };
    },
    impl([a, b]) {
      const out = new Uint8Array(a!.size);
      for (let i = 0; i < out.length; i++) out[i] = spec.f(a!.data[i]!, b!.data[i]!) ? 1 : 0;
      return new NDArray("bool", a!.shape, out);
    },
    jvp: () => null,
    vjp: () => [null, null],
  };
}

// ---------------------------------------------------------------- select, cast, bits

const select: PrimitiveDef<"select"> = {
  abstractEval(inputs) {
    checkArity("select", inputs, 3);
    const [c, a, b] = inputs;
    if (c!.dtype !== "bool") throw new TypeError(`select: condition has dtype ${c!.dtype}, expected bool`);
    checkSameAvals("select", [a!, b!]);
    if (!sameShape(c!.shape, a!.shape))
      throw new ShapeError(
        `select: condition shape ${shapeToString(c!.shape)} differs from operand shape ${shapeToString(a!.shape)}`,
      );
    return { shape: a!.shape, dtype: a!.dtype };
  },
  impl([c, a, b]) {
    const out = allocArray(a!.dtype, a!.size);
    for (let i = 0; i < out.length; i++) out[i] = c!.data[i] ? a!.data[i]! : b!.data[i]!;
    return new NDArray(a!.dtype, a!.shape, out);
  },
  jvp([c, a, b], [, ta, tb]) {
    if (!ta && !tb) return null;
    return ops.where(c!, zeroIfNull(ta ?? null, a!), zeroIfNull(tb ?? null, b!));
  },
  vjp(ct, [c]) {
    const zero = ops.zerosLike(ct);
    return [null, ops.where(c!, ct, zero), ops.where(c!, zero, ct)];
  },
};

const cast: PrimitiveDef<"cast"> = {
  abstractEval(inputs, { dtype }) {
    checkArity("cast", inputs, 1);
    return { shape: inputs[0]!.shape, dtype };
  },
  impl([x], { dtype }) {
    const out = allocArray(dtype, x!.size);
    const src = x!.data;
    if (dtype === "bool") for (let i = 0; i < out.length; i++) out[i] = src[i] ? 1 : 0;
    else if (dtype === "i32") for (let i = 0; i < out.length; i++) out[i] = Math.trunc(src[i]!);
    else out.set(src);
    return new NDArray(dtype, x!.shape, out);
  },
  jvp([x], [t], { dtype }) {
    return t && isFloat(x!.dtype) && isFloat(dtype) ? ops.cast(t, dtype) : null;
  },
  vjp(ct, [x], { dtype }) {
    return [isFloat(x!.dtype) && isFloat(dtype) ? ops.cast(ct, x!.dtype) : null];
  },
};

const bitsToUniform: PrimitiveDef<"bitsToUniform"> = {
  abstractEval(inputs, { dtype }) {
    checkArity("bitsToUniform", inputs, 1);
    if (inputs[0]!.dtype !== "i32")
      throw new TypeError(`bitsToUniform: bits have dtype ${inputs[0]!.dtype}, expected i32`);
    if (!isFloat(dtype)) throw new TypeError(`bitsToUniform: dtype ${dtype} is not a float dtype`);
    return { shape: inputs[0]!.shape, dtype };
  },
  impl([bits], { dtype }) {
    const out = allocArray(dtype, bits!.size);
    // f32: the top 24 bits give exactly representable values in [0, 1); f64 uses all 32 bits.
    if (dtype === "f64") for (let i = 0; i < out.length; i++) out[i] = (bits!.data[i]! >>> 0) * 2 ** -32;
    else for (let i = 0; i < out.length; i++) out[i] = (bits!.data[i]! >>> 8) * 2 ** -24;
    return new NDArray(dtype, bits!.shape, out);
  },
  jvp: () => null,
  vjp: () => [null],
};

/** One definition per name, built by `def` (each name's definition is typed for that name). */
function defsFor<K extends UnaryPrim | BinaryPrim | ComparePrim>(
  names: readonly K[],
  def: (name: K) => PrimitiveDef<K>,
): { readonly [P in K]: PrimitiveDef<P> } {
  // PrimitiveDef<K> serves every P in K: the elementwise primitives all have the same (empty) params.
  return Object.fromEntries(names.map((name) => [name, def(name)])) as { [P in K]: PrimitiveDef<P> };
}

export const elementwisePrimitives = {
  ...defsFor(UNARY_PRIMS, unaryDef),
  ...defsFor(BINARY_PRIMS, binaryDef),
  ...defsFor(COMPARE_PRIMS, compareDef),
  select,
  cast,
  bitsToUniform,
};
