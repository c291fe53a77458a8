/** File-system calls where "it is not there" is an answer, not an error. */

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
