/**
 * Parameter pytrees to and from safetensors bytes (the format of Hugging Face's
 * `safetensors`): an 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {...} }`,
 * then the tensors' row-major little-endian data, offsets relative to its start.
 * Tensor names are pytree paths (`layers.0.w`, the PyTorch state-dict style); the
 * exact tree structure also goes into `__metadata__` so a round trip rebuilds it.
 * Works on bytes only (no file system): write them with `fs.writeFileSync` in
 * Node, or load a fetched `ArrayBuffer` in the browser.
 */
import { tensor } from "./creation";
import type { DType } from "./dtype";
import { fromHalfBits, toHalfBits } from "./half";
import { flatten, unflatten, type Tree, type TreeDef } from "./pytree";
import { Tensor } from "./tensor";

/** safetensors dtype names of moeforge's dtypes, and their element sizes in bytes. */
const FORMAT: Record<DType, { readonly name: string; readonly bytes: number }> = {
  f64: { name: "F64", bytes: 8 },
  f32: { name: "F32", bytes: 4 },
  f16: { name: "F16", bytes: 2 },
  i32: { name: "I32", bytes: 4 },
  bool: { name: "BOOL", bytes: 1 },
};
const DTYPE_OF_NAME = new Map(Object.entries(FORMAT).map(([d, f]) => [f.name, d as DType]));

/** Where the exact pytree structure is kept in the header's `__metadata__`. */
const TREEDEF_KEY = "moeforge.treedef";
/** Larger headers are refused as corrupt (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

export interface SaveSafetensorsOptions {
  /** Extra string metadata stored in the header's `__metadata__`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The safetensors tensor name of each leaf: its path in the tree, segments joined by ".". */
function leafNames(def: TreeDef): string[] {
  const names: string[] = [];
  const walk = (d: TreeDef, path: string[]): void => {
    if (d.kind === "leaf") names.push(path.join("."));
    else if (d.kind === "array") d.children.forEach((c, i) => walk(c, [...path, String(i)]));
    else if (d.kind === "object") d.children.forEach((c, i) => walk(c, [...path, d.keys[i]!]));
  };
  walk(def, []);
  return names;
}

/**
 * Serialises a pytree of host tensors (a params object) to safetensors bytes.
 *
 * @example
 * import { writeFileSync } from "node:fs";
 * writeFileSync("model.safetensors", saveSafetensors(params)); // params: { layers: [{ w, b }, ...] }
 */
export function saveSafetensors(params: unknown, options: SaveSafetensorsOptions = {}): Uint8Array {
  if (params instanceof Tensor) {
    throw new SafetensorsError(
      "saveSafetensors: expected a pytree of named tensors (an object or array), got a single Tensor; wrap it, e.g. { weight: t }",
    );
  }
  const [leaves, def] = flatten<Tensor>(params, undefined, "saveSafetensors");
  const names = leafNames(def);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new SafetensorsError(`saveSafetensors: two tensors would both be named "${name}" (keys containing "."?)`);
    }
    seen.add(name);
  }
  const values = leaves.map((t, i) => {
    if (t._node.kind !== "concrete") {
      const where = t._node.kind === "device" ? "lives on a device: read it to the host first" : "is being traced";
      throw new SafetensorsError(`saveSafetensors: tensor "${names[i]}" ${where}; only host tensors can be saved`);
    }
    return t.dataSync();
  });
  // Widest elements first, so every tensor starts at a multiple of its element size.
  const order = leaves.map((_, i) => i).sort((a, b) => FORMAT[leaves[b]!.dtype].bytes - FORMAT[leaves[a]!.dtype].bytes);
  const header: Record<string, unknown> = {
    __metadata__: { ...options.metadata, [TREEDEF_KEY]: JSON.stringify(def) },
  };
  let offset = 0;
  for (const i of order) {
    const t = leaves[i]!;
    const size = values[i]!.length * FORMAT[t.dtype].bytes;
    header[names[i]!] = { dtype: FORMAT[t.dtype].name, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // The reference writer pads the header with spaces to a multiple of 8 bytes.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length)
    json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(padded - json.length));
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const i of order) {
    at = writeElements(view, at, leaves[i]!.dtype, values[i]!);
  }
  return out;
}

function writeElements(view: DataView, at: number, dtype: DType, data: ArrayLike<number>): number {
  for (let k = 0; k < data.length; k++) {
    const x = data[k]!;
    if (dtype === "f64") view.setFloat64(at + 8 * k, x, true);
    else if (dtype === "f32") view.setFloat32(at + 4 * k, x, true);
    else if (dtype === "f16") view.setUint16(at + 2 * k, toHalfBits(x), true);
    else if (dtype === "i32") view.setInt32(at + 4 * k, x, true);
    else view.setUint8(at + k, x ? 1 : 0);
  }
  return at + data.length * FORMAT[dtype].bytes;
}

function readElements(
  view: DataView,
  at: number,
  dtype: DType,
  n: number,
): Float64Array | Float32Array | Int32Array | Uint8Array {
  switch (dtype) {
    case "f64":
      return Float64Array.from({ length: n }, (_, k) => view.getFloat64(at + 8 * k, true));
    case "f32":
      return Float32Array.from({ length: n }, (_, k) => view.getFloat32(at + 4 * k, true));
    case "f16":
      return Float32Array.from({ length: n }, (_, k) => fromHalfBits(view.getUint16(at + 2 * k, true)));
    case "i32":
      return Int32Array.from({ length: n }, (_, k) => view.getInt32(at + 4 * k, true));
    case "bool":
      return Uint8Array.from({ length: n }, (_, k) => (view.getUint8(at + k) ? 1 : 0));
  }
}

interface Entry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

function parseEntry(name: string, raw: unknown, dataBytes: number): Entry {
  const bad = (what: string) => new SafetensorsError(`loadSafetensors: tensor "${name}": ${what}`);
  if (raw === null || typeof raw !== "object") throw bad("its header entry is not an object");
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  const d = typeof dtype === "string" ? DTYPE_OF_NAME.get(dtype) : undefined;
  if (d === undefined) {
    throw bad(
      `dtype ${JSON.stringify(dtype)} is not supported; expected one of ${[...DTYPE_OF_NAME.keys()].join(", ")}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    throw bad(`shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  const want = shape.reduce((a: number, b: number) => a * b, 1) * FORMAT[d].bytes;
  if (end - begin !== want) {
    throw bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes; ${d}[${shape.join(",")}] needs ${want}`);
  }
  if (end > dataBytes) throw bad(`data_offsets end ${end} is past the data (${dataBytes} bytes)`);
  return { name, dtype: d, shape: shape as number[], begin, end };
}

/** The reference layout: tensors cover the data section exactly, without holes or overlaps. */
function checkCoverage(entries: readonly Entry[], dataBytes: number): void {
  let at = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (e.begin !== at) {
      throw new SafetensorsError(
        `loadSafetensors: tensor "${e.name}" starts at byte ${e.begin} of the data; expected ${at} (tensors must not overlap or leave gaps)`,
      );
    }
    at = e.end;
  }
  if (at !== dataBytes) {
    throw new SafetensorsError(`loadSafetensors: the tensors cover ${at} bytes of data, the file has ${dataBytes}`);
  }
}

/** Rebuilds nested objects from dotted names; objects keyed exactly 0..n-1 become arrays. */
function treeFromNames(named: ReadonlyMap<string, Tensor>): Tree<Tensor> {
  const root: Record<string, unknown> = {};
  for (const [name, t] of named) {
    const path = name.split(".");
    let node = root;
    path.forEach((seg, i) => {
      const last = i === path.length - 1;
      const existing = node[seg];
      if (last ? existing !== undefined : existing instanceof Tensor) {
        throw new SafetensorsError(
          `loadSafetensors: "${name}" clashes with another tensor name (one is a prefix of the other)`,
        );
      }
      if (last) node[seg] = t;
      else node = (node[seg] ??= {}) as Record<string, unknown>;
    });
  }
  const arrays = (x: unknown): unknown => {
    if (x instanceof Tensor) return x;
    const o = x as Record<string, unknown>;
    const keys = Object.keys(o);
    const isArray = keys.length > 0 && keys.every((k, i) => k === String(i));
    return isArray ? keys.map((k) => arrays(o[k])) : Object.fromEntries(keys.map((k) => [k, arrays(o[k])]));
  };
  return arrays(root) as Tree<Tensor>;
}

/** The structure saved by `saveSafetensors`, when it matches the tensors present. */
function savedTreeDef(metadata: unknown, names: readonly string[]): TreeDef | undefined {
  const text = (metadata as Record<string, unknown> | undefined)?.[TREEDEF_KEY];
  if (typeof text !== "string") return undefined;
  let def: TreeDef;
  try {
    def = JSON.parse(text) as TreeDef;
    const leaves = leafNames(def);
    if (leaves.length !== names.length || !leaves.every((n) => names.includes(n))) return undefined;
  } catch {
    return undefined;
  }
  return def;
}

/**
 * Reads safetensors bytes into a pytree of host tensors: the tree saved by
 * `saveSafetensors`, or for other files nested objects from the dotted names
 * (`layers.0.w` -> `{ layers: [{ w }] }`). F64, F32, F16, I32 and BOOL tensors load.
 *
 * @example
 * const params = loadSafetensors(readFileSync("model.safetensors"));          // Node
 * const params = loadSafetensors(await (await fetch(url)).arrayBuffer());     // browser
 */
export function loadSafetensors<T = Tree<Tensor>>(bytes: Uint8Array | ArrayBuffer): T {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 8) {
    throw new SafetensorsError(`loadSafetensors: ${u8.length} bytes is too short (8-byte header length expected)`);
  }
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const headerBytes = Number(view.getBigUint64(0, true));
  if (headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > u8.length) {
    throw new SafetensorsError(
      `loadSafetensors: header length ${headerBytes} does not fit the ${u8.length}-byte input (not a safetensors file?)`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(u8.subarray(8, 8 + headerBytes)));
  } catch (e) {
    throw new SafetensorsError(`loadSafetensors: the header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new SafetensorsError("loadSafetensors: the header must be a JSON object of tensor entries");
  }
  const dataStart = 8 + headerBytes;
  const dataBytes = u8.length - dataStart;
  const { __metadata__: metadata, ...rest } = header as Record<string, unknown>;
  const entries = Object.entries(rest).map(([name, raw]) => parseEntry(name, raw, dataBytes));
  checkCoverage(entries, dataBytes);
  const named = new Map(
    entries.map((e) => {
      const n = e.shape.reduce((a, b) => a * b, 1);
      return [e.name, tensor(readElements(view, dataStart + e.begin, e.dtype, n), e.shape, e.dtype)] as const;
    }),
  );
  const def = savedTreeDef(metadata, [...named.keys()]);
  if (def === undefined) return treeFromNames(named) as T;
  return unflatten(
    def,
    leafNames(def).map((n) => named.get(n)!),
  ) as T;
}
