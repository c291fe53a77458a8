/** Asking for a secret on the terminal without showing it. */
import { RuntimeError } from "./errors.ts";
import { decodeLenient, encode } from "./text.ts";

const MAX_SECRET = 4096;

/**
 * Prints `question` on stderr and reads one line from the terminal with echo
 * off (raw mode). Resolves to the line, or null when stdin is not a terminal
 * or the user ends input (Ctrl-D on an empty line). Ctrl-C throws
 * RuntimeError. Raw mode is turned off again on every way out.
 */
export async function promptSecret(question: string): Promise<string | null> {
  if (!Deno.stdin.isTerminal()) return null;
  const typed: number[] = [];
  // One byte per read: whatever was typed ahead after the Enter stays in the
  // terminal for the program's own reads.
  const buffer = new Uint8Array(1);
  // Echo off before the question shows, so nothing typed after it is echoed.
  Deno.stdin.setRaw(true);
  try {
    await Deno.stderr.write(encode(question));
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) return typed.length > 0 ? decodeLenient(new Uint8Array(typed)) : null;
      for (const byte of buffer.subarray(0, n)) {
        switch (byte) {
          case 0x0d: // Enter
          case 0x0a:
            return decodeLenient(new Uint8Array(typed));
          case 0x03: // Ctrl-C
            throw new RuntimeError("Cancelled");
          case 0x04: // Ctrl-D
            if (typed.length === 0) return null;
            break;
          case 0x15: // Ctrl-U: start again
            typed.length = 0;
            break;
          case 0x7f: // Backspace: drop a whole UTF-8 character
          case 0x08:
            while (typed.length > 0 && (typed.pop()! & 0xc0) === 0x80);
            break;
          default:
            if (byte >= 0x20 && typed.length < MAX_SECRET) typed.push(byte);
        }
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encode("\n"));
  }
}
