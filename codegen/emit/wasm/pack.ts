/**
 * The wasm target's panel copy (kernels carrying a `PanelPack`, kernel_ir.ts):
 * the same panels as the kernel's scalar body (a copy: bit for bit), written
 * with v128 loads and stores, tileCols / 4 of each per panel row, instead of
 * tileCols clamped scalar loads and stores (the scalar body ran at ~0.8 GB/s:
 * 4.6-5.6 ms for the grouped weight gradient's dy, [2048, 512], every call).
 * The column tail panel stores zeros, then copies the columns it has one by one.
 * Items (panel rows) are walked in order from the workgroup range's first,
 * the position (group, panel, step) carried along instead of divided out per item.
 * The module's interface is the scalar kernels' (kernel.ts).
 */
import type { Kernel, PanelPack } from "../../kernel_ir";
import type { FunctionBody } from "./code";
import { sizeValue } from "./gemm";
import { forRange, kernelArity, paramPositions } from "./gemm_tile";
import { importHost, type WasmMemoryKind } from "./kernel";
import { ModuleBuilder } from "./module";

/** Whether `kernel` gets the vector copy: a PanelPack over f32 buffers whose panels are whole vectors. */
export function simdPack(kernel: Kernel): PanelPack | null {
  const p = kernel.pack;
  if (!p || p.tileCols % 4 !== 0 || p.tileCols <= 0) return null;
  const typeOf = (name: string) => kernel.params.find((q) => q.name === name)?.type;
  return typeOf(p.source) === "f32" && typeOf(p.panels) === "f32" ? p : null;
}

/**
 * The SIMD module of a panel copy (`simdPack(kernel)` must be non-null).
 * @example WebAssembly.validate(renderPackKernel(kernel, { shared: true })) // true
 */
export function renderPackKernel(kernel: Kernel, memory: WasmMemoryKind): Uint8Array<ArrayBuffer> {
  const p = simdPack(kernel);
  if (!p) throw new Error(`wasm emitter: kernel ${kernel.name} has no f32 panel copy`);
  const m = new ModuleBuilder();
  importHost(m, memory);
  const nParams = kernelArity(kernel);
  const T = p.tileCols;
  const { index } = m.func({ params: Array.from({ length: nParams }, () => "i32" as const), results: [] }, (f) => {
    const { base: param, size: sizeParam } = paramPositions(kernel, "panel");
    const local = () => f.local("i32");
    const [depth, cols, panels, item, end, kk, pn, g, src, dst, width, j] = Array.from({ length: 12 }, local);
    const size = (l: number, e: PanelPack["depth"]) => {
      sizeValue(f, e, sizeParam);
      f.set(l);
    };
    size(depth, p.depth);
    size(cols, p.cols);
    f.get(cols)
      .i32(T - 1)
      .op("i32.add")
      .i32(T)
      .op("i32.div_s")
      .set(panels);
    // Items [first * wg, min(last * wg, groups * panels * depth)).
    const wg = kernel.workgroupSize;
    f.get(nParams - 2)
      .i32(wg)
      .op("i32.mul")
      .set(item);
    f.get(nParams - 1)
      .i32(wg)
      .op("i32.mul")
      .set(end);
    sizeValue(f, p.groups, sizeParam);
    f.get(panels).op("i32.mul").get(depth).op("i32.mul").set(j);
    f.get(j).get(end).get(j).get(end).op("i32.lt_s").op("select").set(end);
    f.get(item).get(end).op("i32.lt_s");
    f.if(() => {
      // item = (g * panels + pn) * depth + kk
      f.get(item).get(depth).op("i32.rem_s").set(kk);
      f.get(item).get(depth).op("i32.div_s").tee(j).get(panels).op("i32.rem_s").set(pn);
      f.get(j).get(panels).op("i32.div_s").set(g);
      f.get(param(p.panels))
        .get(item)
        .i32(4 * T)
        .op("i32.mul")
        .op("i32.add")
        .set(dst);
      /** src = &source[g, kk, pn * T]; width = min(cols - pn * T, T). */
      const position = () => {
        f.get(param(p.source));
        f.get(g).get(depth).op("i32.mul").get(kk).op("i32.add").get(cols).op("i32.mul");
        f.get(pn).i32(T).op("i32.mul").op("i32.add");
        f.i32(2).op("i32.shl").op("i32.add").set(src);
        f.get(cols).get(pn).i32(T).op("i32.mul").op("i32.sub").set(width);
        f.i32(T).get(width).get(width).i32(T).op("i32.gt_s").op("select").set(width);
      };
      position();
      f.loop((again) => {
        f.get(width).i32(T).op("i32.eq");
        f.if(
          () => copyVectors(f, dst, src, T),
          () => {
            for (let v = 0; v < T / 4; v++)
              f.get(dst)
                .f32(0)
                .simd("f32x4.splat")
                .simdMem("v128.store", 16 * v);
            // The columns it has, as i32 words (a copy of the bits).
            forRange(
              f,
              j,
              () => f.get(width),
              () => {
                f.get(dst).get(j).i32(2).op("i32.shl").op("i32.add");
                f.get(src).get(j).i32(2).op("i32.shl").op("i32.add").mem("i32.load");
                f.mem("i32.store");
              },
            );
          },
        );
        f.get(dst)
          .i32(4 * T)
          .op("i32.add")
          .set(dst);
        f.get(src).get(cols).i32(2).op("i32.shl").op("i32.add").set(src);
        f.get(kk).i32(1).op("i32.add").tee(kk).get(depth).op("i32.eq");
        f.if(() => {
          // Next panel (or the next group's first): its row 0.
          f.i32(0).set(kk);
          f.get(pn).i32(1).op("i32.add").tee(pn).get(panels).op("i32.eq");
          f.if(() => {
            f.i32(0).set(pn);
            f.get(g).i32(1).op("i32.add").set(g);
          });
          position();
        });
        f.get(item).i32(1).op("i32.add").tee(item).get(end).op("i32.ne").brIf(again);
      });
    });
  });
  m.export("kernel", index);
  return m.encode();
}

/** Copies `cols` f32 (a multiple of 4) from the address in local `src` to the one in `dst`, 16 bytes at a time. */
function copyVectors(f: FunctionBody, dst: number, src: number, cols: number): void {
  for (let v = 0; v < cols / 4; v++)
    f.get(dst)
      .get(src)
      .simdMem("v128.load", 16 * v)
      .simdMem("v128.store", 16 * v);
}
