import { NDArray, forEachIndex } from "../ndarray";
import { allocArray } from "../dtype";
import { dimAdd, dimEq, dimSub, dimToString, provablyGe } from "../dims";
import { ShapeError, isConcrete, numel, numelDim, shapeToString, stridesOf, type Dim } from "../shape";
import type { Tensor } from "../tensor";
import { bind } from "../trace";
import { checkArity, type PrimitiveDef } from "./def";
import { linearJvp } from "./linear";

/** Source index map of broadcasting `from` (right-aligned) into `to`. */
function broadcastStrides(from: readonly number[], to: readonly number[]): number[] {
  const st = stridesOf(from);
  const off = to.length - from.length;
  return to.map((d, i) => (i < off || from[i - off] === 1 ? 0 : st[i - off]!));
}

const broadcastTo: PrimitiveDef<"broadcastTo"> = {
  abstractEval(inputs, { shape }) {
    checkArity("broadcastTo", inputs, 1);
    const x = inputs[0]!;
    const off = shape.length - x.shape.length;
    const ok = off >= 0 && x.shape.every((d, i) => d === 1 || dimEq(d, shape[i + off]!));
    if (!ok) {
      throw new ShapeError(
        `broadcastTo: cannot broadcast shape ${shapeToString(x.shape)} to ${shapeToString(shape)}; each dim must equal the target's or be 1`,
      );
    }
    return { shape, dtype: x.dtype };
  },
  impl([x], { shape }) {
    const to = shape as number[];
    const st = broadcastStrides(x!.shape, to);
    const out = allocArray(x!.dtype, numel(to));
    forEachIndex(to, (flat, idx) => {
      let src = 0;
      for (let d = 0; d < idx.length; d++) src += idx[d]! * st[d]!;
      out[flat] = x!.data[src]!;
    });
    return new NDArray(x!.dtype, to, out);
  },
  jvp: linearJvp("broadcastTo"),
  vjp(ct, [x], { shape }) {
    return [unbroadcast(ct, x!.shape, shape)];
  },
};

/** Sums a cotangent of a broadcast result back to the operand's shape. */
export function unbroadcast(ct: Tensor, from: readonly Dim[], to: readonly Dim[]): Tensor {
  const off = to.length - from.length;
  const axes: number[] = [];
  to.forEach((d, i) => {
    if (i < off || (from[i - off] === 1 && d !== 1)) axes.push(i);
  });
  const summed = axes.length ? bind("reduceSum", [ct], { axes }) : ct;
  return bind("reshape", [summed], { shape: from });
}

const reshape: PrimitiveDef<"reshape"> = {
  abstractEval(inputs, { shape }) {
    checkArity("reshape", inputs, 1);
    const x = inputs[0]!;
    const a = numelDim(x.shape);
    const b = numelDim(shape);
    if (!dimEq(a, b)) {
      throw new ShapeError(
        `reshape: cannot reshape ${shapeToString(x.shape)} (${dimToString(a)} elements) to ${shapeToString(shape)} (${dimToString(b)} elements)`,
      );
    }
    return { shape, dtype: x.dtype };
  },
  impl([x], { shape }) {
    return new NDArray(x!.dtype, shape as number[], x!.data);
  },
  jvp: linearJvp("reshape"),
  vjp(ct, [x]) {
    return [bind("reshape", [ct], { shape: x!.shape })];
  },
};

function checkPerm(perm: readonly number[], rank: number): void {
  const ok = perm.length === rank && [...perm].sort((a, b) => a - b).every((p, i) => p === i);
  if (!ok) throw new ShapeError(`transpose: perm [${perm.join(",")}] is not a permutation of [0..${rank - 1}]`);
}

export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

const transpose: PrimitiveDef<"transpose"> = {
  abstractEval(inputs, { perm }) {
    checkArity("transpose", inputs, 1);
    const x = inputs[0]!;
    checkPerm(perm, x.shape.length);
    return { shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
  },
  impl([x], { perm }) {
    const outShape = perm.map((p) => x!.shape[p]!);
    const st = stridesOf(x!.shape);
    const srcStrides = perm.map((p) => st[p]!);
    const out = allocArray(x!.dtype, x!.size);
    forEachIndex(outShape, (flat, idx) => {
      let src = 0;
      for (let d = 0; d < idx.length; d++) src += idx[d]! * srcStrides[d]!;
      out[flat] = x!.data[src]!;
    });
    return new NDArray(x!.dtype, outShape, out);
  },
  jvp: linearJvp("transpose"),
  vjp(ct, _x, { perm }) {
    return [bind("transpose", [ct], { perm: inversePerm(perm) })];
  },
};

const slice: PrimitiveDef<"slice"> = {
  abstractEval(inputs, { starts, limits }) {
    checkArity("slice", inputs, 1);
    const x = inputs[0]!;
    const r = x.shape.length;
    if (starts.length !== r || limits.length !== r) {
      throw new ShapeError(
        `slice: starts [${starts}] and limits [${limits}] must have one entry per dim of ${shapeToString(x.shape)}`,
      );
    }
    const shape = x.shape.map((d, i) => {
      const s = starts[i]!;
      const l = limits[i]!;
      // Symbolic bounds must hold for every binding (named dims >= 1), or the slice is rejected here.
      if (!(provablyGe(s, 0) && provablyGe(l, s) && provablyGe(d, l)))
        throw new ShapeError(
          `slice: range [${dimToString(s)}, ${dimToString(l)}) is out of bounds for dim ${i} of size ${dimToString(d)} in ${shapeToString(x.shape)}` +
            (isConcrete([s, l, d]) ? "" : "; with named dims the bounds must hold for every size >= 1"),
        );
      return dimSub(l, s);
    });
    return { shape, dtype: x.dtype };
  },
  impl([x], { starts, limits }) {
    const outShape = (limits as number[]).map((l, i) => l - (starts[i] as number));
    const st = stridesOf(x!.shape);
    const base = (starts as number[]).reduce((acc, s, i) => acc + s * st[i]!, 0);
    const out = allocArray(x!.dtype, numel(outShape));
    forEachIndex(outShape, (flat, idx) => {
      let src = base;
      for (let d = 0; d < idx.length; d++) src += idx[d]! * st[d]!;
      out[flat] = x!.data[src]!;
    });
    return new NDArray(x!.dtype, outShape, out);
  },
  jvp: linearJvp("slice"),
  vjp(ct, [x], { starts, limits }) {
    const hi = x!.shape.map((d, i) => dimSub(d, limits[i]!));
    return [bind("pad", [ct], { lo: starts, hi })];
  },
};

const pad: PrimitiveDef<"pad"> = {
  abstractEval(inputs, { lo, hi }) {
    checkArity("pad", inputs, 1);
    const x = inputs[0]!;
    if (lo.length !== x.shape.length || hi.length !== x.shape.length || [...lo, ...hi].some((p) => !provablyGe(p, 0))) {
      throw new ShapeError(
        `pad: lo [${lo}] and hi [${hi}] must be non-negative integers, one per dim of ${shapeToString(x.shape)}`,
      );
    }
    const shape = x.shape.map((d, i) => dimAdd(d, lo[i]!, hi[i]!));
    return { shape, dtype: x.dtype };
  },
  impl([x], { lo, hi }) {
    const [l, h] = [lo as number[], hi as number[]];
    const outShape = x!.shape.map((d, i) => d + l[i]! + h[i]!);
    const ost = stridesOf(outShape);
    const out = allocArray(x!.dtype, numel(outShape));
    forEachIndex(x!.shape, (flat, idx) => {
      let dst = 0;
      for (let d = 0; d < idx.length; d++) dst += (idx[d]! + l[d]!) * ost[d]!;
      out[dst] = x!.data[flat]!;
    });
    return new NDArray(x!.dtype, outShape, out);
  },
  jvp: linearJvp("pad"),
  vjp(ct, [x], { lo }) {
    const limits = x!.shape.map((d, i) => dimAdd(d, lo[i]!));
    return [bind("slice", [ct], { starts: lo, limits })];
  },
};

const concat: PrimitiveDef<"concat"> = {
  abstractEval(inputs, { axis }) {
    if (inputs.length === 0) throw new ShapeError("concat: needs at least one operand");
    const first = inputs[0]!;
    let total: Dim = 0;
    for (const x of inputs) {
      if (x.dtype !== first.dtype)
        throw new TypeError(`concat: dtypes ${inputs.map((i) => i.dtype).join(", ")} differ`);
      const ok =
        x.shape.length === first.shape.length && x.shape.every((d, i) => i === axis || dimEq(d, first.shape[i]!));
      if (!ok)
        throw new ShapeError(
          `concat: shapes ${inputs.map((i) => shapeToString(i.shape)).join(", ")} differ outside axis ${axis}`,
        );
      total = dimAdd(total, x.shape[axis]!);
    }
    return { shape: first.shape.map((d, i) => (i === axis ? total : d)), dtype: first.dtype };
  },
  impl(inputs, { axis }) {
    const first = inputs[0]!;
    const outShape = first.shape.map((d, i) => (i === axis ? inputs.reduce((s, x) => s + x.shape[axis]!, 0) : d));
    const out = allocArray(first.dtype, numel(outShape));
    const outer = numel(outShape.slice(0, axis));
    const inner = numel(outShape.slice(axis + 1));
    const rowOut = outShape[axis]! * inner;
    let offset = 0;
    for (const x of inputs) {
      const row = x.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) out.set(x.data.subarray(o * row, (o + 1) * row), o * rowOut + offset);
      offset += row;
    }
    return new NDArray(first.dtype, outShape, out);
  },
  jvp: linearJvp("concat"),
  vjp(ct, xs, { axis }) {
    let start: Dim = 0;
    return xs.map((x) => {
      const size = x.shape[axis]!;
      const starts = ct.shape.map((_, i) => (i === axis ? start : 0));
      const limits = ct.shape.map((d, i) => (i === axis ? dimAdd(start, size) : d));
      start = dimAdd(start, size);
      return bind("slice", [ct], { starts, limits });
    });
  },
};

const iota: PrimitiveDef<"iota"> = {
  abstractEval(inputs, { shape, axis, dtype }) {
    checkArity("iota", inputs, 0);
    if (axis < 0 || axis >= shape.length)
      throw new ShapeError(`iota: axis ${axis} out of range for shape ${shapeToString(shape)}`);
    return { shape, dtype };
  },
  impl(_in, { shape, axis, dtype }) {
    if (!isConcrete(shape)) throw new ShapeError(`iota: unbound named dims in ${shapeToString(shape)}`);
    const out = allocArray(dtype, numel(shape));
    forEachIndex(shape, (flat, idx) => (out[flat] = idx[axis]!));
    return new NDArray(dtype, shape, out);
  },
  jvp: () => null,
  vjp: () => [],
};

export const shapePrimitives = { broadcastTo, reshape, transpose, slice, pad, concat, iota };
