/**
 * Algebraic simplification: rewrites that remove work without changing any
 * value the interpreter computes (up to the sign of zero):
 * x*1, 1*x, x+0, 0+x, x-0, x/1 -> x; neg(neg x) -> x; not(not b) -> b;
 * reshape/broadcast to the same shape -> x; reshape of reshape -> one reshape;
 * broadcast of broadcast -> one broadcast; transpose of transpose -> one
 * transpose (or none); stopGradient -> x (kernels have no gradients);
 * select(c, x, x) -> x; full slices, zero pads, one-operand concats and
 * reductions over size-1 axes -> x or a reshape.
 */
import type { Eqn, Program, Var } from "../../dsl/program";
import { sameShape } from "../../dsl/shape";
import { ProgramRewriter } from "./rewrite";
import { UniformConstants } from "./scalars";

type Rewrite = { kind: "var"; v: Var } | { kind: "eqn"; prim: Eqn["prim"]; inputs: Var[]; params: unknown } | undefined;

/** The rewrite of one equation (inputs already substituted), or undefined to keep it. */
function rewrite(e: Eqn, producer: (v: Var) => Eqn | undefined, uniform: UniformConstants): Rewrite {
  const [a, b] = e.inputs;
  const same = (x: Var | undefined): Rewrite =>
    x && sameShape(x.shape, e.out.shape) && x.dtype === e.out.dtype ? { kind: "var", v: x } : undefined;
  const is = (x: Var | undefined, n: number) => x !== undefined && uniform.value(x) === n;
  switch (e.prim) {
    case "mul":
      return is(b, 1) ? same(a) : is(a, 1) ? same(b) : undefined;
    case "add":
      return is(b, 0) ? same(a) : is(a, 0) ? same(b) : undefined;
    case "sub":
      return is(b, 0) ? same(a) : undefined;
    case "div":
      return is(b, 1) && e.out.dtype !== "i32" ? same(a) : undefined;
    case "neg":
    case "logicalNot": {
      const p = producer(a!);
      return p?.prim === e.prim ? same(p.inputs[0]) : undefined;
    }
    case "stopGradient":
      return same(a);
    case "select":
      return e.inputs[1] === e.inputs[2] ? same(e.inputs[1]) : undefined;
    case "cast":
      return same(a);
    case "reshape": {
      if (sameShape(a!.shape, e.out.shape)) return same(a);
      const p = producer(a!);
      if (p?.prim === "reshape") {
        const x = p.inputs[0]!;
        return sameShape(x.shape, e.out.shape)
          ? same(x)
          : { kind: "eqn", prim: "reshape", inputs: [x], params: e.params };
      }
      return undefined;
    }
    case "broadcastTo": {
      if (sameShape(a!.shape, e.out.shape)) return same(a);
      const p = producer(a!);
      if (p?.prim === "broadcastTo")
        return { kind: "eqn", prim: "broadcastTo", inputs: [p.inputs[0]!], params: e.params };
      return undefined;
    }
    case "transpose": {
      const perm = (e as Eqn<"transpose">).params.perm;
      if (perm.every((p, i) => p === i)) return same(a);
      const p = producer(a!);
      if (p?.prim === "transpose") {
        const inner = (p as Eqn<"transpose">).params.perm;
        const composed = perm.map((k) => inner[k]!);
        const x = p.inputs[0]!;
        return composed.every((q, i) => q === i)
          ? same(x)
          : { kind: "eqn", prim: "transpose", inputs: [x], params: { perm: composed } };
      }
      return undefined;
    }
    case "slice":
      return sameShape(a!.shape, e.out.shape) ? same(a) : undefined;
    case "pad": {
      const { lo, hi } = (e as Eqn<"pad">).params;
      return lo.every((x) => x === 0) && hi.every((x) => x === 0) ? same(a) : undefined;
    }
    case "concat":
      return e.inputs.length === 1 ? same(a) : undefined;
    case "reduceSum": {
      const axes = (e as Eqn<"reduceSum">).params.axes;
      if (axes.length === 0) return same(a);
      return axes.every((ax) => a!.shape[ax] === 1)
        ? { kind: "eqn", prim: "reshape", inputs: [a!], params: { shape: e.out.shape } }
        : undefined;
    }
    case "reduceMax":
    case "reduceMin": {
      const axis = (e as Eqn<"reduceMax">).params.axis;
      return a!.shape[axis] === 1
        ? { kind: "eqn", prim: "reshape", inputs: [a!], params: { shape: e.out.shape } }
        : undefined;
    }
    default:
      return undefined;
  }
}

/** Simplifies until nothing changes (at most a few rounds). @example simplify(trace((x) => x.mul(1), spec([3]))).eqns.length // 0 */
export function simplify(program: Program): Program {
  let p = program;
  for (let round = 0; round < 4; round++) {
    const next = simplifyOnce(p);
    if (next === p) return p;
    p = next;
  }
  return p;
}

function simplifyOnce(program: Program): Program {
  const rw = new ProgramRewriter(program);
  const uniform = new UniformConstants(program);
  const producers = new Map<Var, Eqn>();
  let changed = false;
  for (const e0 of program.eqns) {
    const e = { ...e0, inputs: e0.inputs.map((v) => rw.get(v)) } as Eqn;
    const r = rewrite(e, (v) => producers.get(v), uniform);
    if (r?.kind === "var") {
      rw.replace(e0.out, r.v);
      changed = true;
      continue;
    }
    if (r?.kind === "eqn") {
      const out = rw.bind(r.prim, r.inputs, r.params as never);
      producers.set(out, rw.eqns[rw.eqns.length - 1]!);
      rw.replace(e0.out, out);
      changed = true;
      continue;
    }
    rw.keep(e0);
    const kept = rw.eqns[rw.eqns.length - 1]!;
    producers.set(kept.out, kept);
    uniform.see(kept);
  }
  return changed ? rw.finish() : program;
}
