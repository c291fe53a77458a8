/** Holding one of the file service's transfer slots for the life of an HTTP response. */
import type { WebFiles } from "./context.ts";

/**
 * Claims a slot (--max-transfers, --max-transfers-per-ip for `host`) held
 * until `until` settles. Throws FileRefusal busy when none is free.
 */
export async function claimSlot(
  files: WebFiles,
  host: string,
  until: Promise<unknown>,
): Promise<void> {
  let claimed!: () => void;
  const started = new Promise<void>((resolve) => (claimed = resolve));
  const slot = files.inTransferSlot(host, async () => {
    claimed();
    await until.catch(() => {});
    return true;
  });
  slot.catch(() => {}); // a refusal is seen through the race below
  await Promise.race([started, slot]);
}
