/**
 * Imports a module when called, out of sight of Deno's static analysis.
 * Before a module runs, Deno builds the graph of everything it may import,
 * a literal `import("./x.ts")` included: it reads and parses every module
 * behind every lazy import, and resolves their npm packages, whether they
 * will run or not (a module with three such imports took 17 ms to load
 * instead of 1). A specifier built at run time is not followed, so only
 * what a command runs is loaded.
 *
 * Each call names its module twice: in the type argument, for the type
 * check (`typeof import(...)` is a type, never loaded), and as a URL beside
 * the caller. `deno compile` cannot see these either: tools/compile.ts
 * includes every module loaded this way (the compile test checks the list).
 */
export function importLazily<T>(url: URL): Promise<T> {
  return import(url.href);
}
