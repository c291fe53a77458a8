/**
 * The one shape of a chat member as it is listed and shared: what a cluster
 * stores in Redis, what /users, /rooms and the info service's USERS are
 * built from. (The live member, with its socket and queue, is server/room.ts's
 * Member.)
 */

/** A member by name, room and join time; `instance` says which instance of a cluster has it. */
export interface MemberInfo {
  name: string;
  /** The room it is in, e.g. "#lobby". */
  room: string;
  /** Date.now() (or the injected clock) when the member joined. */
  joinedAt: number;
  /** The cluster instance it is on (only with a cluster). */
  instance?: string;
}

/** A member of a known instance of the cluster. */
export type RemoteMember = MemberInfo & { instance: string };
