/** Hash routing (Roller et al. 2021): a fixed, parameter-free token-id -> expert table per layer. */
import { dims, ones, reshape, take, tensor, type FloatDType, type Tensor } from "../../core";
import { MoeConfigError, checkInt, checkTensor } from "../check";
import type { Gate } from "./gate";
import type { TokenChoice } from "./types";

/** MurmurHash3's 32-bit finaliser: a cheap bijective mix of 32-bit integers. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash of a token id for one layer: different layers (and seeds) give independent tables. */
export function tokenHash(id: number, layer = 0, seed = 0): number {
  return mix32(mix32(id + Math.imul(layer + 1, 0x9e3779b9)) ^ mix32(seed + 0x632be5ab));
}

/** Options of `hashTable`. */
export interface HashTableOptions {
  /** Layer index: each layer gets its own hash (Roller et al. use a different hash per layer). */
  readonly layer?: number;
  readonly seed?: number;
  /** true: sort ids by hash and deal them round-robin, so every expert gets floor or ceil(V/E) ids. Default false (plain hash mod E). */
  readonly balanced?: boolean;
}

/**
 * A hash routing table: i32 [vocabSize] with entry v = the expert of token id v,
 * `hash(v, layer, seed) mod E` (Roller et al. 2021, "Hash Layers For Large
 * Sparse Models"; their "random hash"), or a balanced assignment ordered by hash.
 * @example const table = hashTable(1000, 8, { layer: 2 });
 */
export function hashTable(vocabSize: number, numExperts: number, options: HashTableOptions = {}): Tensor {
  checkInt(vocabSize, "hashTable", "vocabSize");
  checkInt(numExperts, "hashTable", "numExperts");
  const { layer = 0, seed = 0, balanced = false } = options;
  checkInt(layer, "hashTable", "layer", 0);
  checkInt(seed, "hashTable", "seed", 0);
  const hashes = Array.from({ length: vocabSize }, (_, v) => tokenHash(v, layer, seed));
  const table = new Int32Array(vocabSize);
  if (balanced) {
    const order = hashes.map((_, v) => v).sort((a, b) => hashes[a]! - hashes[b]! || a - b);
    order.forEach((v, rank) => (table[v] = rank % numExperts));
  } else {
    hashes.forEach((h, v) => (table[v] = h % numExperts));
  }
  return tensor(table, [vocabSize], "i32");
}

/** Options of `hashGate`. */
export interface HashGateOptions {
  readonly numExperts: number;
  /** dtype of the (all-one) combine weights; match your activations. Default f32. */
  readonly dtype?: FloatDType;
}

/**
 * Hash routing: token t goes to expert `table[tokenIds[t]]` with weight 1.
 * No router, no balancing loss; the load follows the token frequencies.
 * A table that does not cover every token id, or names an expert >= E, is an error.
 * @example const r = hashGate(hashTable(100, 4), tokenIds, { numExperts: 4 });
 */
export function hashGate(table: Tensor, tokenIds: Tensor, options: HashGateOptions): TokenChoice {
  const E = checkInt(options.numExperts, "hashGate", "numExperts");
  if (table.dtype !== "i32" || table.shape.length !== 1) {
    throw new MoeConfigError(
      `hashGate: the table must be a 1-D i32 tensor (token id -> expert), got ${table.dtype}[${table.shape.join(",")}]`,
    );
  }
  if (tokenIds.dtype !== "i32" || tokenIds.shape.length !== 1) {
    throw new MoeConfigError(
      `hashGate: tokenIds must be a 1-D i32 tensor [T], got ${tokenIds.dtype}[${tokenIds.shape.join(",")}]`,
    );
  }
  const V = table.shape[0] as number;
  if (!table.isTracer && !table.isDevice) {
    const bad = table.dataSync().findIndex((e) => e < 0 || e >= E);
    if (bad >= 0)
      throw new MoeConfigError(`hashGate: table[${bad}] = ${table.dataSync()[bad]} is not an expert in [0, ${E})`);
  }
  if (!tokenIds.isTracer && !tokenIds.isDevice) {
    const ids = tokenIds.dataSync();
    const bad = ids.findIndex((v) => v < 0 || v >= V);
    if (bad >= 0) {
      throw new MoeConfigError(
        `hashGate: token id ${ids[bad]} (at position ${bad}) is outside the hash table of ${V} entries; the table must cover the whole vocabulary`,
      );
    }
  }
  const T = tokenIds.shape[0] as number;
  const experts = reshape(take(table, tokenIds), [T, 1]);
  return { kind: "tokenChoice", numExperts: E, experts, weights: ones([T, 1], options.dtype ?? "f32") };
}

/** The layer's `gate` config of hash routing by token id; pass `ctx.tokenIds`. */
export interface HashGateConfig {
  readonly type: "hash";
  readonly table: Tensor;
}

/** Hash routing in an MoE layer: no router parameters, no balancing loss. */
export const hashGateDef: Gate<HashGateConfig, undefined, TokenChoice> = {
  validate: (config, _E, where) => {
    const t = checkTensor(config.table, `${where} (hash gate)`, "table");
    if (t.dtype !== "i32" || t.shape.length !== 1)
      throw new MoeConfigError(
        `${where}: the hash table must be a 1-D i32 tensor, got ${t.dtype}[${t.shape.join(",")}]`,
      );
  },
  k: () => 1,
  routerShape: null,
  initRouter: () => undefined,
  route: (config, _router, x, ctx, E) => {
    const T = x.shape[0]!;
    if (ctx.tokenIds === undefined)
      throw new MoeConfigError("moeLayer: the hash gate needs ctx.tokenIds (i32 token ids, one per token)");
    checkTensor(ctx.tokenIds, "moeLayer", "ctx.tokenIds");
    if (!dims.equal(dims.mul(...ctx.tokenIds.shape), T)) {
      throw new MoeConfigError(
        `moeLayer: ctx.tokenIds has shape [${ctx.tokenIds.shape.map(dims.format).join(",")}], expected one id per token (${dims.format(T)} tokens)`,
      );
    }
    return hashGate(config.table, reshape(ctx.tokenIds, [T]), { numExperts: E, dtype: x.dtype as FloatDType });
  },
  losses: {},
};
