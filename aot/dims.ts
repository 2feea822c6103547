/**
 * `--dims T=dynamic,D=512,E=8`: each named size of the model's inputs is a
 * number (baked into the kernels) or `dynamic` (stays symbolic: one build
 * serves every value, given at run time).
 */

/** A dim binding: a concrete size, or "dynamic". */
export type DimBinding = number | "dynamic";

export class DimsError extends Error {
  override name = "DimsError";
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a `--dims` value. Throws a DimsError naming the malformed entry.
 * @example parseDims("T=dynamic,D=16") // Map { "T" => "dynamic", "D" => 16 }
 */
export function parseDims(text: string): Map<string, DimBinding> {
  const dims = new Map<string, DimBinding>();
  const expected = "expected NAME=SIZE or NAME=dynamic, comma-separated (e.g. T=dynamic,D=512)";
  for (const entry of text.split(",")) {
    const m = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!m) throw new DimsError(`--dims: "${entry}" is malformed; ${expected}`);
    const [, name, value] = m as unknown as [string, string, string];
    if (!NAME.test(name)) throw new DimsError(`--dims: "${name}" is not a dim name (letters, digits, _); ${expected}`);
    if (dims.has(name)) throw new DimsError(`--dims: ${name} is given twice`);
    if (value === "dynamic") dims.set(name, "dynamic");
    else if (/^[1-9][0-9]*$/.test(value) && Number.isSafeInteger(Number(value))) dims.set(name, Number(value));
    else throw new DimsError(`--dims: ${name}=${value}: the size must be a positive integer or "dynamic"`);
  }
  return dims;
}

/** The `--dims` text of a binding map (sorted by name). */
export function formatDims(dims: ReadonlyMap<string, DimBinding>): string {
  return [...dims]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
