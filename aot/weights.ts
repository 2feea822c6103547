/**
 * `--params weights.safetensors`: which of the model's inputs a safetensors
 * file provides. A tensor is named by its input's path with dots
 * (`params.layers.0.w`), or by the path inside its argument (`layers.0.w`,
 * what `saveSafetensors(params)` writes). Every tensor must feed exactly one
 * input with its dtype and static shape; the generated host module then reads
 * those inputs from a safetensors buffer by the same names.
 */
import { parsePath } from "./paths";
import { readSafetensors, SAFETENSORS_DTYPE, type ElementType, type SafetensorsTensor } from "./host_runtime";
import type { TensorSlot } from "./inputs";

/** A weight of the export: the tensor's name in the file, the input it feeds, its dtype and shape. */
export interface WeightBinding {
  readonly name: string;
  readonly path: string;
  readonly dtype: ElementType;
  readonly shape: readonly number[];
}

export class WeightsError extends Error {
  override name = "WeightsError";
}

const dotted = (path: string) => parsePath(path).join(".");

/**
 * Matches the tensors of a safetensors file (`bytes`, read from `file`) to
 * the model's input leaves; returns the bindings in input order. Throws a
 * WeightsError naming the tensor and what was expected.
 * @example matchWeights(readFileSync("w.safetensors"), traced.inputs.leaves, "w.safetensors")
 */
export function matchWeights(bytes: Uint8Array, leaves: readonly TensorSlot[], file: string): WeightBinding[] {
  let tensors: Map<string, SafetensorsTensor>;
  try {
    tensors = readSafetensors(bytes, `--params ${file}`);
  } catch (e) {
    throw new WeightsError((e as Error).message);
  }
  if (tensors.size === 0) throw new WeightsError(`--params ${file}: the file holds no tensors`);
  const names = leaves.map((l) => dotted(l.path));
  const byLeaf = new Map<number, string>();
  for (const [name, t] of tensors) {
    const hits = leaves.flatMap((l, i) => {
      const full = names[i]!;
      return full === name || full === `${parsePath(l.path)[0]}.${name}` ? [i] : [];
    });
    if (hits.length === 0)
      throw new WeightsError(
        `--params ${file}: tensor "${name}" matches no input of the model (inputs: ${names.join(", ")}); ` +
          "name a tensor by its input's path, or by the path inside its argument",
      );
    if (hits.length > 1)
      throw new WeightsError(
        `--params ${file}: tensor "${name}" could be ${hits.map((i) => names[i]).join(" or ")}; name it by the full path`,
      );
    const i = hits[0]!;
    const leaf = leaves[i]!;
    if (byLeaf.has(i))
      throw new WeightsError(`--params ${file}: tensors "${byLeaf.get(i)}" and "${name}" both name input ${leaf.path}`);
    const dynamic = leaf.shape.find((d) => typeof d !== "number");
    if (dynamic !== undefined)
      throw new WeightsError(
        `--params ${file}: tensor "${name}" feeds input ${leaf.path}, ` +
          `whose shape has the dynamic dim ${JSON.stringify(dynamic)}; weights have fixed shapes`,
      );
    const dtype = leaf.dtype as ElementType;
    const want = `${SAFETENSORS_DTYPE[dtype] ?? leaf.dtype}[${leaf.shape.join(", ")}]`;
    const sameShape = t.shape.length === leaf.shape.length && t.shape.every((d, j) => d === leaf.shape[j]);
    if (t.dtype !== SAFETENSORS_DTYPE[dtype] || !sameShape)
      throw new WeightsError(
        `--params ${file}: tensor "${name}" is ${t.dtype}[${t.shape.join(", ")}]; input ${leaf.path} needs ${want}`,
      );
    byLeaf.set(i, name);
  }
  return [...byLeaf]
    .sort(([a], [b]) => a - b)
    .map(([i, name]) => ({
      name,
      path: leaves[i]!.path,
      dtype: leaves[i]!.dtype as ElementType,
      shape: leaves[i]!.shape as number[],
    }));
}
