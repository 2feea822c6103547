import { CallSite, userCallSite } from "./call_site";
import { NDArray } from "./ndarray";
import { Program, Var, type Aval, type Eqn } from "./program";
import type { PrimitiveTable } from "./primitives/def";
import type { Primitive, PrimParams } from "./primitives/params";
import {
  MAX_I32_ELEMENTS,
  dimEq,
  dimNames,
  dimToString,
  evalDim,
  isDimExpr,
  solveLinear,
  substituteDim,
  type DimExpr,
} from "./dims";
import { ShapeError, isConcrete, shapeToString, type Dim, type DimEnv } from "./shape";
import { Tensor } from "./tensor";

/**
 * Builds one Program while a function is traced. Builders nest: a trace started
 * inside another (grad inside grad, jit inside grad) gets a higher level, and
 * values of outer traces used inside it become captured inputs (closure conversion),
 * so every transform stays a pure Program -> Program function.
 */
export class TraceBuilder {
  readonly inputs: Var[] = [];
  readonly consts = new Map<Var, NDArray>();
  readonly eqns: Eqn[] = [];
  /** Outer tensors this trace closed over, and the input var standing for each. */
  readonly captures: { outer: Tensor; inner: Var }[] = [];
  private readonly captureOf = new Map<Tensor, Var>();
  private readonly constOf = new Map<NDArray, Var>();
  closed = false;

  constructor(readonly level: number) {}

  newVar(aval: Aval): Var {
    return new Var(nextVarId++, aval.shape, aval.dtype);
  }

  addInput(aval: Aval): Tensor {
    const v = this.newVar(aval);
    this.inputs.push(v);
    return Tensor._tracer(this, v);
  }

  /** The var of this trace that stands for `t` (capturing or constant-folding as needed). */
  toVar(t: Tensor): Var {
    const node = t._node;
    if (node.kind === "tracer") {
      if (node.builder === this) return node.v;
      if (node.builder.closed) throw escapedTracerError(node.v);
      let v = this.captureOf.get(t);
      if (!v) {
        v = this.newVar(t);
        this.captureOf.set(t, v);
        this.captures.push({ outer: t, inner: v });
      }
      return v;
    }
    if (node.kind === "device") {
      throw new Error(
        `a ${node.value.backend} device tensor was used inside a trace; pass it as an argument of the traced function (or read it to the host first)`,
      );
    }
    const arr = node.value;
    let v = this.constOf.get(arr);
    if (!v) {
      v = this.newVar(t);
      this.constOf.set(arr, v);
      this.consts.set(v, arr);
    }
    return v;
  }

  /** Closes the trace: explicit inputs first, then one input per captured outer value. */
  finish(outputs: readonly Tensor[]): { program: Program; captures: Tensor[] } {
    const outVars = outputs.map((t) => this.toVar(t));
    this.closed = true;
    const program = new Program(
      [...this.inputs, ...this.captures.map((c) => c.inner)],
      this.consts,
      this.eqns,
      outVars,
    );
    return { program, captures: this.captures.map((c) => c.outer) };
  }
}

let nextVarId = 1;

/**
 * The primitive definitions `bind` applies. dsl/primitives/registry.ts installs them when it loads
 * (the primitives' AD rules call the ops, which call `bind`, so this module cannot import them).
 */
let primitives: PrimitiveTable | undefined;

/** Installs the primitive table (called once, by dsl/primitives/registry.ts). */
export function installPrimitives(table: PrimitiveTable): void {
  primitives = table;
}

function primitiveDef<P extends Primitive>(prim: P): PrimitiveTable[P] {
  if (!primitives) {
    throw new Error(
      `${prim}: no primitive table is installed; import moeforge (index.ts) or its core barrel (core.ts), ` +
        `which load dsl/primitives/registry.ts`,
    );
  }
  return primitives[prim];
}
const traceStack: TraceBuilder[] = [];

/** Runs `body` with a fresh builder on top of the trace stack. */
export function withNewTrace<R>(body: (b: TraceBuilder) => R): R {
  const top = traceStack[traceStack.length - 1];
  const b = new TraceBuilder(top ? top.level + 1 : 1);
  traceStack.push(b);
  try {
    return body(b);
  } finally {
    traceStack.pop();
  }
}

export function currentTrace(): TraceBuilder | undefined {
  return traceStack[traceStack.length - 1];
}

function escapedTracerError(v: Var): Error {
  return new Error(
    `a traced value (${v}: ${v.dtype}${shapeToString(v.shape)}) escaped the function that was traced; ` +
      `return it from that function instead of storing it outside`,
  );
}

/** Adds the user's call site to an error thrown by an op. */
export function withCallSite(e: unknown): never {
  if (e instanceof Error && !(e as { _sited?: boolean })._sited) {
    const site = userCallSite();
    if (site) e.message += `\n    at ${site}`;
    (e as { _sited?: boolean })._sited = true;
  }
  throw e;
}

/** Runs `body` (an op or a creation function), adding the user's call site to any error it throws. */
export function atCallSite<R>(body: () => R): R {
  try {
    return body();
  } catch (e) {
    return withCallSite(e);
  }
}

/**
 * Applies a primitive: checks shapes, then either computes it now (no trace
 * active: eager mode on the interpreter) or records an equation in the current
 * (innermost) trace.
 */
export function bind<P extends Primitive>(prim: P, inputs: readonly Tensor[], params: PrimParams[P]): Tensor {
  const def = primitiveDef(prim);
  if (substitutions.length) inputs = inputs.map(substitute);
  let target: TraceBuilder | undefined;
  for (const t of inputs) {
    const n = t._node;
    if (n.kind === "tracer") {
      if (n.builder.closed) throw escapedTracerError(n.v);
      if (!target || n.builder.level > target.level) target = n.builder;
    }
  }
  let out: Aval;
  try {
    out = def.abstractEval(inputs, params);
  } catch (e) {
    withCallSite(e);
  }
  // Every op inside a trace is recorded in the current (innermost) trace, like JAX's
  // omnistaging. Ops on constants keep a program's structure (a broadcast of a scalar
  // stays one equation, not a materialised constant; folding is the compiler's job), and
  // ops on values of enclosing traces make those values captures of the current trace,
  // so a nested function's program lists exactly the outer values it closes over
  // (customVjp's rules rely on this to see the closure's current values).
  target = currentTrace() ?? target;
  if (!target && !isConcrete(out.shape)) {
    throw new ShapeError(`${prim}: named dims ${shapeToString(out.shape)} can only be used while tracing`);
  }
  if (!target) {
    const device = inputs.find((t) => t._node.kind === "device");
    if (device && device._node.kind === "device") {
      const handler = deviceEagerHandlers.get(device._node.value.backend);
      if (!handler)
        throw new Error(`${prim}: no eager handler is registered for backend "${device._node.value.backend}"`);
      return handler(prim, inputs, params, out);
    }
    try {
      return Tensor._concrete(
        def.impl(
          inputs.map((t) => t._value()),
          params,
        ),
      );
    } catch (e) {
      withCallSite(e);
    }
  }
  const v = target.newVar(out);
  target.eqns.push({ prim, inputs: inputs.map((t) => target!.toVar(t)), params, out: v, site: new CallSite() } as Eqn);
  return Tensor._tracer(target, v);
}

/** Runs one primitive eagerly on a device backend (device-resident inputs in, device tensor out). */
export type DeviceEagerHandler = <P extends Primitive>(
  prim: P,
  inputs: readonly Tensor[],
  params: PrimParams[P],
  out: Aval,
) => Tensor;

const deviceEagerHandlers = new Map<string, DeviceEagerHandler>();

/**
 * Lets a device backend run eager ops on its tensors (e.g. `a.add(b)` on two
 * WebGPU tensors compiles and launches that op on the GPU, cached per signature).
 */
export function registerDeviceEagerHandler(backend: string, handler: DeviceEagerHandler): void {
  deviceEagerHandlers.set(backend, handler);
}

/** Stack of replacements for tensors of finished traces (innermost last). */
const substitutions: ReadonlyMap<Tensor, Tensor>[] = [];

function substitute(t: Tensor): Tensor {
  for (let i = substitutions.length - 1; i >= 0; i--) {
    const r = substitutions[i]!.get(t);
    if (r) return r;
  }
  return t;
}

/**
 * Runs `body` with every op treating the keys of `map` as their values.
 * A user closure (a customVjp's fwd/bwd) may hold tracers of a trace that has
 * since finished; when its rule runs again inside a transformed program, the
 * closed-over tensors must stand for their current values in that program.
 */
export function withSubstitutions<R>(map: ReadonlyMap<Tensor, Tensor>, body: () => R): R {
  substitutions.push(map);
  try {
    return body();
  } finally {
    substitutions.pop();
  }
}

/** Traces `fn` over fresh inputs with the given avals. */
export function traceFlat(
  fn: (...inputs: Tensor[]) => readonly Tensor[],
  avals: readonly Aval[],
): { program: Program; captures: Tensor[] } {
  // Only shapes and dtypes go into the closure: every equation keeps its call-site stack (CallSite),
  // whose frames keep their closures' variables alive, so closing over the arguments (often tensors
  // with data) would keep them alive as long as the program (a jit caches one per shape).
  const abstract: Aval[] = avals.map((a) => ({ shape: a.shape, dtype: a.dtype }));
  return withNewTrace((b) => {
    const ins = abstract.map((a) => b.addInput(a));
    const outs = fn(...ins);
    return b.finish(outs);
  });
}

/**
 * Binds the named dims of `program`'s inputs to the sizes of actual arguments:
 * plain names first, then names that only occur in expressions (`T*2` bound
 * to 8 gives T = 4, when the expression is linear in its one unbound name).
 * Checks that every input dim, expressions included, has the bound size, that
 * each name has one size, and the facts shape rules rely on (named dims >= 1).
 */
export function bindDims(program: Program, args: readonly Aval[], what = "program"): Map<string, number> {
  if (args.length !== program.inputs.length) {
    throw new Error(`${what}: expected ${program.inputs.length} inputs, got ${args.length}`);
  }
  const env = new Map<string, number>();
  const origin = new Map<string, string>();
  const pending: { d: Dim; actual: number; where: string }[] = [];
  program.inputs.forEach((v, i) => {
    const a = args[i]!;
    if (a.dtype !== v.dtype) throw new TypeError(`${what}: input ${i} has dtype ${a.dtype}, expected ${v.dtype}`);
    if (a.shape.length !== v.shape.length) {
      throw new ShapeError(
        `${what}: input ${i} has shape ${shapeToString(a.shape)}, expected rank ${v.shape.length} ${shapeToString(v.shape)}`,
      );
    }
    v.shape.forEach((d, j) => {
      const actual = a.shape[j]!;
      const where = `input ${i}, dim ${j}`;
      if (typeof actual !== "number") {
        if (!dimEq(actual, d))
          throw new ShapeError(
            `${what}: input ${i} has dim ${dimToString(actual)} where ${dimToString(d)} is expected`,
          );
      } else if (typeof d === "number") {
        if (actual !== d)
          throw new ShapeError(
            `${what}: input ${i} has shape ${shapeToString(a.shape)}, expected ${shapeToString(v.shape)}`,
          );
      } else if (typeof d === "string") bindName(env, origin, d, actual, where, what, program);
      else pending.push({ d, actual, where });
    });
  });
  // Names that only occur inside expressions: solve linear ones until nothing changes.
  for (let progress = true; progress;) {
    progress = false;
    for (const p of pending) {
      const solved = solveLinear(p.d, p.actual, env);
      if (!solved) continue;
      if (!Number.isInteger(solved.value))
        throw new ShapeError(
          `${what}: ${p.where} has size ${p.actual}, but ${dimToString(p.d)} cannot equal ${p.actual} for an integer ${solved.name}`,
        );
      bindName(env, origin, solved.name, solved.value, p.where, what, program);
      progress = true;
    }
  }
  for (const p of pending) {
    const unbound = dimNames(p.d).filter((n) => !env.has(n));
    if (unbound.length)
      throw new ShapeError(
        `${what}: cannot bind named dim "${unbound[0]}" from ${p.where} (${dimToString(p.d)} = ${p.actual}); pass an ` +
          `input whose dim is "${unbound[0]}" itself`,
      );
    const value = evalDim(p.d, env);
    if (value !== p.actual)
      throw new ShapeError(
        `${what}: ${p.where} has size ${p.actual}, expected ${dimToString(p.d)} = ${value} (${bindingText(env, p.d)})`,
      );
  }
  return env;
}

function bindName(
  env: Map<string, number>,
  origin: Map<string, string>,
  name: string,
  size: number,
  where: string,
  what: string,
  program: Program,
): void {
  const prev = env.get(name);
  if (prev !== undefined && prev !== size) {
    const first = origin.get(name)!;
    throw new ShapeError(
      `${what}: named dim "${name}" is bound to ${prev} (${first}) and to ${size} (${where}); a named dim must have ` +
        `one size (${readers(program, first)}; ${readers(program, where)})`,
    );
  }
  if (size < 1)
    throw new ShapeError(
      `${what}: named dim "${name}" is bound to ${size} (${where}); it violates ${name} >= 1, which every named dim ` +
        `satisfies and the program was traced for (${readers(program, where)}); trace with a concrete size for empty inputs`,
    );
  if (prev === undefined) {
    env.set(name, size);
    origin.set(name, where);
  }
}

/** "input 1 is read by matmul, add": the ops that read the input a `where` ("input 1, dim 0") names. */
function readers(program: Program, where: string): string {
  const i = Number(/^input (\d+)/.exec(where)?.[1]);
  const v = program.inputs[i];
  const ops = [...new Set(program.eqns.filter((e) => v && e.inputs.includes(v)).map((e) => e.prim))];
  const used = ops.length
    ? `read by ${ops.join(", ")}`
    : program.outputs.includes(v!)
      ? "returned as an output"
      : "unused";
  return `input ${i} is ${used}`;
}

const bindingText = (env: DimEnv, d: Dim): string =>
  dimNames(d)
    .map((n) => `${n} = ${env.get(n)}`)
    .join(", ");

/**
 * The interpreter's bind-time size check: an equation whose output would pass
 * MAX_I32_ELEMENTS at the bound dims fails before anything is computed, naming
 * the op, its shape expression and the dims (as the compiled targets do from
 * their bundle's size limits), instead of an allocation failing midway.
 */
function checkBoundSizes(program: Program, env: DimEnv): void {
  for (const e of program.eqns) {
    if (isConcrete(e.out.shape)) continue;
    const n = e.out.shape.reduce<number>((acc, d) => acc * evalDim(d, env), 1);
    if (n > MAX_I32_ELEMENTS)
      throw new RangeError(
        `interpreter: with ${bindingText(env, numelOf(e.out.shape))}, the output of ${e.prim} (${e.out}: ` +
          `${e.out.dtype}${shapeToString(e.out.shape)}) has ${n} elements, more than the 2^31 - 1 every target ` +
          `addresses; use smaller dims or split the computation`,
      );
  }
}

const numelOf = (shape: readonly Dim[]): DimExpr => ({ op: "mul", args: [1, ...shape] });

/** Replaces named dims in a primitive's params (dims and arrays of dims; `dtype` is the one string param) by their sizes. */
function resolveParams<P>(params: P, env: DimEnv): P {
  if (env.size === 0) return params;
  const bound = new Map<string, Dim>(env);
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
    const symbolic = (d: unknown) => (typeof d === "string" && env.has(d)) || isDimExpr(d);
    if (Array.isArray(v) && v.some(symbolic)) {
      out[k] = v.map((d: unknown) => (symbolic(d) ? substituteDim(d as Dim, bound) : d));
      changed = true;
    } else if (k !== "dtype" && symbolic(v)) {
      out[k] = substituteDim(v as Dim, bound); // a scalar dim param (bincount's length)
      changed = true;
    } else out[k] = v;
  }
  return changed ? (out as P) : params;
}

/**
 * Evaluates a Program by binding each equation: concrete arguments compute on
 * the interpreter, traced arguments inline the program into the current trace.
 */
export function evalProgram(
  program: Program,
  args: readonly Tensor[],
  /** Called after each equation with its inputs and output (checked numerics stops at a culprit by throwing). */
  observe?: (eqn: Eqn, index: number, inputs: readonly Tensor[], out: Tensor) => void,
): Tensor[] {
  const env = bindDims(program, args);
  if (env.size) checkBoundSizes(program, env);
  const vals = new Map<Var, Tensor>();
  program.inputs.forEach((v, i) => vals.set(v, args[i]!));
  for (const [v, arr] of program.consts) vals.set(v, Tensor._concrete(arr));
  for (const [i, e] of program.eqns.entries()) {
    const ins = e.inputs.map((v) => vals.get(v)!);
    const out = bind(e.prim, ins, resolveParams(e.params, env));
    observe?.(e, i, ins, out);
    vals.set(e.out, out);
  }
  return program.outputs.map((v) => vals.get(v)!);
}
