import { NDArray } from "../ndarray";
import { allocArray } from "../dtype";
import type { Aval } from "../program";
import { ShapeError, numel, shapeToString, type Dim } from "../shape";
import { dimBounds, dimToString, isDim, provablyGe, requireConcrete } from "../dims";
import * as ops from "../ops";
import { bind } from "../trace";
import { checkArity, type PrimitiveDef } from "./def";
import { linearJvp } from "./linear";

function checkIndexDType(op: string, idx: Aval): void {
  if (idx.dtype !== "i32") throw new TypeError(`${op}: indices have dtype ${idx.dtype}, expected i32`);
}

function checkAxis(op: string, x: Aval, axis: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${shapeToString(x.shape)}`);
  }
}

function checkIndex(op: string, i: number, size: number, axis: number): number {
  if (i < 0 || i >= size)
    throw new RangeError(
      `${op}: index ${i} is out of range for axis ${axis} of size ${size}; expected 0 <= index < ${size}`,
    );
  return i;
}

/** numpy take: out = x[..., idx[...], ...] along axis. */
function takeShape(x: readonly Dim[], idx: readonly Dim[], axis: number): Dim[] {
  return [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)];
}

const take: PrimitiveDef<"take"> = {
  abstractEval(inputs, { axis }) {
    checkArity("take", inputs, 2);
    const [x, idx] = inputs as [Aval, Aval];
    checkAxis("take", x, axis);
    checkIndexDType("take", idx);
    return { shape: takeShape(x.shape, idx.shape, axis), dtype: x.dtype };
  },
  impl([x, idx], { axis }) {
    const outer = numel(x!.shape.slice(0, axis));
    const len = x!.shape[axis]!;
    const inner = numel(x!.shape.slice(axis + 1));
    const n = idx!.size;
    const out = allocArray(x!.dtype, outer * n * inner);
    for (let j = 0; j < n; j++) checkIndex("take", idx!.data[j]!, len, axis);
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < n; j++) {
        const src = (o * len + idx!.data[j]!) * inner;
        out.set(x!.data.subarray(src, src + inner), (o * n + j) * inner);
      }
    return new NDArray(x!.dtype, takeShape(x!.shape, idx!.shape, axis) as number[], out);
  },
  jvp: linearJvp("take", [1]),
  vjp(ct, [x, idx], { axis }) {
    return [bind("scatterAdd", [ops.zerosLike(x!), idx!, ct], { axis }), null];
  },
};

const scatterAdd: PrimitiveDef<"scatterAdd"> = {
  abstractEval(inputs, { axis }) {
    checkArity("scatterAdd", inputs, 3);
    const [x, idx, upd] = inputs as [Aval, Aval, Aval];
    checkAxis("scatterAdd", x, axis);
    checkIndexDType("scatterAdd", idx);
    const want = takeShape(x.shape, idx.shape, axis);
    if (upd.shape.length !== want.length || upd.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(
        `scatterAdd: updates have shape ${shapeToString(upd.shape)}, expected ${shapeToString(want)} (operand ` +
          `${shapeToString(x.shape)}, indices ${shapeToString(idx.shape)}, axis ${axis})`,
      );
    }
    if (upd.dtype !== x.dtype)
      throw new TypeError(`scatterAdd: updates dtype ${upd.dtype} differs from operand dtype ${x.dtype}`);
    return { shape: x.shape, dtype: x.dtype };
  },
  impl([x, idx, upd], { axis }) {
    const outer = numel(x!.shape.slice(0, axis));
    const len = x!.shape[axis]!;
    const inner = numel(x!.shape.slice(axis + 1));
    const n = idx!.size;
    const out = allocArray(x!.dtype, x!.size);
    out.set(x!.data);
    for (let j = 0; j < n; j++) checkIndex("scatterAdd", idx!.data[j]!, len, axis);
    // Sequential accumulation in index order: deterministic.
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < n; j++) {
        const dst = (o * len + idx!.data[j]!) * inner;
        const src = (o * n + j) * inner;
        for (let i = 0; i < inner; i++) out[dst + i]! += upd!.data[src + i]!;
      }
    return new NDArray(x!.dtype, x!.shape, out);
  },
  jvp: linearJvp("scatterAdd", [1]),
  vjp(ct, [, idx], { axis }) {
    return [ct, null, bind("take", [ct, idx!], { axis })];
  },
};

/** gather (take_along_axis) and its transpose share index iteration. */
function alongAxisOffsets(
  shape: readonly number[],
  axis: number,
  len: number,
  idxData: ArrayLike<number>,
  op: string,
): Int32Array {
  const outer = numel(shape.slice(0, axis));
  const k = shape[axis]!;
  const inner = numel(shape.slice(axis + 1));
  const offs = new Int32Array(outer * k * inner);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < k; j++)
      for (let i = 0; i < inner; i++) {
        const at = (o * k + j) * inner + i;
        offs[at] = (o * len + checkIndex(op, idxData[at]!, len, axis)) * inner + i;
      }
  return offs;
}

function checkAlong(op: string, x: Aval, idx: Aval, axis: number): void {
  checkAxis(op, x, axis);
  checkIndexDType(op, idx);
  const ok = idx.shape.length === x.shape.length && idx.shape.every((d, i) => i === axis || d === x.shape[i]);
  if (!ok)
    throw new ShapeError(
      `${op}: indices ${shapeToString(idx.shape)} must match operand ${shapeToString(x.shape)} on every dim but axis ${axis}`,
    );
}

const gather: PrimitiveDef<"gather"> = {
  abstractEval(inputs, { axis }) {
    checkArity("gather", inputs, 2);
    const [x, idx] = inputs as [Aval, Aval];
    checkAlong("gather", x, idx, axis);
    return { shape: idx.shape, dtype: x.dtype };
  },
  impl([x, idx], { axis }) {
    const offs = alongAxisOffsets(idx!.shape, axis, x!.shape[axis]!, idx!.data, "gather");
    const out = allocArray(x!.dtype, offs.length);
    for (let i = 0; i < offs.length; i++) out[i] = x!.data[offs[i]!]!;
    return new NDArray(x!.dtype, idx!.shape, out);
  },
  jvp: linearJvp("gather", [1]),
  vjp(ct, [x, idx], { axis }) {
    return [bind("scatterAddAlong", [ops.zerosLike(x!), idx!, ct], { axis }), null];
  },
};

const scatterAddAlong: PrimitiveDef<"scatterAddAlong"> = {
  abstractEval(inputs, { axis }) {
    checkArity("scatterAddAlong", inputs, 3);
    const [x, idx, upd] = inputs as [Aval, Aval, Aval];
    checkAlong("scatterAddAlong", x, idx, axis);
    if (upd.shape.length !== idx.shape.length || upd.shape.some((d, i) => d !== idx.shape[i])) {
      throw new ShapeError(
        `scatterAddAlong: updates ${shapeToString(upd.shape)} must have the indices' shape ${shapeToString(idx.shape)}`,
      );
    }
    if (upd.dtype !== x.dtype)
      throw new TypeError(`scatterAddAlong: updates dtype ${upd.dtype} differs from operand dtype ${x.dtype}`);
    return { shape: x.shape, dtype: x.dtype };
  },
  impl([x, idx, upd], { axis }) {
    const offs = alongAxisOffsets(idx!.shape, axis, x!.shape[axis]!, idx!.data, "scatterAddAlong");
    const out = allocArray(x!.dtype, x!.size);
    out.set(x!.data);
    for (let i = 0; i < offs.length; i++) out[offs[i]!]! += upd!.data[i]!;
    return new NDArray(x!.dtype, x!.shape, out);
  },
  jvp: linearJvp("scatterAddAlong", [1]),
  vjp(ct, [, idx], { axis }) {
    return [ct, null, bind("gather", [ct, idx!], { axis })];
  },
};

/**
 * Row-wise order along the last axis, stable (ties keep the lower index first).
 * NaN ranks as the largest value, as in `max`/`argmax` (and torch.topk, XLA):
 * first when descending (so topK never drops a NaN), last when ascending (numpy, JAX).
 */
function sortedOrder(row: ArrayLike<number>, descending: boolean): number[] {
  const order = Array.from({ length: row.length }, (_, i) => i);
  const sign = descending ? -1 : 1;
  order.sort((i, j) => {
    const a = row[i]!;
    const b = row[j]!;
    const nanA = Number.isNaN(a);
    const nanB = Number.isNaN(b);
    if (nanA || nanB) return nanA && nanB ? i - j : nanA ? sign : -sign;
    if (a !== b) return sign * (a - b);
    return i - j;
  });
  return order;
}

const topKIndices: PrimitiveDef<"topKIndices"> = {
  abstractEval(inputs, { k }) {
    checkArity("topK", inputs, 1);
    const x = inputs[0]!;
    if (x.shape.length === 0) throw new ShapeError("topK: operand must have rank >= 1");
    const n = x.shape[x.shape.length - 1]!;
    requireConcrete(k, "topK", "k sizes the output and each row's selection loop");
    if (!Number.isInteger(k) || k < 1 || (typeof n === "number" && k > n)) {
      throw new RangeError(
        `topK: k = ${k} is out of range for the last axis of size ${n} (shape ${shapeToString(x.shape)}); expected 1 <= k <= ${n}`,
      );
    }
    if (typeof n !== "number" && !provablyGe(n, k))
      throw new RangeError(
        `topK: k = ${k} may exceed the last axis ${dimToString(n)} (shape ${shapeToString(x.shape)}): named dims are ` +
          `only known to be >= 1, so ${dimToString(n)} >= ${k} does not hold for every binding; take k <= ` +
          `${dimBounds(n).lo}, or sort the axis (argsort) and slice`,
      );
    return { shape: [...x.shape.slice(0, -1), k], dtype: "i32" };
  },
  impl([x], { k }) {
    const n = x!.shape[x!.shape.length - 1]!;
    const rows = x!.size / n;
    const out = new Int32Array(rows * k);
    for (let r = 0; r < rows; r++) {
      const order = sortedOrder(x!.data.subarray(r * n, (r + 1) * n), true);
      for (let j = 0; j < k; j++) out[r * k + j] = order[j]!;
    }
    return new NDArray("i32", [...x!.shape.slice(0, -1), k], out);
  },
  jvp: () => null,
  vjp: () => [null],
};

const argsort: PrimitiveDef<"argsort"> = {
  abstractEval(inputs) {
    checkArity("argsort", inputs, 1);
    const x = inputs[0]!;
    if (x.shape.length === 0) throw new ShapeError("argsort: operand must have rank >= 1");
    return { shape: x.shape, dtype: "i32" };
  },
  impl([x], { descending }) {
    const n = x!.shape[x!.shape.length - 1]!;
    const rows = n === 0 ? 0 : x!.size / n;
    const out = new Int32Array(x!.size);
    for (let r = 0; r < rows; r++) out.set(sortedOrder(x!.data.subarray(r * n, (r + 1) * n), descending), r * n);
    return new NDArray("i32", x!.shape, out);
  },
  jvp: () => null,
  vjp: () => [null],
};

const bincount: PrimitiveDef<"bincount"> = {
  abstractEval(inputs, { length }) {
    checkArity("bincount", inputs, 1);
    const x = inputs[0]!;
    checkIndexDType("bincount", x);
    if (x.shape.length !== 1)
      throw new ShapeError(`bincount: expected a 1-D i32 tensor, got shape ${shapeToString(x.shape)}`);
    if (!isDim(length) || !provablyGe(length, 0))
      throw new RangeError(`bincount: length ${String(length)} must be a non-negative integer or a dim`);
    return { shape: [length], dtype: "i32" };
  },
  impl([x], { length }) {
    const n = length as number;
    const out = new Int32Array(n);
    for (let i = 0; i < x!.size; i++) out[checkIndex("bincount", x!.data[i]!, n, 0)]!++;
    return new NDArray("i32", [n], out);
  },
  jvp: () => null,
  vjp: () => [null],
};

export const indexingPrimitives = { take, scatterAdd, gather, scatterAddAlong, topKIndices, argsort, bincount };
