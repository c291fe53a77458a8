/**
 * The two sides of the seam between the chat server's hub and a cluster
 * layer: HubRelay (what the hub asks of the cluster; ClusterLink implements
 * it) and RelayedHub (what the cluster asks of the hub). Both are defined
 * here so the cluster never imports the server (the server imports the
 * cluster).
 */
import type { HistoryEvent } from "../events.ts";
import type { MemberInfo, RemoteMember } from "../members.ts";
import type { ClusterEvent } from "./wire.ts";

/**
 * The cluster as the hub and its sessions use it. None of it throws: the
 * layer queues, retries, and decides locally while Redis is away.
 */
export interface HubRelay {
  /** Claims a name cluster-wide, atomically (any case); "taken" if anyone has it. */
  claim(name: string, room: string): Promise<"ok" | "taken">;
  /** Renames a local member's claim atomically; "taken" if anyone has the new name. */
  rename(from: string, to: string): Promise<"ok" | "taken">;
  /** The recent history of `room` on every instance, oldest first (read before creating it here). */
  history(room: string): Promise<HistoryEvent[]>;
  /** This instance's id in the cluster. */
  readonly instance: string;
  /** Ships an event of a local member to the other instances. */
  publish(event: ClusterEvent): void;
  /** A local member is now in `room`. */
  moved(name: string, room: string): void;
  /** A local member left (or a claim was not used): its name is free again, cluster-wide. */
  released(name: string): void;
  /** The other instances' members, from a local cache. */
  others(): RemoteMember[];
}

/** A member of the hub, as far as the cluster layer handles one (a name lost in a split). */
export interface RelayedMember {
  readonly name: string;
  readonly room: { readonly name: string } | null;
  /** Sends a last line and closes (after the hub has removed the member). */
  finish(line: string): void;
}

/** What a cluster layer asks of the chat server's hub it relays for (server/hub.ts's Hub). */
export interface RelayedHub {
  /** Members on this instance now. */
  readonly size: number;
  /** The local members, as a cluster layer registers them. */
  locals(): MemberInfo[];
  /** Connects the hub to the cluster layer: from now on local events are relayed. */
  attach(relay: HubRelay): void;
  /** An event from another instance, for this instance's members. */
  deliver(event: ClusterEvent): void;
  /** Gives #lobby the cluster's history, if it has none of its own yet. */
  seedLobby(history: HistoryEvent[]): void;
  /** The local member called `name` (any case), if any. */
  find(name: string): RelayedMember | undefined;
  /** True if `member` is still a member. */
  has(member: RelayedMember): boolean;
  /** A `! ...` line for one member. */
  send(member: RelayedMember, line: string): void;
  /** Renames a member (the new name already claimed). */
  rename(member: RelayedMember, name: string): unknown;
  /** Removes a member; its room is told `reason`. */
  leave(member: RelayedMember, reason?: string): void;
}
