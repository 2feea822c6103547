/**
 * A small builder for kernel-IR kernels: statement blocks, fresh names, typed
 * `let`s with scoped common-subexpression reuse, buffer params and shared
 * arrays. Lowering code uses it so kernels read like the math they compute.
 */
import {
  walkBodyExprs,
  type Contraction,
  type Expr,
  type Kernel,
  type KernelParam,
  type PanelPack,
  type ScalarType,
  type SharedArray,
  type Stmt,
} from "../kernel_ir";
import { dimNames } from "../../dsl/dims";

/** A `let` is worth making when its value is not already a name or a literal. */
function isTrivial(e: Expr): boolean {
  return e.kind === "const" || e.kind === "var" || e.kind === "size" || e.kind === "builtin";
}

export class KernelBuilder {
  private readonly blocks: Stmt[][] = [[]];
  private readonly caches: Map<string, Expr>[] = [new Map()];
  private readonly used = new Map<string, number>();
  private readonly paramList: KernelParam[] = [];
  private readonly sharedList: SharedArray[] = [];
  /** The GEMM this kernel computes, for targets with their own micro-kernels (Kernel.contraction). */
  contraction?: Contraction;
  /** The panel copy this kernel is, for targets with a vector copy of their own (Kernel.pack). */
  pack?: PanelPack;

  constructor(
    readonly name: string,
    readonly workgroupSize: number,
  ) {}

  /** A fresh identifier starting with `prefix` (prefixes never collide with `v<id>` param names). */
  fresh(prefix: string): string {
    const n = this.used.get(prefix) ?? 0;
    this.used.set(prefix, n + 1);
    return `${prefix}${n}`;
  }

  emit(s: Stmt): void {
    this.blocks[this.blocks.length - 1]!.push(s);
  }

  comment(text: string): void {
    this.emit({ kind: "comment", text });
  }

  /** Binds `init` to a fresh name (or returns it unchanged when already trivial and immutable). */
  let(init: Expr, prefix = "t", type: ScalarType = init.type): Expr {
    if (isTrivial(init) && init.type === type) return init;
    const name = this.fresh(prefix);
    this.emit({ kind: "let", name, type, init });
    return { kind: "var", name, type };
  }

  /** A mutable variable initialised to `init`. */
  mutable(init: Expr, prefix: string, type: ScalarType = init.type): Expr & { kind: "var" } {
    const name = this.fresh(prefix);
    this.emit({ kind: "let", name, type, init, mutable: true });
    return { kind: "var", name, type };
  }

  assign(target: Expr, value: Expr): void {
    if (target.kind !== "var") throw new Error("internal: assign to a non-variable");
    this.emit({ kind: "assign", name: target.name, value });
  }

  store(buffer: string, index: Expr, value: Expr): void {
    this.emit({ kind: "store", buffer, index, value });
  }

  sharedStore(array: string, index: Expr, value: Expr): void {
    this.emit({ kind: "sharedStore", array, index, value });
  }

  atomicAdd(buffer: string, index: Expr, value: Expr): void {
    this.emit({ kind: "atomicAdd", buffer, index, value });
  }

  barrier(): void {
    this.emit({ kind: "barrier" });
  }

  ret(): void {
    this.emit({ kind: "return" });
  }

  /** Runs `body` in a nested block (its cached values stay inside it) and returns the block. */
  block(body: () => void): Stmt[] {
    this.blocks.push([]);
    this.caches.push(new Map());
    try {
      body();
    } finally {
      this.caches.pop();
    }
    return this.blocks.pop()!;
  }

  if(cond: Expr, then: () => void, otherwise?: () => void): void {
    const t = this.block(then);
    const e = otherwise ? this.block(otherwise) : undefined;
    if (t.length === 0 && (!e || e.length === 0)) return;
    this.emit(e && e.length ? { kind: "if", cond, then: t, else: e } : { kind: "if", cond, then: t });
  }

  /** for (let i = start; i < end; i += step) body(i) — `i` is i32. */
  for(start: Expr, end: Expr, body: (i: Expr) => void, prefix = "i", step?: Expr): void {
    const name = this.fresh(prefix);
    const i: Expr = { kind: "var", name, type: "i32" };
    const stmts = this.block(() => body(i));
    this.emit(
      step
        ? { kind: "for", var: name, start, end, step, body: stmts }
        : { kind: "for", var: name, start, end, body: stmts },
    );
  }

  /** The value cached under `key` in this block or an enclosing one, else `make()` (then cached). */
  cached(key: string, make: () => Expr): Expr {
    for (let d = this.caches.length - 1; d >= 0; d--) {
      const hit = this.caches[d]!.get(key);
      if (hit) return hit;
    }
    const e = make();
    this.caches[this.caches.length - 1]!.set(key, e);
    return e;
  }

  /** Declares (once) a buffer param; a later `readWrite` upgrades a `read` one. */
  param(name: string, type: ScalarType, access: KernelParam["access"], atomic = false): string {
    const i = this.paramList.findIndex((p) => p.name === name);
    if (i < 0) this.paramList.push(atomic ? { name, type, access, atomic } : { name, type, access });
    else {
      const p = this.paramList[i]!;
      if ((access === "readWrite" && p.access === "read") || (atomic && !p.atomic)) {
        this.paramList[i] = {
          ...p,
          access: access === "readWrite" ? "readWrite" : p.access,
          ...(atomic || p.atomic ? { atomic: true } : {}),
        };
      }
    }
    return name;
  }

  sharedArray(prefix: string, type: ScalarType, length: number): string {
    const name = this.fresh(prefix);
    this.sharedList.push({ name, type, length });
    return name;
  }

  /** The finished kernel (named dims it reads are collected from the body). */
  build(comment?: string): Kernel {
    if (this.blocks.length !== 1) throw new Error("internal: unbalanced kernel blocks");
    const body = this.blocks[0]!;
    return {
      name: this.name,
      params: [...this.paramList],
      sizes: collectSizes(body, this.contraction),
      shared: [...this.sharedList],
      workgroupSize: this.workgroupSize,
      body,
      ...(comment ? { comment } : {}),
      ...(this.contraction ? { contraction: this.contraction } : {}),
      ...(this.pack ? { pack: this.pack } : {}),
    };
  }
}

/**
 * Named dims an IR body reads, in first-use order, then those only the kernel's
 * contraction description reads (a micro-kernel target takes its sizes from there).
 */
export function collectSizes(body: readonly Stmt[], contraction?: Contraction): string[] {
  const seen = new Set<string>();
  walkBodyExprs(body, (e) => {
    if (e.kind === "size") seen.add(e.name);
  });
  if (contraction) {
    const { rows, cols, depth, groups, aIndex, epilogue } = contraction;
    walkBodyExprs(epilogue?.body ?? [], (e) => {
      if (e.kind === "size") seen.add(e.name);
    });
    for (const d of [rows, cols, depth, ...(groups === undefined ? [] : [groups]), ...(aIndex ? [aIndex.rows] : [])])
      for (const n of dimNames(d)) seen.add(n);
  }
  return [...seen];
}
