/**
 * The rule every budget store applies, atomically, when a replica asks to open one more connection
 * to a host (the Redis store runs the same rule in Lua):
 *
 *   live      the replicas whose heartbeat for the host is younger than UPSTREAM_FLEET_HEARTBEAT_TTL_MS
 *             (a replica joins a host's fleet with its first request for a connection there)
 *   n, B      how many they are, and the host's budget
 *   rank(R)   (R's position among them, ordered by replica id, + floor(now / rotation)) mod n,
 *             rotation being UPSTREAM_CONNECTION_TTL_MS
 *   share(R)  floor(B / n), plus one when rank(R) < B mod n: the shares add up to exactly B, and
 *             the extra connections (or, with more replicas than connections, the single ones)
 *             move to other replicas each rotation
 *   owed      a live replica other than R that is waiting for a connection while it holds fewer
 *             than its share
 *
 *   R may open one  iff  total held by the live replicas < B
 *                        and (R holds fewer than share(R), or no replica is owed)
 *
 * So the fleet never holds more than B (every grant checks the total under one lock), a replica
 * may borrow what others leave unused, and it may not borrow while anyone is owed. The holdings of
 * a replica that stops heart-beating stop counting once its heartbeat is older than the TTL.
 *
 * How soon a newcomer (or a replica whose share grew) gets its share, with n ≤ B: once it asks, no
 * one can borrow; connections are retired UPSTREAM_CONNECTION_TTL_MS after they opened (at the end
 * of the request then in flight) and idle ones after UPSTREAM_KEEP_ALIVE_MS; it asks again at
 * least every 500 ms. So within UPSTREAM_CONNECTION_TTL_MS + the longest request + 0.5 s it holds
 * its share. When a replica dies its holdings are free after UPSTREAM_FLEET_HEARTBEAT_TTL_MS.
 */

/** One replica's standing on one host, as a store keeps it. */
export interface FleetHolding {
  readonly replica: string;
  readonly held: number;
  /** Until when (store clock, ms) it waits for a connection; in the past when it does not. */
  readonly wantingUntil: number;
}

/** What the store tells a replica about a host's fleet. */
export interface FleetView {
  /** The replica's fair share of the host's budget now. */
  readonly share: number;
  /** Live replicas using the host, the asking one included. */
  readonly replicas: number;
  /** Connections the live replicas hold, after this decision. */
  readonly total: number;
}

export interface ConnectionDecision extends FleetView {
  readonly granted: boolean;
}

/** The share of the replica at `index` (0-based, in replica id order) among `live` replicas. */
export function shareAt(
  index: number,
  live: number,
  budget: number,
  now: number,
  rotationMs: number,
): number {
  const rank = (index + Math.floor(now / rotationMs)) % live;
  return Math.floor(budget / live) + (rank < budget % live ? 1 : 0);
}

/**
 * Whether `replica` may open one more connection, given every live holding of the host (its own
 * included, with what it holds now).
 */
export function decideConnection(
  holdings: readonly FleetHolding[],
  replica: string,
  budget: number,
  now: number,
  rotationMs: number,
): ConnectionDecision {
  const view = viewOf(holdings, replica, budget, now, rotationMs);
  const granted = view.total < budget && (view.held < view.share || !view.owedElsewhere);
  return {
    granted,
    share: view.share,
    replicas: view.replicas,
    total: view.total + (granted ? 1 : 0),
  };
}

/** The replica's share and the fleet's total, without asking for anything. */
export function fleetView(
  holdings: readonly FleetHolding[],
  replica: string,
  budget: number,
  now: number,
  rotationMs: number,
): FleetView {
  const { share, replicas, total } = viewOf(holdings, replica, budget, now, rotationMs);
  return { share, replicas, total };
}

function viewOf(
  holdings: readonly FleetHolding[],
  replica: string,
  budget: number,
  now: number,
  rotationMs: number,
): FleetView & { held: number; owedElsewhere: boolean } {
  const ordered = [...holdings].sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  let total = 0;
  let share = 0;
  let held = 0;
  let owedElsewhere = false;
  ordered.forEach((holding, index) => {
    const due = shareAt(index, ordered.length, budget, now, rotationMs);
    total += holding.held;
    if (holding.replica === replica) {
      share = due;
      held = holding.held;
    } else if (holding.wantingUntil > now && holding.held < due) {
      owedElsewhere = true;
    }
  });
  return { share, replicas: ordered.length, total, held, owedElsewhere };
}
