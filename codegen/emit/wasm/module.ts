/**
 * A WebAssembly module builder: function types (deduplicated), imports
 * (functions and one memory), defined functions and exports, encoded as the
 * binary format's sections in their required order.
 */
import { FunctionBody } from "./code";
import { name, uleb, vec } from "./leb128";
import { EXTERNAL, FUNC_TYPE, SECTION, VALTYPE, type ValType } from "./opcodes";

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** Limits of an imported memory, in 64 KiB pages. */
export interface MemoryImport {
  readonly module: string;
  readonly name: string;
  readonly initial: number;
  readonly maximum?: number;
  /** A shared memory (threads); needs `maximum`. */
  readonly shared?: boolean;
}

interface Defined {
  readonly type: number;
  readonly body: FunctionBody;
}

/** The 8-byte header: magic "\0asm" and version 1. */
export const WASM_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly funcImports: { module: string; name: string; type: number }[] = [];
  private memory?: MemoryImport;
  private readonly defined: Defined[] = [];
  private readonly exports: { name: string; func: number }[] = [];

  private typeIndex(t: FuncType): number {
    const i = this.types.findIndex((u) => u.params.join() === t.params.join() && u.results.join() === t.results.join());
    if (i >= 0) return i;
    this.types.push(t);
    return this.types.length - 1;
  }

  /** Imports a function; returns its function index. Import every function before defining any. */
  importFunc(module: string, field: string, type: FuncType): number {
    if (this.defined.length) throw new Error("wasm: import functions before defining functions");
    this.funcImports.push({ module, name: field, type: this.typeIndex(type) });
    return this.funcImports.length - 1;
  }

  importMemory(memory: MemoryImport): void {
    if (memory.shared && memory.maximum === undefined) throw new Error("wasm: a shared memory needs a maximum");
    this.memory = memory;
  }

  /** Defines a function (its body filled in by `build`, now or later); returns its index. */
  func(type: FuncType, build?: (body: FunctionBody) => void): { index: number; body: FunctionBody } {
    const body = new FunctionBody(type.params);
    this.defined.push({ type: this.typeIndex(type), body });
    build?.(body);
    return { index: this.funcImports.length + this.defined.length - 1, body };
  }

  export(field: string, funcIndex: number): void {
    this.exports.push({ name: field, func: funcIndex });
  }

  encode(): Uint8Array<ArrayBuffer> {
    const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
    const out = [...WASM_HEADER];
    const typeEntries = this.types.map((t) => [
      FUNC_TYPE,
      ...vec(t.params.map((p) => [VALTYPE[p]])),
      ...vec(t.results.map((r) => [VALTYPE[r]])),
    ]);
    if (typeEntries.length) out.push(...section(SECTION.type, vec(typeEntries)));
    const imports = this.funcImports.map((f) => [...name(f.module), ...name(f.name), EXTERNAL.func, ...uleb(f.type)]);
    if (this.memory) {
      const m = this.memory;
      const flags = m.shared ? 0x03 : m.maximum !== undefined ? 0x01 : 0x00;
      const limits = [flags, ...uleb(m.initial), ...(m.maximum !== undefined ? uleb(m.maximum) : [])];
      imports.push([...name(m.module), ...name(m.name), EXTERNAL.memory, ...limits]);
    }
    if (imports.length) out.push(...section(SECTION.import, vec(imports)));
    if (this.defined.length) out.push(...section(SECTION.function, vec(this.defined.map((d) => uleb(d.type)))));
    if (this.exports.length)
      out.push(
        ...section(SECTION.export, vec(this.exports.map((e) => [...name(e.name), EXTERNAL.func, ...uleb(e.func)]))),
      );
    if (this.defined.length) out.push(...section(SECTION.code, vec(this.defined.map((d) => d.body.encode()))));
    return new Uint8Array(out);
  }
}
