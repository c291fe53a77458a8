/**
 * The baseline for the files scenario: the same bytes over a bare TCP
 * connection between two Deno processes, streamed file to socket to file
 * (`readable.pipeTo`), ending with an fdatasync like the file service, but no
 * protocol, no hashing, no rename.
 *
 *   deno run -A _bare_copy.ts recv OUT     prints "port N", then {"seconds": S} when done
 *   deno run -A _bare_copy.ts send PORT IN
 */
const [mode, a, b] = Deno.args;
if (mode === "recv" && a) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`port ${(listener.addr as Deno.NetAddr).port}`);
  const conn = await listener.accept();
  const began = performance.now();
  const file = await Deno.open(a, { write: true, create: true, truncate: true });
  let bytes = 0;
  await conn.readable.pipeTo(
    new WritableStream({
      async write(chunk) {
        bytes += chunk.length;
        for (let w = 0; w < chunk.length;) w += await file.write(chunk.subarray(w));
      },
    }),
  );
  await file.syncData();
  file.close();
  console.log(JSON.stringify({ seconds: (performance.now() - began) / 1000, bytes }));
  listener.close();
} else if (mode === "send" && a && b) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(a) });
  const file = await Deno.open(b, { read: true });
  await file.readable.pipeTo(conn.writable);
} else {
  console.error("usage: _bare_copy.ts recv OUT | send PORT IN");
  Deno.exit(2);
}
