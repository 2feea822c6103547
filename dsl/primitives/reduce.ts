import { NDArray, forEachIndex } from "../ndarray";
import { allocArray, isFloat } from "../dtype";
import type { Aval } from "../program";
import { ShapeError, keepDimsShape, numel, shapeToString, stridesOf } from "../shape";
import * as ops from "../ops";
import { bind } from "../trace";
import { checkArity, type PrimitiveDef } from "./def";
import { linearJvp } from "./linear";

function checkAxis(op: string, x: Aval, axis: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${shapeToString(x.shape)}`);
  }
}

/** Splits a shape around one axis: [outer, length, inner] element counts. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

const reduceSum: PrimitiveDef<"reduceSum"> = {
  abstractEval(inputs, { axes }) {
    checkArity("reduceSum", inputs, 1);
    const x = inputs[0]!;
    axes.forEach((a) => checkAxis("reduceSum", x, a));
    if (x.dtype === "bool") throw new TypeError("reduceSum: bool operand; cast it to i32 or f32 first");
    return { shape: x.shape.filter((_, i) => !axes.includes(i)), dtype: x.dtype };
  },
  impl([x], { axes }) {
    const outShape = x!.shape.filter((_, i) => !axes.includes(i));
    const outStrides = stridesOf(outShape);
    // Map each input dim to the output stride it contributes (0 for reduced axes).
    const map: number[] = [];
    let j = 0;
    x!.shape.forEach((_, i) => map.push(axes.includes(i) ? 0 : outStrides[j++]!));
    const acc = new Float64Array(numel(outShape));
    forEachIndex(x!.shape, (flat, idx) => {
      let o = 0;
      for (let d = 0; d < idx.length; d++) o += idx[d]! * map[d]!;
      acc[o]! += x!.data[flat]!;
    });
    const out = allocArray(x!.dtype, acc.length);
    out.set(acc);
    return new NDArray(x!.dtype, outShape, out);
  },
  jvp: linearJvp("reduceSum"),
  vjp(ct, [x], { axes }) {
    const kept = bind("reshape", [ct], { shape: keepDimsShape(x!.shape, axes) });
    return [bind("broadcastTo", [kept], { shape: x!.shape })];
  },
};

/** max/min along one axis; the gradient goes to the first extreme element (lowest index). */
function extremumDef(op: "reduceMax" | "reduceMin"): PrimitiveDef<"reduceMax" | "reduceMin"> {
  const better = op === "reduceMax" ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  const argOp = op === "reduceMax" ? "argmax" : "argmin";
  return {
    abstractEval(inputs, { axis }) {
      checkArity(op, inputs, 1);
      const x = inputs[0]!;
      checkAxis(op, x, axis);
      if (x.shape[axis] === 0)
        throw new ShapeError(`${op}: cannot reduce an empty axis ${axis} of ${shapeToString(x.shape)}`);
      return { shape: x.shape.filter((_, i) => i !== axis), dtype: x.dtype };
    },
    impl([x], { axis }) {
      const [outer, len, inner] = around(x!.shape, axis);
      const out = allocArray(x!.dtype, outer * inner);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let best = x!.data[o * len * inner + i]!;
          for (let k = 1; k < len; k++) {
            const v = x!.data[(o * len + k) * inner + i]!;
            if (better(v, best) || Number.isNaN(v)) best = v;
          }
          out[o * inner + i] = best;
        }
      return new NDArray(
        x!.dtype,
        x!.shape.filter((_, i) => i !== axis),
        out,
      );
    },
    jvp([x], [t], { axis }) {
      if (!t) return null;
      const idx = ops.expandDims(bind(argOp, [x!], { axis }), axis);
      return ops.squeeze(bind("gather", [t, idx], { axis }), axis);
    },
    vjp(ct, [x], { axis }) {
      if (!isFloat(x!.dtype)) return [null];
      const idx = ops.expandDims(bind(argOp, [x!], { axis }), axis);
      return [bind("scatterAddAlong", [ops.zerosLike(x!), idx, ops.expandDims(ct, axis)], { axis })];
    },
  };
}

function argDef(op: "argmax" | "argmin"): PrimitiveDef<"argmax" | "argmin"> {
  const better = op === "argmax" ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  return {
    abstractEval(inputs, { axis }) {
      checkArity(op, inputs, 1);
      const x = inputs[0]!;
      checkAxis(op, x, axis);
      if (x.shape[axis] === 0) throw new ShapeError(`${op}: empty axis ${axis} of ${shapeToString(x.shape)}`);
      return { shape: x.shape.filter((_, i) => i !== axis), dtype: "i32" };
    },
    impl([x], { axis }) {
      const [outer, len, inner] = around(x!.shape, axis);
      const out = new Int32Array(outer * inner);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let best = x!.data[o * len * inner + i]!;
          let at = 0;
          for (let k = 1; k < len; k++) {
            const v = x!.data[(o * len + k) * inner + i]!;
            // Strict comparison: ties keep the lower index. NaN wins (as in numpy).
            if ((better(v, best) || Number.isNaN(v)) && !Number.isNaN(best)) {
              best = v;
              at = k;
            }
          }
          out[o * inner + i] = at;
        }
      return new NDArray(
        "i32",
        x!.shape.filter((_, i) => i !== axis),
        out,
      );
    },
    jvp: () => null,
    vjp: () => [null],
  };
}

const cumsum: PrimitiveDef<"cumsum"> = {
  abstractEval(inputs, { axis }) {
    checkArity("cumsum", inputs, 1);
    const x = inputs[0]!;
    checkAxis("cumsum", x, axis);
    if (x.dtype === "bool") throw new TypeError("cumsum: bool operand; cast it first");
    return { shape: x.shape, dtype: x.dtype };
  },
  impl([x], { axis, reverse }) {
    const [outer, len, inner] = around(x!.shape, axis);
    const out = allocArray(x!.dtype, x!.size);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        let acc = 0;
        for (let s = 0; s < len; s++) {
          const k = reverse ? len - 1 - s : s;
          const at = (o * len + k) * inner + i;
          acc += x!.data[at]!;
          out[at] = acc;
        }
      }
    return new NDArray(x!.dtype, x!.shape, out);
  },
  jvp: linearJvp("cumsum"),
  vjp(ct, _x, { axis, reverse }) {
    return [bind("cumsum", [ct], { axis, reverse: !reverse })];
  },
};

export const reducePrimitives = {
  reduceSum,
  reduceMax: extremumDef("reduceMax"),
  reduceMin: extremumDef("reduceMin"),
  argmax: argDef("argmax"),
  argmin: argDef("argmin"),
  cumsum,
};
