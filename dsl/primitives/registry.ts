import { controlPrimitives } from "./control";
import type { PrimitiveTable } from "./def";
import { elementwisePrimitives } from "./elementwise";
import { indexingPrimitives } from "./indexing";
import { linalgPrimitives } from "./linalg";
import { randomPrimitives } from "./random";
import { reducePrimitives } from "./reduce";
import { shapePrimitives } from "./shape_ops";

/**
 * Every primitive's definition. Typed as a mapped type over `Primitive`, so a
 * primitive added to `PrimParams` without a definition is a compile error.
 */
function buildTable(): PrimitiveTable {
  return {
    ...elementwisePrimitives,
    ...shapePrimitives,
    ...reducePrimitives,
    ...linalgPrimitives,
    ...indexingPrimitives,
    ...randomPrimitives,
    ...controlPrimitives,
  } satisfies PrimitiveTable;
}

let table: PrimitiveTable | undefined;

/**
 * Built on first use: primitive modules import the ops they use in their rules,
 * and the ops bind primitives, so the table must not be read while modules load.
 */
export const PRIMITIVES: PrimitiveTable = new Proxy({} as PrimitiveTable, {
  get: (_t, key) => (table ??= buildTable())[key as keyof PrimitiveTable],
  ownKeys: () => Reflect.ownKeys((table ??= buildTable())),
  getOwnPropertyDescriptor: (_t, key) => Reflect.getOwnPropertyDescriptor((table ??= buildTable()), key),
});
