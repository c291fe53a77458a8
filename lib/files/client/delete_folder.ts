/**
 * `connect delete FOLDER`: the server deletes files one at a time (DEL), so
 * a folder is deleted as its listing, file by file, after the user agreed.
 * The folder goes away with its last file (the server prunes empty folders).
 */
import { UsageError } from "../../base/errors.ts";
import { formatBytes } from "../../base/progress.ts";
import { quoteName } from "../names.ts";
import type { FileEntry } from "../protocol.ts";
import { type FileClient, ServerError } from "./file_client.ts";

/** Options of {@link deleteNameOrFolder}. */
export interface DeleteOptions {
  /** --yes: delete a folder without asking. */
  yes: boolean;
  /**
   * Asks a yes-or-no question on the terminal; null when there is no
   * terminal to ask on (then a folder needs --yes).
   */
  confirm: ((question: string) => Promise<boolean>) | null;
  /** The command, for the usage error that asks for --yes. */
  command: string;
}

/** What one name turned out to be and what went. */
export type Deleted =
  | { kind: "file"; name: string }
  | { kind: "folder"; name: string; files: FileEntry[] }
  | { kind: "kept"; name: string; files: FileEntry[] };

/**
 * Deletes file `name`, or, when it is a folder, every file in it once the
 * user agreed (or --yes). Throws ServerError for what the server refuses,
 * UsageError for a folder without --yes and without a terminal to ask on.
 */
export async function deleteNameOrFolder(
  client: FileClient,
  name: string,
  options: DeleteOptions,
): Promise<Deleted> {
  try {
    await client.del(name);
    return { kind: "file", name };
  } catch (error) {
    if (!(error instanceof ServerError && error.code === "not-regular")) throw error;
    const files = await folderFiles(client, name, error);
    if (!options.yes) {
      const what = `the folder ${quoteName(name)} and its ${count(files)}`;
      if (options.confirm === null) {
        throw new UsageError(
          `${
            quoteName(name)
          } is a folder: add --yes to delete ${what} (there is no terminal to ask on)`,
          options.command,
        );
      }
      if (!(await options.confirm(`Delete ${what}? [y/N] `))) return { kind: "kept", name, files };
    }
    for (const file of files) await client.del(file.name);
    return { kind: "folder", name, files };
  }
}

/** The files in folder `name`; throws `refusal` (the DEL's) when it is no folder after all. */
async function folderFiles(
  client: FileClient,
  name: string,
  refusal: ServerError,
): Promise<FileEntry[]> {
  try {
    return await client.list(name);
  } catch (error) {
    if (error instanceof ServerError && error.code === "not-found") throw refusal;
    throw error;
  }
}

/** "3 files, 4.2 MiB". */
export function count(files: FileEntry[]): string {
  const size = files.reduce((sum, file) => sum + file.size, 0);
  return `${files.length} file${files.length === 1 ? "" : "s"}, ${formatBytes(size)}`;
}

/** The line `connect delete` prints for one name. */
export function describeDeleted(deleted: Deleted): string {
  switch (deleted.kind) {
    case "file":
      return `Deleted ${quoteName(deleted.name)}`;
    case "folder":
      return `Deleted the folder ${quoteName(deleted.name)}: ${count(deleted.files)}`;
    case "kept":
      return `Kept the folder ${quoteName(deleted.name)}: nothing deleted`;
  }
}
