/**
 * Run by udp_engine_test.ts in a child process (a revoked permission cannot
 * be granted again): opens the batch engine, gives up FFI as serve does, then
 * moves datagrams both ways and has a reply refused (its error read through
 * errno), all without the permission. Prints one line; exits 1 on failure.
 */
import { TIMED_OUT, within } from "../lib/base/deadline.ts";
import { decodeLenient, encode } from "../lib/base/text.ts";
import { BatchUdpEngine } from "../lib/net/udp_batch_engine.ts";

const failures: string[] = [];
const engine = await BatchUdpEngine.open("127.0.0.1", 0, {
  onSendError: (_to, error) => failures.push(error.message),
});
const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
try {
  Deno.permissions.revokeSync({ name: "ffi" });
  if (Deno.permissions.querySync({ name: "ffi" }).state === "granted") {
    throw new Error("not revoked");
  }
  for (let round = 0; round < 3; round++) {
    await client.send(encode(`sandboxed ${round}`), engine.addr);
    const batch = await within(engine.receive(), 5000);
    if (batch === TIMED_OUT || batch === null) throw new Error(`no datagram in round ${round}`);
    if (decodeLenient(batch[0]!.data) !== `sandboxed ${round}`) throw new Error("wrong datagram");
    await engine.send([
      { data: encode("refused"), to: { transport: "udp", hostname: "127.0.0.1", port: 0 } },
      { data: encode(`still ok ${round}`), to: batch[0]!.from },
    ]);
    const reply = await within(client.receive(new Uint8Array(64)), 5000);
    if (reply === TIMED_OUT || decodeLenient(reply[0]) !== `still ok ${round}`) {
      throw new Error(`no reply in round ${round}`);
    }
  }
  if (failures.length !== 3 || !failures.every((f) => f === "sendmmsg: EINVAL")) {
    throw new Error(`refusals reported: ${JSON.stringify(failures)}`);
  }
  console.log("ffi revoked; replies sent; refused replies reported");
} finally {
  client.close();
  await engine.close();
}
