/**
 * Fused elementwise kernels: one thread per element of the group's domain; each
 * root is computed from its fused producer chain (broadcasts, reshapes and
 * transposes become index math) and stored.
 */
import type { FusionGroup } from "../../passes/fusion";
import type { Lowering } from "../lower";
import { delinearizeBound, numelExpr, numelSize } from "../index_math";
import { gridFor, perItem } from "./common";

export function lowerElementwiseGroup(ctx: Lowering, g: FusionGroup): void {
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel("elementwise", wg);
  const { kb, values } = k;
  const flat = perItem(kb, numelExpr(g.domain));
  const idx = delinearizeBound(flat, g.domain, (e) => kb.let(e, "i"));
  for (const r of g.roots) kb.store(ctx.output(k, r), flat, values.at(r, idx));
  ctx.launch(k, gridFor(numelSize(g.domain), wg), ctx.describeGroup(g));
}
