/**
 * The user's call site of a failing op, found by reading `new Error().stack`.
 * Works the same in Node and in browsers (no Node built-ins): every frame
 * location is turned into a URL and compared with where this module was
 * loaded from, so moeforge's own frames are skipped.
 */

/** A stack frame's location as a URL: absolute paths (POSIX or Windows) become file: URLs. */
function frameUrl(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || location.startsWith("node:")) return location;
  if (/^[a-z]:[\\/]/i.test(location)) return "file:///" + location.replace(/\\/g, "/");
  if (location.startsWith("/")) return "file://" + location;
  return location;
}

/** How a location is shown: a file: URL as its path (like Node prints it), anything else as is. */
function display(url: string): string {
  if (!url.startsWith("file://")) return url;
  const path = safeDecode(url.slice("file://".length));
  return /^\/[a-z]:\//i.test(path) ? path.slice(1).replace(/\//g, "\\") : path;
}

function safeDecode(s: string): string {
  try {
    return decodeURI(s);
  } catch {
    return s;
  }
}

/**
 * URL prefixes of moeforge's own code. From source this module is `<root>/dsl/call_site.ts`
 * and the library is the root's source folders plus `index.ts`; from the published build
 * every file of the build folder is library code (esbuild bundles it there).
 */
function libraryPrefixes(moduleUrl: string): string[] {
  const url = safeDecode(moduleUrl.replace(/[?#].*$/, ""));
  const source = /^(.*\/)dsl\/call_site\.[cm]?[jt]s$/.exec(url);
  if (source) {
    const root = source[1]!;
    return [...["dsl", "autodiff", "backends", "codegen", "moe"].map((d) => `${root}${d}/`), `${root}index.ts`];
  }
  return [url.slice(0, url.lastIndexOf("/") + 1)];
}

const frameLocation = /\(?((?:[a-z][a-z0-9+.-]*:\/\/)?[^()\s@]+):(\d+):(\d+)\)?\s*$/i;

/**
 * The first frame of `stack` outside moeforge (and outside node: internals and
 * node_modules): the user's call site as `file:line:col`, or undefined.
 * `moduleUrl` is where moeforge's call_site module lives (its `import.meta.url`).
 */
export function callSiteFromStack(stack: string, moduleUrl: string): string | undefined {
  const library = libraryPrefixes(moduleUrl);
  for (const line of stack.split("\n").slice(1)) {
    const m = frameLocation.exec(line);
    if (!m) continue;
    const url = safeDecode(frameUrl(m[1]!));
    if (url.startsWith("node:") || url.includes("/node_modules/")) continue;
    if (library.some((prefix) => url === prefix || (prefix.endsWith("/") && url.startsWith(prefix)))) continue;
    return `${display(url)}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

/** The first stack frame outside moeforge itself: the user's call site, as file:line:col. */
export function userCallSite(): string | undefined {
  const stack = new Error().stack;
  return stack === undefined ? undefined : callSiteFromStack(stack, import.meta.url);
}

/**
 * Where the user's code created an equation. The stack is captured when the
 * equation is recorded (cheap: V8 formats it only when read) and resolved to
 * file:line:col on demand, e.g. when checked numerics names a culprit.
 */
export class CallSite {
  private readonly capture: Error;
  private resolved: string | null | undefined;

  constructor() {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 40; // composites and MoE layers sit many frames below the user's line
    this.capture = new Error();
    Error.stackTraceLimit = limit;
  }

  /** file:line:col of the user's frame, or undefined when the stack holds none. */
  get location(): string | undefined {
    if (this.resolved === undefined)
      this.resolved = (this.capture.stack && callSiteFromStack(this.capture.stack, import.meta.url)) ?? null;
    return this.resolved ?? undefined;
  }
}
