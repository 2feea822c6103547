/**
 * Dim expressions (shape polymorphism, after JAX's symbolic dimensions).
 *
 * A dim is a literal size, a named size ("T", bound when a program runs), or an
 * expression of those under `+`, `*`, `floorDiv` / `ceilDiv` / `mod` by a
 * positive divisor, and `max` / `min`. Expressions are kept in one normal form,
 * a polynomial over *atoms* (named dims and the opaque division / extremum
 * nodes) with integer coefficients:
 *
 * - a constant is a plain number, a lone atom with coefficient 1 is that atom
 *   (a name stays a string), so programs without expressions look as before;
 * - otherwise a `{ op, args }` node, interned: two equal expressions are the
 *   same object, so `===` (and `dimEq`) decide equality after normalisation
 *   (`T*2` and `2*T` are one dim, `(T+1)*2` is `T*2+2`).
 *
 * The same form is the kernel bundle's size language (buffer sizes, launch
 * grids): there is one expression language from tracing to the runtimes.
 *
 * Facts: every named dim is >= 1. Bounds of an expression follow by interval
 * arithmetic, which lets shape rules decide `>= 0`, `== 1` and divisibility
 * without a binding; what cannot be decided statically is checked when the
 * program is bound to sizes (see `bindDims` in trace.ts).
 */

/** Operators of a dim-expression node. `add` and `mul` take any number of args; the divisions take [value, divisor]. */
export type DimOp = "add" | "mul" | "floorDiv" | "ceilDiv" | "mod" | "max" | "min";

/** A dim-expression node. Hand-written nodes are accepted and normalised where they are used. */
export interface DimExpr {
  readonly op: DimOp;
  readonly args: readonly Dim[];
}

/** A dimension: a literal size, a named size, or an expression of those. */
export type Dim = number | string | DimExpr;

/** Maps each named dim to its size. */
export type DimEnv = ReadonlyMap<string, number>;

/** The most elements a buffer may have: every target's i32 index math (and the interpreter keeps to it too). */
export const MAX_I32_ELEMENTS = 2 ** 31 - 1;

/** A shape or dim error (thrown by shape rules and dim arithmetic). */
export class ShapeError extends Error {
  override name = "ShapeError";
}

const OPS: ReadonlySet<string> = new Set<DimOp>(["add", "mul", "floorDiv", "ceilDiv", "mod", "max", "min"]);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Is `x` a dim-expression node (normalised or hand-written)? */
export function isDimExpr(x: unknown): x is DimExpr {
  if (typeof x !== "object" || x === null) return false;
  const o = x as { op?: unknown; args?: unknown };
  return typeof o.op === "string" && OPS.has(o.op) && Array.isArray(o.args);
}

/** Is `x` a dim (a non-negative integer, a dim name, or a dim expression)? Checks the whole tree. */
export function isDim(x: unknown): x is Dim {
  if (typeof x === "number") return Number.isInteger(x);
  if (typeof x === "string") return NAME.test(x);
  return isDimExpr(x) && x.args.length > 0 && x.args.every(isDim);
}

// ---------------------------------------------------------------- normal form

/** An opaque atom of a polynomial: a named dim or a division / extremum node in normal form. */
type Atom = string | DimNode;
/** coef * product of atoms (sorted by key; repeats are powers). */
interface Term {
  readonly coef: number;
  readonly atoms: readonly Atom[];
}
/** A polynomial: terms keyed by their atoms' key ("" for the constant). */
type Poly = Map<string, Term>;

/** An interned, normalised expression node. */
class DimNode implements DimExpr {
  constructor(
    readonly op: DimOp,
    readonly args: readonly Dim[],
    readonly key: string,
  ) {
    Object.freeze(this.args);
    Object.freeze(this);
  }
  toString(): string {
    return this.key;
  }
  toJSON(): DimExpr {
    return { op: this.op, args: this.args };
  }
}

const interned = new Map<string, DimNode>();
function node(op: DimOp, args: readonly Dim[]): DimNode {
  const key = render(op, args);
  let n = interned.get(key);
  if (!n) {
    n = new DimNode(op, args, key);
    interned.set(key, n);
  }
  return n;
}

const atomKey = (a: Atom): string => (typeof a === "string" ? a : a.key);
const termKey = (atoms: readonly Atom[]): string => atoms.map(atomKey).join("*");

function constPoly(c: number): Poly {
  return c === 0 ? new Map() : new Map([["", { coef: c, atoms: [] }]]);
}

function addTerm(p: Poly, t: Term): void {
  const k = termKey(t.atoms);
  const prev = p.get(k);
  const coef = (prev?.coef ?? 0) + t.coef;
  if (coef === 0) p.delete(k);
  else p.set(k, { coef, atoms: t.atoms });
}

function polyAdd(a: Poly, b: Poly, scale = 1): Poly {
  const out: Poly = new Map(a);
  for (const t of b.values()) addTerm(out, { coef: t.coef * scale, atoms: t.atoms });
  return out;
}

function polyMul(a: Poly, b: Poly): Poly {
  const out: Poly = new Map();
  for (const x of a.values())
    for (const y of b.values()) {
      const atoms = [...x.atoms, ...y.atoms].sort((p, q) => (atomKey(p) < atomKey(q) ? -1 : 1));
      addTerm(out, { coef: x.coef * y.coef, atoms });
    }
  return out;
}

const constOf = (p: Poly): number | undefined => (p.size === 0 ? 0 : p.size === 1 ? p.get("")?.coef : undefined);

/** The polynomial of any dim (hand-written nodes are normalised on the way). */
function toPoly(d: Dim): Poly {
  if (typeof d === "number") {
    if (!Number.isSafeInteger(d)) throw new ShapeError(`dim ${d} is not an integer`);
    return constPoly(d);
  }
  if (typeof d === "string") {
    if (!NAME.test(d)) throw new ShapeError(`invalid dim name ${JSON.stringify(d)}; expected a name like "T"`);
    return new Map([[d, { coef: 1, atoms: [d] }]]);
  }
  if (d instanceof DimNode) {
    if (d.op === "add" || d.op === "mul") return fromTree(d);
    return new Map([[d.key, { coef: 1, atoms: [d] }]]);
  }
  if (!isDimExpr(d))
    throw new ShapeError(`invalid dim ${JSON.stringify(d)}; expected an integer, a name or a dim expression`);
  return fromTree(d);
}

/** Builds the polynomial of a node from its args. */
function fromTree(d: DimExpr): Poly {
  const xs = d.args;
  switch (d.op) {
    case "add":
      return xs.reduce<Poly>((acc, x) => polyAdd(acc, toPoly(x)), new Map());
    case "mul":
      return xs.reduce<Poly>((acc, x) => polyMul(acc, toPoly(x)), constPoly(1));
    case "floorDiv":
    case "ceilDiv":
    case "mod":
      if (xs.length !== 2) throw new ShapeError(`${d.op} takes [value, divisor], got ${xs.length} args`);
      return divPoly(d.op, toPoly(xs[0]!), toPoly(xs[1]!));
    case "max":
    case "min":
      return extremumPoly(d.op, xs.map(toPoly));
  }
}

/** Canonical tree of a polynomial: a number, an atom, or an interned add/mul node. */
function fromPoly(p: Poly): Dim {
  const c = constOf(p);
  if (c !== undefined) return c;
  const terms = [...p.values()].sort(compareTerms);
  const trees = terms.map(termTree);
  return trees.length === 1 ? trees[0]! : node("add", trees);
}

function termTree(t: Term): Dim {
  if (t.atoms.length === 0) return t.coef;
  if (t.coef === 1 && t.atoms.length === 1) return t.atoms[0]!;
  return node("mul", t.coef === 1 ? t.atoms : [t.coef, ...t.atoms]);
}

/** Higher degree first, then by key; the constant last. */
function compareTerms(a: Term, b: Term): number {
  if (a.atoms.length !== b.atoms.length) return b.atoms.length - a.atoms.length;
  const ka = termKey(a.atoms);
  const kb = termKey(b.atoms);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

const atomPoly = (a: Atom): Poly => new Map([[atomKey(a), { coef: 1, atoms: [a] }]]);

/** Is every term of `p` a multiple of the monomial `m` (coef and atoms)? Returns the quotient. */
function divideByTerm(p: Poly, m: Term): Poly | undefined {
  const out: Poly = new Map();
  for (const t of p.values()) {
    const q = divideTerm(t, m);
    if (!q) return undefined;
    addTerm(out, q);
  }
  return out;
}

function divideTerm(t: Term, m: Term): Term | undefined {
  if (t.coef % m.coef !== 0) return undefined;
  const rest = [...t.atoms];
  for (const a of m.atoms) {
    const i = rest.findIndex((r) => atomKey(r) === atomKey(a));
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return { coef: t.coef / m.coef, atoms: rest };
}

/** The single term of `p`, if it has one. */
function singleTerm(p: Poly): Term | undefined {
  return p.size === 1 ? [...p.values()][0] : undefined;
}

/**
 * floorDiv / ceilDiv / mod of `a` by a positive divisor `b`. Multiples of the
 * divisor (when it is a single term) come out of the atom exactly:
 * floorDiv(b*q + r, b) = q + floorDiv(r, b), mod(b*q + r, b) = mod(r, b).
 */
function divPoly(op: "floorDiv" | "ceilDiv" | "mod", a: Poly, b: Poly): Poly {
  const bc = constOf(b);
  if (bc !== undefined && bc <= 0) throw new ShapeError(`${op}: divisor ${bc} is not positive`);
  if (bc === undefined && lowerOf(b) < 1)
    throw new ShapeError(`${op}: divisor ${show(b)} is not provably positive; expected a positive dim`);
  const ac = constOf(a);
  if (ac !== undefined && bc !== undefined) {
    if (op === "mod") return constPoly(((ac % bc) + bc) % bc);
    return constPoly(op === "floorDiv" ? Math.floor(ac / bc) : Math.ceil(ac / bc));
  }
  const m = singleTerm(b);
  const quotient: Poly = new Map();
  let rest: Poly = a;
  if (m) {
    rest = new Map();
    for (const t of a.values()) {
      const whole = m.atoms.length === 0 ? splitCoef(t, m.coef) : wholeMultiple(t, m);
      if (!whole) addTerm(rest, t);
      else {
        addTerm(quotient, whole.q);
        if (whole.r !== 0) addTerm(rest, { coef: whole.r, atoms: t.atoms });
      }
    }
  }
  const restConst = constOf(rest);
  let atomPart: Poly;
  if (restConst === 0) atomPart = new Map();
  else if (restConst !== undefined && bc !== undefined) atomPart = divPoly(op, rest, b);
  else {
    const lo = lowerOf(rest);
    const hi = upperOf(rest);
    const bLo = lowerOf(b);
    if (lo >= 0 && hi < bLo) {
      // 0 <= rest < divisor: floorDiv is 0, ceilDiv is 0 or 1, mod is rest itself
      if (op === "floorDiv") atomPart = new Map();
      else if (op === "mod") atomPart = rest;
      else atomPart = lo >= 1 ? constPoly(1) : atomPoly(node(op, [fromPoly(rest), fromPoly(b)]));
    } else atomPart = atomPoly(node(op, [fromPoly(rest), fromPoly(b)]));
  }
  if (op === "mod") return atomPart;
  return polyAdd(quotient, atomPart);
}

/** `t` as an exact multiple of the monomial `m`, if it is one. */
function wholeMultiple(t: Term, m: Term): { q: Term; r: number } | undefined {
  const q = divideTerm(t, m);
  return q && { q, r: 0 };
}

/** A term's coefficient split into a multiple of k (a term) and a remainder in [0, k). */
function splitCoef(t: Term, k: number): { q: Term; r: number } | undefined {
  if (t.atoms.length === 0) {
    const r = ((t.coef % k) + k) % k;
    return { q: { coef: (t.coef - r) / k, atoms: [] }, r };
  }
  if (t.coef % k !== 0) return undefined;
  return { q: { coef: t.coef / k, atoms: t.atoms }, r: 0 };
}

/** max / min: constants folded, nested ones flattened, args decided by bounds dropped. */
function extremumPoly(op: "max" | "min", xs: Poly[]): Poly {
  if (xs.length === 0) throw new ShapeError(`${op} needs at least one argument`);
  const flat: Poly[] = [];
  for (const x of xs) {
    const t = singleTerm(x);
    const a = t && t.coef === 1 && t.atoms.length === 1 ? t.atoms[0] : undefined;
    if (a instanceof DimNode && a.op === op) flat.push(...a.args.map(toPoly));
    else flat.push(x);
  }
  const better = (p: Poly, q: Poly): boolean => {
    const diff = polyAdd(p, q, -1); // p - q
    return op === "max" ? lowerOf(diff) >= 0 : upperOf(diff) <= 0;
  };
  const kept: Poly[] = [];
  for (const x of flat) {
    if (kept.some((k) => better(k, x))) continue;
    for (let i = kept.length - 1; i >= 0; i--) if (better(x, kept[i]!)) kept.splice(i, 1);
    kept.push(x);
  }
  if (kept.length === 1) return kept[0]!;
  const args = kept.map(fromPoly).sort((p, q) => (show(toPoly(p)) < show(toPoly(q)) ? -1 : 1));
  return atomPoly(node(op, args));
}

// ---------------------------------------------------------------- bounds

/** Interval [lo, hi] of a dim's possible values (every named dim in [1, inf)). */
export interface DimBounds {
  readonly lo: number;
  readonly hi: number;
}

function mulInterval(a: DimBounds, b: DimBounds): DimBounds {
  const m = (x: number, y: number) => (x === 0 || y === 0 ? 0 : x * y);
  const xs = [m(a.lo, b.lo), m(a.lo, b.hi), m(a.hi, b.lo), m(a.hi, b.hi)];
  return { lo: Math.min(...xs), hi: Math.max(...xs) };
}

function atomBounds(a: Atom): DimBounds {
  if (typeof a === "string") return { lo: 1, hi: Infinity };
  const bs = a.args.map((x) => polyBounds(toPoly(x)));
  switch (a.op) {
    case "max":
      return { lo: Math.max(...bs.map((b) => b.lo)), hi: Math.max(...bs.map((b) => b.hi)) };
    case "min":
      return { lo: Math.min(...bs.map((b) => b.lo)), hi: Math.min(...bs.map((b) => b.hi)) };
    case "mod":
      return { lo: 0, hi: bs[1]!.hi - 1 };
    case "floorDiv":
    case "ceilDiv": {
      const [v, d] = bs as [DimBounds, DimBounds];
      const round = a.op === "floorDiv" ? Math.floor : Math.ceil;
      const lo = v.lo >= 0 ? round(v.lo / d.hi) : round(v.lo / d.lo);
      const hi = v.hi >= 0 ? round(v.hi / d.lo) : round(v.hi / d.hi);
      return { lo: Number.isNaN(lo) ? 0 : lo, hi: Number.isNaN(hi) ? Infinity : hi };
    }
    default:
      throw new Error(`internal: ${a.op} is not an atom`);
  }
}

function polyBounds(p: Poly): DimBounds {
  let lo = 0;
  let hi = 0;
  for (const t of p.values()) {
    const b = t.atoms.reduce<DimBounds>((acc, a) => mulInterval(acc, atomBounds(a)), { lo: t.coef, hi: t.coef });
    lo += b.lo;
    hi += b.hi;
  }
  return { lo, hi };
}
const lowerOf = (p: Poly): number => polyBounds(p).lo;
const upperOf = (p: Poly): number => polyBounds(p).hi;

// ---------------------------------------------------------------- printing

function show(p: Poly): string {
  return dimToString(fromPoly(p));
}

function render(op: DimOp, args: readonly Dim[]): string {
  if (op === "add") {
    return args
      .map((a, i) => {
        const s = dimToString(a);
        if (i === 0) return s;
        return s.startsWith("-") ? s : `+${s}`;
      })
      .join("");
  }
  if (op === "mul") {
    const [first, ...rest] = args;
    const atoms = typeof first === "number" ? rest : args;
    const body = atoms.map((a) => (isDimExpr(a) && a.op === "add" ? `(${dimToString(a)})` : dimToString(a))).join("*");
    const coef = typeof first === "number" ? first : 1;
    if (coef === 1) return body;
    if (coef === -1) return `-${body}`;
    return coef < 0 ? `-${body}*${-coef}` : `${body}*${coef}`;
  }
  return `${op}(${args.map(dimToString).join(",")})`;
}

/** A dim as text: `T`, `T*2+1`, `ceilDiv(T*5,4)`. */
export function dimToString(d: Dim): string {
  if (typeof d === "number" || typeof d === "string") return String(d);
  if (d instanceof DimNode) return d.key;
  return render(d.op, d.args);
}

// ---------------------------------------------------------------- public operations

/** The normal form of a dim (hand-written nodes become interned ones). */
export function normDim(d: Dim): Dim {
  if (typeof d === "number" || typeof d === "string" || d instanceof DimNode) {
    toPoly(d); // validates literals and names
    return d;
  }
  return fromPoly(toPoly(d));
}

/** Are two dims equal for every binding of their names (decided on the normal form)? */
export function dimEq(a: Dim, b: Dim): boolean {
  if (a === b) return true;
  if (typeof a !== "object" && typeof b !== "object") return false;
  return constOf(polyAdd(toPoly(a), toPoly(b), -1)) === 0;
}

/** a + b + ... */
export function dimAdd(...xs: Dim[]): Dim {
  return fromPoly(xs.reduce<Poly>((acc, x) => polyAdd(acc, toPoly(x)), new Map()));
}

/** a - b. */
export function dimSub(a: Dim, b: Dim): Dim {
  return fromPoly(polyAdd(toPoly(a), toPoly(b), -1));
}

/** a * b * ... */
export function dimMul(...xs: Dim[]): Dim {
  return fromPoly(xs.reduce<Poly>((acc, x) => polyMul(acc, toPoly(x)), constPoly(1)));
}

/** floor(a / b) for a positive divisor b. */
export function dimFloorDiv(a: Dim, b: Dim): Dim {
  return fromPoly(divPoly("floorDiv", toPoly(a), toPoly(b)));
}

/** ceil(a / b) for a positive divisor b. */
export function dimCeilDiv(a: Dim, b: Dim): Dim {
  return fromPoly(divPoly("ceilDiv", toPoly(a), toPoly(b)));
}

/** a mod b (in [0, b)) for a positive divisor b. */
export function dimMod(a: Dim, b: Dim): Dim {
  return fromPoly(divPoly("mod", toPoly(a), toPoly(b)));
}

/** The largest of the args. */
export function dimMax(...xs: Dim[]): Dim {
  return fromPoly(extremumPoly("max", xs.map(toPoly)));
}

/** The smallest of the args. */
export function dimMin(...xs: Dim[]): Dim {
  return fromPoly(extremumPoly("min", xs.map(toPoly)));
}

/** Bounds of a dim over every binding with named dims >= 1. */
export function dimBounds(d: Dim): DimBounds {
  return polyBounds(toPoly(d));
}

/**
 * A lower bound of `p` times a positive factor, with each floorDiv / ceilDiv by
 * a constant replaced by the linear bound its sign needs
 * (v/d - (d-1)/d <= floorDiv(v, d) <= v/d, v/d <= ceilDiv(v, d) <= v/d + (d-1)/d),
 * everything multiplied by the divisors so coefficients stay integers. Interval
 * bounds alone lose the link between T and ceilDiv(T, 2); this keeps it
 * (T - ceilDiv(T, 2) >= 0 because 2T - (T + 1) >= 0).
 */
function withoutDivisions(p: Poly): Poly {
  let scale = 1;
  const divs: { t: Term; a: DimNode; d: number }[] = [];
  for (const t of p.values()) {
    const a = t.atoms.length === 1 ? t.atoms[0] : undefined;
    if (!(a instanceof DimNode) || (a.op !== "floorDiv" && a.op !== "ceilDiv")) continue;
    const d = a.args[1];
    if (typeof d !== "number") continue;
    divs.push({ t, a, d });
  }
  // Only the outermost divisions: one nested in another's dividend stays an atom this round, so
  // ceilDiv(T,2) - ceilDiv(ceilDiv(T,2),2) becomes 2*ceilDiv(T,2) - (ceilDiv(T,2) + 1) >= 0.
  const outer = divs.filter((x) => !divs.some((y) => y !== x && contains(y.a.args[0]!, x.a)));
  divs.splice(0, divs.length, ...outer);
  for (const { d } of divs) scale = (scale * d) / gcd(scale, d);
  if (divs.length === 0) return p;
  let out: Poly = new Map();
  for (const t of p.values()) if (!divs.some((x) => x.t === t)) addTerm(out, { coef: t.coef * scale, atoms: t.atoms });
  for (const { t, a, d } of divs) {
    // the bound that makes coef * atom smallest: the atom's lower bound for coef > 0, its upper for coef < 0
    const low = t.coef > 0;
    const slack = a.op === "floorDiv" ? (low ? -(d - 1) : 0) : low ? 0 : d - 1;
    const bound = polyAdd(toPoly(a.args[0]!), constPoly(slack)); // d * (the atom's bound)
    out = polyAdd(out, bound, (t.coef * scale) / d);
  }
  return out;
}

/** Does the tree of `d` contain the node `n`? */
function contains(d: Dim, n: DimNode): boolean {
  return d === n || (typeof d === "object" && d.args.some((a) => contains(a, n)));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Is `a >= b` for every binding (named dims >= 1)? `false` means "not provable", not "never". */
export function provablyGe(a: Dim, b: Dim): boolean {
  let diff = polyAdd(toPoly(a), toPoly(b), -1);
  if (lowerOf(diff) >= 0) return true;
  // Each round replaces the outermost divisions by their linear bounds (exposing nested ones).
  for (let round = 0; round < 4; round++) {
    const next = withoutDivisions(diff);
    if (next === diff) break;
    diff = next;
    if (lowerOf(diff) >= 0) return true;
  }
  // a >= min(..., x, ...) when a >= x; max(..., x, ...) >= b when x >= b.
  const nb = normDim(b);
  if (isDimExpr(nb) && nb.op === "min" && nb.args.some((x) => provablyGe(a, x))) return true;
  const na = normDim(a);
  return isDimExpr(na) && na.op === "max" && na.args.some((x) => provablyGe(x, b));
}

/** `a / b` when b divides a exactly as polynomials (b a single term), else `undefined`. */
export function dimExactDiv(a: Dim, b: Dim): Dim | undefined {
  const pa = toPoly(a);
  const pb = toPoly(b);
  if (constOf(pb) === 0) return constOf(pa) === 0 ? 0 : undefined;
  const m = singleTerm(pb);
  if (!m) return dimEq(a, b) ? 1 : undefined;
  const q = divideByTerm(pa, m);
  return q && fromPoly(q);
}

/** Does the positive integer k divide the dim for every binding? (Decided on coefficients; `false` is "not provable".) */
export function divisibleBy(d: Dim, k: number): boolean {
  return [...toPoly(d).values()].every((t) => t.coef % k === 0);
}

/** The named dims a dim reads, in order of first appearance. */
export function dimNames(d: Dim, out: string[] = []): string[] {
  if (typeof d === "string") {
    if (!out.includes(d)) out.push(d);
  } else if (typeof d === "object") for (const a of d.args) dimNames(a, out);
  return out;
}

/** Evaluates a dim for bound names (floor semantics for floorDiv and mod). */
export function evalDim(d: Dim, env: DimEnv): number {
  return evalTree(d, env) + 0; // + 0 turns -0 into 0
}

function evalTree(d: Dim, env: DimEnv): number {
  if (typeof d === "number") return d;
  if (typeof d === "string") {
    const v = env.get(d);
    if (v === undefined)
      throw new ShapeError(`named dim "${d}" is not bound to a size; bind it through an input of that shape`);
    return v;
  }
  const xs = d.args.map((a) => evalTree(a, env));
  switch (d.op) {
    case "add":
      return xs.reduce((a, b) => a + b, 0);
    case "mul":
      return xs.reduce((a, b) => a * b, 1);
    case "floorDiv":
      return Math.floor(xs[0]! / xs[1]!);
    case "ceilDiv":
      return Math.ceil(xs[0]! / xs[1]!);
    case "mod":
      return ((xs[0]! % xs[1]!) + xs[1]!) % xs[1]!;
    case "max":
      return Math.max(...xs);
    case "min":
      return Math.min(...xs);
  }
}

/**
 * Replaces named dims by dims (numbers or other expressions) and normalises:
 * binding part of a program's dims, or renaming them.
 */
export function substituteDim(d: Dim, env: ReadonlyMap<string, Dim>): Dim {
  if (typeof d === "number") return d;
  if (typeof d === "string") return env.get(d) ?? d;
  const args = d.args.map((a) => substituteDim(a, env));
  return normDim({ op: d.op, args });
}

/**
 * Solves `d == size` for its one unbound name when d is linear in it
 * (`a*T + b` with the other names bound): the size of that name, or
 * `undefined` when d is not of that form.
 */
export function solveLinear(d: Dim, size: number, env: DimEnv): { name: string; value: number } | undefined {
  const unbound = dimNames(d).filter((n) => !env.has(n));
  if (unbound.length !== 1) return undefined;
  const name = unbound[0]!;
  const p = toPoly(substituteDim(d, env));
  let a = 0;
  let b = 0;
  for (const t of p.values()) {
    if (t.atoms.length === 0) b += t.coef;
    else if (t.atoms.length === 1 && t.atoms[0] === name) a += t.coef;
    else return undefined;
  }
  if (a === 0) return undefined;
  return { name, value: (size - b) / a };
}

/** A dim as a concrete number, or an error naming the op, the dim and why a concrete size is needed. */
export function requireConcrete(d: Dim, op: string, why: string): number {
  if (typeof d === "number") return d;
  throw new ShapeError(
    `${op}: needs a concrete size, got the symbolic dim ${dimToString(d)} (${why}); trace with a concrete size there`,
  );
}
