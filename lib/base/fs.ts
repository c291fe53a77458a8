/**
 * File-system calls where "it is not there" is an answer, not an error, and
 * small JSON records written so that no reader ever sees half of one.
 */

/** Deno.stat, or null when nothing is at `path`. */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  return await orNullIfMissing(() => Deno.stat(path));
}

/** Deno.lstat (symlinks not followed), or null when nothing is at `path`. */
export async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  return await orNullIfMissing(() => Deno.lstat(path));
}

/** Removes a file; one that is already gone is not an error. */
export async function removeIfExists(path: string): Promise<void> {
  await orNullIfMissing(() => Deno.remove(path));
}

async function orNullIfMissing<T>(call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** A JSON file's value, or null when it is missing or torn (treated as unknown). */
export async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return null;
  }
}

/** Writes JSON through a temporary file and a rename, so readers never see half of it. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(temp, JSON.stringify(value));
    await Deno.rename(temp, path);
  } catch (error) {
    await removeIfExists(temp);
    throw error;
  }
}
