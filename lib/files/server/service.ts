/**
 * TCP file service (--file-port): list, stat, download, upload, delete and
 * rename files in --files-dir, with resume and SHA-256 verification of every
 * transfer. Each connection is a FileConnection; this class owns what they
 * share: the store, the transfer slots (in all and per address), the
 * counters and the hourly clean-up.
 */
import type { Logger } from "../../base/logger.ts";
import { PerAddressCounter } from "../../net/per_address.ts";
import { TcpService } from "../../net/tcp_service.ts";
import type { Endpoint, Service, ServiceDeps } from "../../service.ts";
import type { FilesConfig } from "../config.ts";
import { loadHashing } from "../hashing.ts";
import { FileConnection, type FileServiceState } from "./connection.ts";
import { errorLine, FILE_LABEL } from "../protocol.ts";
import { filesStatus } from "../status.ts";
import { FileRefusal } from "./refusals.ts";
import { FileStore } from "./store.ts";
import { ListingWorkers } from "./listing_workers.ts";

const SWEEP_EVERY_MS = 60 * 60 * 1000;

/** The file service of one server. */
export class FileService implements Service {
  readonly endpoints: readonly Endpoint[];
  #state: FileServiceState;
  #tcp: TcpService;
  #sweeper: ReturnType<typeof setInterval>;
  #loadHashing: ReturnType<typeof setTimeout>;

  private constructor(config: FilesConfig, deps: ServiceDeps, store: FileStore) {
    const { log, tcp: limits } = deps;
    this.#state = fileServiceState(config, store, log, deps.gate.tokenRequired);
    // The listing worker starts after the Listening lines, while FFI is still there.
    const listings = this.#state.listings;
    deps.afterListening?.defer(() => listings.prestart());
    this.#tcp = TcpService.listen({
      label: FILE_LABEL,
      service: "file service",
      hostname: deps.host,
      port: config.port,
      log,
      maxConnections: limits.maxConnections,
      idle: { ms: limits.idleTimeout },
      busyReply: errorLine(
        "busy",
        `Too many connections (${limits.maxConnections}); try again later`,
      ),
      perAddressReply: (cap) =>
        errorLine("busy", `Too many connections from your address (${cap}); try again later`),
      gate: deps.gate,
      handle: (tracked) => new FileConnection(tracked, this.#state).run(),
    });
    // node:crypto for transfers (30-70 ms) loads once the Listening lines
    // (logged after this, when every service has started) are written, so
    // it holds up neither them nor their write; each connection awaits it
    // before its first request.
    this.#loadHashing = setTimeout(() => {
      log.written().then(loadHashing).catch((error) =>
        log.error(`${FILE_LABEL} Cannot load SHA-256: ${error}`)
      );
    }, 0);
    this.#sweeper = setInterval(() => {
      store.sweep().catch((error) => log.error(`${FILE_LABEL} Cleaning up failed: ${error}`));
    }, SWEEP_EVERY_MS);
    const tcp = this.#tcp;
    this.endpoints = [{
      label: FILE_LABEL,
      transport: "tcp",
      hostname: tcp.hostname,
      port: tcp.port,
      connections: () => tcp.connectionCount,
    }];
  }

  /**
   * Opens --files-dir (creating it) and binds --file-port. Throws
   * RuntimeError when the directory cannot be used or the port bound.
   */
  static async start(config: FilesConfig, deps: ServiceDeps): Promise<FileService> {
    return new FileService(config, deps, await openStore(config));
  }

  /**
   * What the web service's file routes share with this service: the store,
   * the transfer slots and the byte counters.
   */
  shared(): FileServiceState {
    return this.#state;
  }

  status() {
    const { store, counters } = this.#state;
    return filesStatus({ stored: store.count, ...counters });
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweeper);
    clearTimeout(this.#loadHashing);
    this.#state.listings.close();
    await this.#tcp.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * The store with its transfer slots (--max-transfers, --max-transfers-per-ip)
 * and byte counters: what FileService and, when the file service does not
 * run, the web service's file routes serve from. Opens --files-dir (creating
 * it); throws RuntimeError when it cannot be used.
 */
export async function openFileServiceState(
  config: FilesConfig,
  log: Logger,
  tokenRequired: boolean,
): Promise<FileServiceState> {
  return fileServiceState(config, await openStore(config), log, tokenRequired);
}

function openStore(config: FilesConfig): Promise<FileStore> {
  return FileStore.open(config.dir, {
    maxFileSize: config.maxFileSize,
    keepPartial: config.keepPartial,
    maxDirSize: config.maxDirSize,
    maxPartial: config.maxPartial,
  });
}

function fileServiceState(
  config: FilesConfig,
  store: FileStore,
  log: Logger,
  tokenRequired: boolean,
): FileServiceState {
  let transfers = 0;
  /** Transfers running per address, for --max-transfers-per-ip. */
  const perAddress = new PerAddressCounter(config.maxTransfersPerIp);
  return {
    store,
    listings: new ListingWorkers(),
    log,
    config,
    tokenRequired,
    counters: { bytesUploaded: 0, bytesDownloaded: 0 },
    inTransferSlot: async (peerHost, run) => {
      if (transfers >= config.maxTransfers) {
        throw new FileRefusal(
          "busy",
          `The server is running ${config.maxTransfers} transfers (--max-transfers); try again later`,
        );
      }
      const claim = perAddress.claim(peerHost);
      if (!claim.ok) {
        throw new FileRefusal(
          "busy",
          `Your address is running ${claim.open} transfers, the most one address may (--max-transfers-per-ip); try again when one is done`,
        );
      }
      transfers++;
      try {
        return await run();
      } finally {
        transfers--;
        claim.release();
      }
    },
  };
}
