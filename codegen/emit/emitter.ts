import type { Kernel, ScalarType, Target } from "../kernel_ir";

/**
 * Renders kernel IR as source text for one target. An emitter is a table from
 * kernel-IR op to target syntax plus a few target hooks; it makes no scheduling
 * decisions (those are made in codegen/schedule.ts before the IR is built).
 */
export interface Emitter {
  readonly target: Target;
  /**
   * Whether kernels on this target can compute with `type`: `true`, or a short
   * reason (e.g. "WGSL has no 64-bit floats"). `compile` calls it for every
   * buffer and value type before lowering, so an unsupported dtype fails at
   * compile time with an error naming the op.
   */
  supports(type: ScalarType): true | string;
  /** Source text of one kernel (a complete, self-contained compilation unit or function). */
  render(kernel: Kernel): string;
}

const emitters = new Map<Target, Emitter>();

/**
 * Makes an emitter available to `compile` for its target. Emitter modules call
 * this when they load; `codegen/emit/all.ts` imports every emitter module.
 * @example registerEmitter({ target: "js", supports: () => true, render: (k) => renderJs(k) });
 */
export function registerEmitter(emitter: Emitter): void {
  emitters.set(emitter.target, emitter);
}

/**
 * The emitter registered for `target`; throws naming the target and the
 * registered ones when none is.
 * @example getEmitter("js").render(kernel)
 */
export function getEmitter(target: Target): Emitter {
  const e = emitters.get(target);
  if (!e) {
    const known = [...emitters.keys()].join(", ") || "none";
    throw new Error(
      `no emitter is registered for target "${target}" (registered: ${known}); import its module (codegen/emit/${target}.ts) first`,
    );
  }
  return e;
}
