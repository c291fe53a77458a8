/**
 * The web service's rules before any route: the token (Bearer or the login
 * cookie), the failure budget, cross-site requests refused where they
 * change something, --allow/--deny, --metrics-allow, the
 * Content-Security-Policy, TLS with a Secure cookie.
 */
import { equal, match, notEqual, ok } from "node:assert/strict";

import { tempDirs } from "./_files.ts";
import { makeTestCerts, TOKEN, writeSecretFile } from "./_security.ts";
import { curl, http, startWeb, webBase } from "./_web.ts";

async function tokenServer(extra: string[] = []) {
  const dirs = await tempDirs();
  const tokenFile = await writeSecretFile(dirs.root, "token", TOKEN);
  const server = await startWeb(["--files-dir", dirs.files, "--token-file", tokenFile, ...extra]);
  return {
    server,
    dirs,
    tokenFile,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      await dirs[Symbol.asyncDispose]();
    },
  };
}

Deno.test("web security: with a token, no Bearer is 401, a wrong one 401, the right one 200", async () => {
  await using setup = await tokenServer();
  const base = webBase(setup.server);
  const none = await http(`${base}/status`);
  equal(none.status, 401);
  match(none.headers.get("www-authenticate")!, /^Bearer/);
  equal((await http(`${base}/status`, { headers: { authorization: "Bearer nope" } })).status, 401);
  const ok200 = await http(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  equal(ok200.status, 200);
  equal(JSON.parse(ok200.text).command, "STATUS");
  const put = await curl(
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-H",
    `Authorization: Bearer ${TOKEN}`,
    "-T",
    setup.tokenFile,
    `${base}/files/t.txt`,
  );
  equal(put.text, "201");
  equal((await http(`${base}/files/t.txt`)).status, 401);
});

Deno.test("web security: the login form sets an HttpOnly SameSite=Strict cookie that lets the browser in; logout ends it", async () => {
  await using setup = await tokenServer();
  const base = webBase(setup.server);
  const page = await http(`${base}/`);
  equal(page.status, 401);
  match(page.text, /<form method="post" action="\/login">/);
  const wrong = await http(`${base}/login`, {
    method: "POST",
    body: new URLSearchParams({ token: "wrong" }),
  });
  equal(wrong.status, 401);
  equal(wrong.headers.get("set-cookie"), null);
  const login = await http(`${base}/login`, {
    method: "POST",
    body: new URLSearchParams({ token: TOKEN }),
  });
  equal(login.status, 303);
  const cookie = login.headers.get("set-cookie")!;
  match(cookie, /^socketkit_session=[0-9a-f]{64}; /);
  match(cookie, /; HttpOnly/);
  match(cookie, /; SameSite=Strict/);
  ok(!cookie.includes("Secure"), "no Secure without TLS");
  ok(!cookie.includes(TOKEN), "the cookie is not the token");
  const session = cookie.split(";")[0]!;
  equal((await http(`${base}/status`, { headers: { cookie: session } })).status, 200);
  const logout = await http(`${base}/logout`, { method: "POST", headers: { cookie: session } });
  equal(logout.status, 303);
  match(logout.headers.get("set-cookie")!, /Max-Age=0/);
  equal((await http(`${base}/status`, { headers: { cookie: session } })).status, 401);
});

Deno.test("web security: failed tokens use up the address's budget like AUTH lines do", async () => {
  await using setup = await tokenServer(["--max-auth-failures", "2"]);
  const base = webBase(setup.server);
  const attempt = (token: string) =>
    http(`${base}/login`, { method: "POST", body: new URLSearchParams({ token }) });
  equal((await attempt("bad1")).status, 401);
  equal((await attempt("bad2")).status, 401);
  const cooling = await attempt(TOKEN);
  notEqual(cooling.status, 303, "the right token is refused while the address cools down");
});

Deno.test("web security: a cross-site Origin is refused on uploads, logins and WebSocket upgrades; none or our own is not", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files]);
  const base = webBase(server);
  const evil = { origin: "http://evil.example" };
  equal(
    (await http(`${base}/files/x.txt`, { method: "PUT", body: "x", headers: evil })).status,
    403,
  );
  equal((await http(`${base}/files/x.txt`)).status, 404, "nothing was stored");
  equal(
    (await http(`${base}/login`, { method: "POST", body: "token=x", headers: evil })).status,
    403,
  );
  const upgrade = {
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  equal((await http(`${base}/chat`, { headers: { ...upgrade, ...evil } })).status, 403);
  equal(
    (await http(`${base}/files/x.txt`, { method: "PUT", body: "x", headers: { origin: base } }))
      .status,
    201,
  );
  equal((await http(`${base}/files/y.txt`, { method: "PUT", body: "y" })).status, 201);
  equal(
    (await http(`${base}/files/x.txt`, { headers: evil })).status,
    200,
    "reading is not refused",
  );
});

Deno.test("web security: every HTML answer carries a strict Content-Security-Policy without inline script", async () => {
  await using setup = await tokenServer();
  const base = webBase(setup.server);
  const bearer = { authorization: `Bearer ${TOKEN}` };
  for (
    const [path, headers] of [
      ["/", {}],
      ["/login", {}],
      ["/", bearer],
      ["/files/", { ...bearer, accept: "text/html" }],
    ] as const
  ) {
    const got = await http(base + path, { headers });
    match(got.headers.get("content-type") ?? "", /text\/html/, path);
    const policy = got.headers.get("content-security-policy") ?? "";
    match(policy, /script-src 'self'/, path);
    match(policy, /default-src 'self'/, path);
    ok(!policy.includes("unsafe-inline") && !policy.includes("unsafe-eval"), path);
    equal(got.headers.get("x-content-type-options"), "nosniff", path);
  }
});

Deno.test("web security: --deny refuses before any route, and the refusal is counted", async () => {
  await using dirs = await tempDirs();
  await using server = await startWeb(["--files-dir", dirs.files, "--deny", "127.0.0.1"]);
  const got = await http(`${webBase(server)}/livez`);
  equal(got.status, 403);
  await server.waitFor(/\[Web Server\] Refused 127\.0\.0\.1:\d+: matches --deny/);
});

Deno.test("web security: /metrics, /livez, /readyz skip the token from --metrics-allow only", async () => {
  {
    await using setup = await tokenServer();
    const base = webBase(setup.server);
    for (const path of ["/metrics", "/livez", "/readyz"]) {
      equal((await http(base + path)).status, 200, `${path} from loopback, the default`);
    }
    equal((await http(`${base}/status`)).status, 401, "other routes still need the token");
  }
  await using setup = await tokenServer(["--metrics-allow", "10.0.0.0/8"]);
  const base = webBase(setup.server);
  equal((await http(`${base}/metrics`)).status, 403);
  equal((await http(`${base}/readyz`)).status, 403);
  const bearer = { authorization: `Bearer ${TOKEN}` };
  equal((await http(`${base}/metrics`, { headers: bearer })).status, 200);
});

Deno.test("web security: over TLS the login cookie is Secure", async () => {
  const certs = await makeTestCerts();
  if (certs === null) return;
  try {
    await using setup = await tokenServer(["--tls-cert", certs.cert, "--tls-key", certs.key]);
    const port = setup.server.port("[Web Server]");
    const got = await curl(
      "-i",
      "--cacert",
      certs.ca,
      "--data-urlencode",
      `token=${TOKEN}`,
      `https://127.0.0.1:${port}/login`,
    );
    equal(got.code, 0, got.stderr);
    match(got.text, /HTTP\/[\d.]+ 303/);
    match(
      got.text,
      /set-cookie: socketkit_session=[0-9a-f]{64};[^\n]*HttpOnly[^\n]*SameSite=Strict[^\n]*Secure/i,
    );
    const plain = await curl(
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${port}/livez`,
    );
    notEqual(plain.text, "200", "no plain HTTP on a TLS port");
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});

Deno.test("web security: a new certificate on reload (SIGHUP) is served to new HTTPS clients", async () => {
  const certs = await makeTestCerts();
  if (certs === null) return;
  try {
    await using dirs = await tempDirs();
    const certFile = `${dirs.root}/cert.pem`;
    const keyFile = `${dirs.root}/key.pem`;
    await Deno.copyFile(certs.cert, certFile);
    await Deno.copyFile(certs.key, keyFile);
    await using server = await startWeb(
      ["--files-dir", dirs.files, "--tls-cert", certFile, "--tls-key", keyFile],
      "web",
    );
    const url = `https://127.0.0.1:${server.port("[Web Server]")}/livez`;
    equal((await curl("--cacert", certs.ca, url)).text, "ok\n");
    await Deno.copyFile(certs.otherCert, certFile);
    await Deno.copyFile(certs.otherKey, keyFile);
    server.reload();
    await server.waitFor(/SIGHUP: new TLS certificate/);
    const after = await curl("--cacert", certs.ca, url);
    notEqual(after.code, 0, "the new certificate is for another name");
    match(after.stderr, /certificate|SSL/i);
    const named = await curl(
      "--cacert",
      certs.ca,
      "--resolve",
      `other.example:${server.port("[Web Server]")}:127.0.0.1`,
      url.replace("127.0.0.1", "other.example"),
    );
    equal(named.text, "ok\n", named.stderr);
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});
