/**
 * Memory of the cpu backend: every (bundle, bound dims) pair gets an arena,
 * one block of bytes holding all of the bundle's buffers as typed-array views.
 * Arenas are a cache (a later run with the same dims reuses them), so they are
 * kept in one least-recently-used list under a byte budget: past the budget
 * the oldest arenas are evicted, and their blocks go to an idle list by size
 * class, where the next arena of that class takes them instead of allocating.
 * Idle blocks past the budget are dropped.
 *
 * With worker threads, blocks are SharedArrayBuffers and each launch sends
 * them to the workers. A worker's copy of a buffer keeps its memory alive
 * until that worker's garbage collector runs, which an idle worker never does
 * by itself; so after dropping blocks the cache asks the pool to collect
 * (`onDropped`), and the memory really goes back to the system.
 *
 * Blocks are of one of four kinds: plain or shared ArrayBuffers (JS-target
 * kernels), or plain or shared WebAssembly.Memory (wasm-target kernels, which
 * address the block's bytes by offset); an arena only takes a block of its own
 * kind. Evictions are reported (`onEvicted`) so that the threads can drop what
 * they built over the block (wasm instances bound to the memory).
 */
import { allocArray, type AnyTypedArray } from "../../dsl/dtype";
import type { ScalarType } from "../../codegen/kernel_ir";
import { sizeClass } from "../size_class";

/** What a block is: an ArrayBuffer or a WebAssembly.Memory, shared with worker threads or not. */
export type BlockKind = "array" | "shared" | "wasm" | "wasm-shared";

/** Bytes that arenas are carved from. */
export interface Block {
  readonly kind: BlockKind;
  readonly buffer: ArrayBufferLike;
  /** The memory whose buffer it is (wasm kinds). */
  readonly memory?: WebAssembly.Memory;
  /** Its size class (the block's byteLength). */
  readonly bytes: number;
  /** Unique per block: threads key what they build over it (wasm instances) by it. */
  readonly id: number;
}

/** One buffer of an arena: a name, its element type and length. */
export interface ArenaBuffer {
  readonly name: string;
  readonly type: ScalarType;
  readonly length: number;
  /** Initial values (constants), written when the arena is made. */
  readonly init?: readonly number[];
}

/** The buffers of one bundle at one set of bound dims, as views into one block. */
export interface Arena {
  readonly block: Block;
  readonly views: ReadonlyMap<string, AnyTypedArray>;
  /** Byte offset of each buffer in the block (never 0: wasm kernels take buffers as offsets). */
  readonly offsets: ReadonlyMap<string, number>;
}

/** What the cache holds now (for tests and diagnostics). */
export interface CpuMemoryStats {
  /** Bytes of arenas that are cached (each belongs to a live or recently used bundle). */
  readonly arenaBytes: number;
  readonly arenas: number;
  /** Bytes of blocks kept for reuse by the next arena of their size class. */
  readonly idleBytes: number;
  /** The byte budget for arenaBytes + idleBytes (an arena larger than it is still allocated, alone). */
  readonly budgetBytes: number;
  /** Bytes of blocks ever dropped (returned to the system once no thread holds them). */
  readonly droppedBytes: number;
}

/** Byte offsets are aligned to 64 (a cache line; every typed array's alignment divides it). */
const ALIGN = 64;
/** Smallest block: one page (wasm: one 64 KiB memory page, the unit a WebAssembly.Memory grows by). */
const MIN_BLOCK = 4096;
const WASM_PAGE = 65536;
let nextBlockId = 1;

interface ViewCtor {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): AnyTypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

/** The typed array a buffer of `t` is held in (as `allocFor`: f16 as f32, bool as u8, u32 as i32 bits). */
const ctorOf = (t: ScalarType) => allocArray(t === "u32" ? "i32" : t, 0).constructor as ViewCtor;

function layout(buffers: readonly ArenaBuffer[]): { offsets: number[]; bytes: number } {
  let end = ALIGN; // offset 0 stays unused
  const offsets = buffers.map((b) => {
    const at = end;
    end += Math.ceil((b.length * ctorOf(b.type).BYTES_PER_ELEMENT) / ALIGN) * ALIGN;
    return at;
  });
  return { offsets, bytes: end };
}

function defaultBudget(): number {
  const env = typeof process !== "undefined" ? process.env?.MOEFORGE_CPU_MEMORY_BYTES : undefined;
  if (env === undefined || env === "") return 512 * 2 ** 20;
  const n = Number(env);
  if (!Number.isFinite(n) || n < 0) throw new Error(`MOEFORGE_CPU_MEMORY_BYTES=${env}: expected a byte count >= 0`);
  return n;
}

/** The least-recently-used cache of arenas and idle blocks under a byte budget. */
export class ArenaCache {
  /** Arenas in order of last use, oldest first, with the map they are cached in (to evict them from it). */
  private readonly lru = new Map<Arena, { owner: Map<string, Arena>; key: string }>();
  private readonly idle = new Map<number, Block[]>();
  private arenaBytes = 0;
  private idleBytes = 0;
  private droppedBytes = 0;

  constructor(
    public budgetBytes: number = defaultBudget(),
    /** Called with the bytes of blocks just dropped (the pool makes its workers collect them). */
    public onDropped: (bytes: number) => void = () => {},
    /** Called when an arena over `block` is evicted: what threads built over it for that arena can go. */
    public onEvicted: (block: Block) => void = () => {},
  ) {}

  /**
   * The arena `owner` caches under `key`, made for `buffers()` (from an idle
   * block, or a new one) when missing; either way it becomes the most recently used.
   */
  arena(owner: Map<string, Arena>, key: string, kind: BlockKind, buffers: () => readonly ArenaBuffer[]): Arena {
    const hit = owner.get(key);
    if (hit && hit.block.kind === kind) {
      this.lru.delete(hit);
      this.lru.set(hit, { owner, key });
      return hit;
    }
    if (hit) this.evict(hit); // threads were turned on or off: the other kind of memory is needed
    const decls = buffers();
    const { offsets, bytes } = layout(decls);
    const wasm = kind === "wasm" || kind === "wasm-shared";
    if (wasm && bytes > 2 ** 32)
      throw new RangeError(`cpu backend (wasm): the bundle needs ${bytes} bytes, over wasm32's 4 GiB`);
    const size = sizeClass(bytes, MIN_BLOCK);
    const block = this.block(wasm ? Math.min(2 ** 32, Math.ceil(size / WASM_PAGE) * WASM_PAGE) : size, kind);
    const views = new Map<string, AnyTypedArray>();
    const at = new Map<string, number>();
    decls.forEach((b, i) => {
      const view = new (ctorOf(b.type))(block.buffer, offsets[i]!, b.length);
      if (b.init) view.set(b.init);
      views.set(b.name, view);
      at.set(b.name, offsets[i]!);
    });
    const arena: Arena = { block, views, offsets: at };
    owner.set(key, arena);
    this.lru.set(arena, { owner, key });
    this.arenaBytes += block.bytes;
    return arena;
  }

  /** Removes an arena from the cache; its block becomes idle (or is dropped past the budget). */
  evict(arena: Arena): void {
    const entry = this.lru.get(arena);
    if (!entry) return;
    this.lru.delete(arena);
    if (entry.owner.get(entry.key) === arena) entry.owner.delete(entry.key);
    this.arenaBytes -= arena.block.bytes;
    this.onEvicted(arena.block);
    const list = this.idle.get(arena.block.bytes) ?? [];
    list.push(arena.block);
    this.idle.set(arena.block.bytes, list);
    this.idleBytes += arena.block.bytes;
    this.trim(0);
  }

  /** Evicts every arena and drops every idle block. */
  clear(): void {
    for (const a of [...this.lru.keys()]) this.evict(a);
    this.trim(0, true);
  }

  stats(): CpuMemoryStats {
    return {
      arenaBytes: this.arenaBytes,
      arenas: this.lru.size,
      idleBytes: this.idleBytes,
      budgetBytes: this.budgetBytes,
      droppedBytes: this.droppedBytes,
    };
  }

  /** A block of exactly `bytes` (a size class): an idle one when there is one, after making room under the budget. */
  private block(bytes: number, kind: BlockKind): Block {
    const reuse = () => {
      const list = this.idle.get(bytes);
      const i = list?.findIndex((b) => b.kind === kind) ?? -1;
      if (i < 0) return undefined;
      const [b] = list!.splice(i, 1);
      this.idleBytes -= bytes;
      return b!;
    };
    // Evict old arenas until this one fits, taking a block of its class as soon as one is idle.
    let found = reuse();
    for (const oldest of this.lru.keys()) {
      if (found || this.arenaBytes + bytes <= this.budgetBytes) break;
      this.evict(oldest);
      found = reuse();
    }
    this.trim(found ? 0 : bytes);
    // A reused block is not zeroed: kernels write every buffer they read back (see ARCHITECTURE "Buffers").
    return found ?? newBlock(kind, bytes);
  }

  /** Drops idle blocks (oldest first within a size class) until `extra` more bytes fit the budget (all of them with `all`). */
  private trim(extra: number, all = false): void {
    let dropped = 0;
    for (const [size, list] of this.idle) {
      while (list.length && (all || this.arenaBytes + this.idleBytes + extra > this.budgetBytes)) {
        list.shift();
        this.idleBytes -= size;
        dropped += size;
      }
      if (!list.length) this.idle.delete(size);
    }
    if (dropped) {
      this.droppedBytes += dropped;
      this.onDropped(dropped);
    }
  }
}

function newBlock(kind: BlockKind, bytes: number): Block {
  const id = nextBlockId++;
  if (kind === "array" || kind === "shared")
    return { kind, buffer: kind === "shared" ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes), bytes, id };
  const pages = bytes / WASM_PAGE;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: kind === "wasm-shared" });
  return { kind, buffer: memory.buffer, memory, bytes, id };
}
