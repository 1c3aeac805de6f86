/**
 * The cap on open connections to one upstream host: one slot per socket. Every transport that dials
 * the host (HTTP pools, SMTP relay pools) takes its slots from the same object, through
 * UpstreamRegistry.connectionSlots(hostname); the implementation (FleetConnectionSlots) keeps the
 * fleet-wide budget as well as this process's UPSTREAM_MAX_CONNECTIONS.
 */
export interface ConnectionSlots {
  /** Slots this process holds now. */
  readonly inUse: number;
  /**
   * Resolves with the slot's release once a connection may open; call it when the socket has
   * closed (a second call does nothing). Rejects when the signal aborts or the slots are closed.
   */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** Refuses every waiting and later request for a slot. */
  close(error: Error): void;
}
