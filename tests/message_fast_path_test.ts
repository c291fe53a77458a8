/**
 * Behaviour the message services' fast paths (bench-driven optimisations)
 * must keep: exactly the replies, in order, that the plain code gave.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { LineSplitter } from "../lib/net/line_splitter.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { isExitCommand } from "../lib/message/exit.ts";
import { LineClient, udpRequest } from "./_helpers.ts";
import { InProcessServer } from "./_in_process.ts";

const ACK_TCP = "[TCP Server] Your message was received!";

/** The definition the byte-level check must agree with. */
function reference(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes.length > 64) return false;
  return decodeLenient(bytes).trim().toLowerCase() === "exit";
}

Deno.test("text: isExitCommand agrees with decode-trim-lowercase on tricky and random input", () => {
  const cases = [
    "exit",
    "EXIT",
    "  Exit \t\r",
    "\x0b\x0cexit\x0b",
    "\x1cexit",
    "exit\x00",
    "exits",
    "e xit",
    "\u00a0exit",
    "exit\u3000",
    "\ufeffEXIT",
    "ex\u0130t",
    "EX\u0130T",
    "\u2028exit\u2029",
    "exi",
    "    ",
    "x".repeat(70),
    " ".repeat(60) + "exit",
    " ".repeat(61) + "exit",
  ];
  for (const text of cases) {
    const bytes = encode(text);
    equal(isExitCommand(bytes), reference(bytes), JSON.stringify(text));
  }
  // Random short byte strings built around the word, with spaces and high bytes.
  const alphabet = [0x20, 0x09, 0x0d, 0x0a, 0x00, 0xc2, 0xa0, 0xe3, 0x80, 0x80, 0xff, 0x45, 0x65];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 20_000; i++) {
    const pad = () => Array.from({ length: next() % 4 }, () => alphabet[next() % alphabet.length]!);
    const word = [..."exit"].map((c) => next() % 2 ? c.toUpperCase() : c).join("");
    const middle = next() % 5 === 0 ? [next() % 256] : [...encode(word)];
    const bytes = new Uint8Array([...pad(), ...middle, ...pad()]);
    equal(isExitCommand(bytes), reference(bytes), `bytes ${[...bytes]}`);
  }
});

/** Every line and overflow the splitter reports for `chunks`, then a flush. */
function split(maxLine: number, chunks: Uint8Array[]): string[] {
  const out: string[] = [];
  const splitter = new LineSplitter(maxLine);
  const handler = {
    line: (bytes: Uint8Array) => out.push(decodeLenient(bytes)),
    overflow: () => out.push("<overflow>"),
  };
  for (const chunk of chunks) splitter.push(chunk, handler);
  splitter.flush(handler);
  return out;
}

Deno.test("line splitter: any chunking of a stream gives the same lines and overflows", () => {
  const stream = encode(
    "short\r\n" + "x".repeat(99) + "\n" + "y".repeat(100) + "\r\n" + "z".repeat(101) +
      "\n\n" + "w".repeat(2500) + "\nlast\r",
  );
  const whole = split(100, [stream]);
  deepStrictEqual(whole, [
    "short",
    "x".repeat(99),
    "y".repeat(100),
    "<overflow>",
    "",
    "<overflow>",
    "last",
  ]);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let round = 0; round < 300; round++) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + (next() % (round % 3 === 0 ? 4 : 300));
      chunks.push(stream.slice(at, at + size));
      at += size;
    }
    deepStrictEqual(split(100, chunks), whole, `round ${round}`);
  }
});

Deno.test("tcp message: 3,000 lines in one write get 3,000 acknowledgements", async () => {
  await using server = await InProcessServer.start(["--quiet"]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  const count = 3000; // more than one shared run of acknowledgements
  await client.send("m\n".repeat(count));
  for (let i = 0; i < count; i++) equal(await client.readLine(), ACK_TCP);
});

Deno.test("tcp message: long lines across growing reads are acknowledged once each", async () => {
  await using server = await InProcessServer.start(["--quiet"]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  // The read buffer starts at 1 KiB and grows; lines must not be cut where it grows.
  await client.send("a".repeat(60_000) + "\n" + "b".repeat(3000) + "\nc\n");
  for (let i = 0; i < 3; i++) equal(await client.readLine(), ACK_TCP);
  await client.send("d\n");
  equal(await client.readLine(), ACK_TCP);
});

Deno.test("tcp message: acknowledgements and other replies in one read keep their order", async () => {
  await using server = await InProcessServer.start([
    "--quiet",
    "--exit-from",
    "none",
    "--max-message",
    "16",
  ]);
  using client = await LineClient.connect(server.port("[TCP Server]"));
  await client.send(`a\nb\n${"x".repeat(40)}\nc\n exit\nd\n`);
  const replies = [];
  for (let i = 0; i < 6; i++) replies.push(await client.readLine());
  deepStrictEqual(replies, [
    ACK_TCP,
    ACK_TCP,
    "[TCP Server] Error: message too long (over 16 bytes); it was discarded",
    ACK_TCP,
    "[TCP Server] Refusing exit: this server does not accept exit (--exit-from none)",
    ACK_TCP,
  ]);
});

Deno.test("tcp and udp message: the log shows plain, escaped and long messages as before", async () => {
  await using server = await InProcessServer.start();
  using client = await LineClient.connect(server.port("[TCP Server]"));
  const long = "L".repeat(250);
  await client.send(`plain text\t~!\nh\u00e9llo \x1b[31mred\x7f\n${long}\n`);
  for (let i = 0; i < 3; i++) equal(await client.readLine(), ACK_TCP);
  const peer = String.raw`127\.0\.0\.1:\d+`;
  await server.waitFor(new RegExp(`^\\[TCP Server\\] Received from ${peer}: plain text\t~!$`));
  await server.waitFor(
    new RegExp(String.raw`^\[TCP Server\] Received from ${peer}: h\u00e9llo \\x1b\[31mred\\x7f$`),
  );
  await server.waitFor(
    new RegExp(
      `^\\[TCP Server\\] Received from ${peer}: ${"L".repeat(200)}\\.\\.\\. \\(250 bytes\\)$`,
    ),
  );
  equal(
    await udpRequest(server.port("[UDP Server]"), "udp \x01 text"),
    "[UDP Server] Your message was received!",
  );
  await server.waitFor(
    new RegExp(String.raw`^\[UDP Server\] Received from ${peer}: udp \\x01 text$`),
  );
});

Deno.test("udp message: exit in mixed case with spaces is still exit", async () => {
  await using server = await InProcessServer.start(["--quiet", "--exit-from", "none"]);
  equal(
    await udpRequest(server.port("[UDP Server]"), "\t ExIt \r\n"),
    "[UDP Server] Refusing exit: this server does not accept exit (--exit-from none)",
  );
  equal(
    await udpRequest(server.port("[UDP Server]"), "exits"),
    "[UDP Server] Your message was received!",
  );
});
