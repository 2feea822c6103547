/**
 * Compute pipelines, cached per device by WGSL source up to comments and
 * variable numbering: kernels name their buffers after the Program's variable
 * ids (`v12`), which come from a process-wide counter, so the same function
 * traced twice (a retrace, a test) or the same kernel in another program gives
 * sources that differ only in those names; they share one pipeline (the
 * driver's shader compilation is the slow part of a first call on SwiftShader).
 * The source declares every binding and its access, so it also fixes the
 * bind-group layout. Each pipeline gets an explicit bind-group
 * layout from `wgslLayout` ("auto" layouts drop bindings a shader never
 * touches, which would make binding them an error).
 */
import type { Kernel } from "../../codegen/kernel_ir";
import type { WgslLayout } from "../../codegen/emit/wgsl";
import type { WebGPUContext } from "./device";

export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroupLayout: GPUBindGroupLayout;
  /** Resolves to an error message when Dawn/the browser rejected the shader, else undefined. */
  readonly check: Promise<string | undefined>;
}

/** Compiler messages of a WGSL source (errors, warnings, infos), as the device reports them. */
export async function wgslCompilationMessages(
  ctx: WebGPUContext,
  source: string,
): Promise<readonly GPUCompilationMessage[]> {
  const module = ctx.device.createShaderModule({ code: source });
  const info = await module.getCompilationInfo();
  return info.messages;
}

function formatMessages(kernel: string, messages: readonly GPUCompilationMessage[]): string | undefined {
  const errors = messages.filter((m) => m.type === "error");
  if (errors.length === 0) return undefined;
  return (
    `webgpu backend: kernel "${kernel}" failed to compile:\n` +
    errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join("\n")
  );
}

/** Device limits a kernel must fit, checked before creating its pipeline (a clear error instead of a validation error). */
function checkLimits(ctx: WebGPUContext, kernel: Kernel, source: string, layout: WgslLayout): void {
  const where = `webgpu backend: kernel "${kernel.name}"${kernel.comment ? ` (${kernel.comment})` : ""}`;
  if (/^enable f16;/m.test(source) && !ctx.hasF16) {
    throw new Error(
      `${where} computes in f16, but this device (${ctx.adapterName}) lacks the "shader-f16" feature; cast to f32 or use another backend`,
    );
  }
  if (kernel.workgroupSize > ctx.maxInvocationsPerWorkgroup) {
    throw new Error(
      `${where} uses ${kernel.workgroupSize} threads per workgroup; this device allows ${ctx.maxInvocationsPerWorkgroup}`,
    );
  }
  const sharedBytes = kernel.shared.reduce((s, a) => s + a.length * (a.type === "f16" ? 2 : 4), 0);
  if (sharedBytes > ctx.maxWorkgroupStorageBytes) {
    throw new Error(
      `${where} needs ${sharedBytes} bytes of workgroup memory; this device allows ${ctx.maxWorkgroupStorageBytes}`,
    );
  }
  const storage = layout.params.reduce((s, p) => s + p.bindings.length, 0);
  if (storage > ctx.maxStorageBuffersPerStage) {
    throw new Error(
      `${where} binds ${storage} storage buffers (large buffers count once per chunk); ` +
        `this device allows ${ctx.maxStorageBuffersPerStage} per shader stage`,
    );
  }
}

/**
 * `source` without comments and with the identifier prefixes named after Program variables renumbered in
 * order of first appearance (buffers `v<id>`, values `t<id>_<n>`; never types like `f32`): equal for
 * sources that differ only in variable numbering (a consistent renaming, so equal keys mean the same
 * shader). WGSL has no string literals, so `//` always starts a comment.
 * @example canonicalWgsl("// %7 = exp %3\nlet t7_0 = exp(v3[i]);") // "\nlet t0_0 = exp(v1[i]);"
 */
export function canonicalWgsl(source: string): string {
  const ids = new Map<string, number>();
  return source.replace(/\/\/[^\n]*/g, "").replace(/\b([vt])(\d+)/g, (name: string, letter: string) => {
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = ids.size));
    return `${letter}${id}`;
  });
}

/** Pipelines by source text (and by canonical source, `canonicalWgsl`), for one device. */
export class PipelineCache {
  private readonly bySource = new Map<string, CachedPipeline>();
  private readonly byCanonical = new Map<string, CachedPipeline>();
  constructor(private readonly ctx: WebGPUContext) {}

  /** Distinct pipelines created. */
  get size(): number {
    return this.byCanonical.size;
  }

  /** The pipeline for `source` (the WGSL of `kernel` laid out as `layout`), created on first use. */
  get(kernel: Kernel, source: string, layout: WgslLayout): CachedPipeline {
    const hit = this.bySource.get(source); // the per-call path: the same string as last time
    if (hit) return hit;
    const canonical = canonicalWgsl(source);
    const same = this.byCanonical.get(canonical);
    if (same) {
      this.bySource.set(source, same);
      return same;
    }
    checkLimits(this.ctx, kernel, source, layout);
    const device = this.ctx.device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: source, label: kernel.name });
    const entries: GPUBindGroupLayoutEntry[] = [];
    kernel.params.forEach((p, i) => {
      for (const binding of layout.params[i]!.bindings) {
        entries.push({
          binding,
          visibility: 4 /* GPUShaderStage.COMPUTE */,
          buffer: { type: p.access === "read" ? "read-only-storage" : "storage" },
        });
      }
    });
    entries.push({ binding: layout.uniformBinding, visibility: 4, buffer: { type: "uniform" } });
    const bindGroupLayout = device.createBindGroupLayout({ entries, label: kernel.name });
    const pipeline = device.createComputePipeline({
      label: kernel.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] }),
      compute: { module, entryPoint: "main" },
    });
    const validation = device.popErrorScope();
    const check = Promise.all([module.getCompilationInfo(), validation]).then(([info, err]) => {
      return (
        formatMessages(kernel.name, info.messages) ??
        (err ? `webgpu backend: kernel "${kernel.name}": ${err.message}` : undefined)
      );
    });
    const entry = { pipeline, bindGroupLayout, check };
    this.bySource.set(source, entry);
    this.byCanonical.set(canonical, entry);
    return entry;
  }
}
