import { controlPrimitives } from "./control";
import type { PrimitiveTable } from "./def";
import { elementwisePrimitives } from "./elementwise";
import { indexingPrimitives } from "./indexing";
import { linalgPrimitives } from "./linalg";
import { randomPrimitives } from "./random";
import { reducePrimitives } from "./reduce";
import { shapePrimitives } from "./shape_ops";
import { installPrimitives } from "../trace";

/**
 * Every primitive's definition. Typed as a mapped type over `Primitive`, so a
 * primitive added to `PrimParams` without a definition is a compile error.
 */
export const PRIMITIVES: PrimitiveTable = {
  ...elementwisePrimitives,
  ...shapePrimitives,
  ...reducePrimitives,
  ...linalgPrimitives,
  ...indexingPrimitives,
  ...randomPrimitives,
  ...controlPrimitives,
};

// `bind` (dsl/trace.ts) applies these definitions. The primitives' AD rules call the ops,
// which call `bind`, so trace.ts cannot import this module: it is installed from here,
// and the entries (core.ts, so index.ts; test/setup.ts) load this module.
installPrimitives(PRIMITIVES);
