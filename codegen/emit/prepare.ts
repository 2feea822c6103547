/**
 * The target end of the back-half pipeline: a target's kernel-IR rewrites
 * (its fix-ups, tinygrad's per-target pattern matchers), then the verifier
 * again, then the renderer. See docs/ARCHITECTURE.md.
 */
import type { Kernel } from "../kernel_ir";
import { verifyKernel } from "../verify";

/**
 * A kernel-IR rewrite a target runs before rendering (tinygrad's per-target
 * pattern matchers): kernel in, kernel out, same meaning.
 */
export type KernelRewrite = (kernel: Kernel) => Kernel;

/**
 * The target's rewrites in order, then
 * `verifyKernel` on the result, so a rewrite that breaks a kernel-IR rule
 * fails here naming the kernel and the statement.
 */
export function prepareKernel(kernel: Kernel, rewrites: readonly KernelRewrite[]): Kernel {
  const out = rewrites.reduce((k, rewrite) => rewrite(k), kernel);
  verifyKernel(out);
  return out;
}
