import type { ServerResponse } from 'node:http';
import type { RecordedRequest, UpstreamHandler } from './fake-upstream';

/** How a released request is answered. */
export type HeldAnswer = (request: RecordedRequest, response: ServerResponse) => void;

interface Held {
  readonly request: RecordedRequest;
  readonly response: ServerResponse;
}

/**
 * A FakeUpstream handler that answers nothing until the test says so: every request waits, with
 * its connection open, until `release` answers it. Lets a test line up what happens while an
 * attempt is in flight (e.g. another process resuming) before the attempt may finish.
 */
export class UpstreamHold {
  private readonly held: Held[] = [];

  /** Set it as `FakeUpstream.handler`. */
  readonly handler: UpstreamHandler = (request, response) => {
    this.held.push({ request, response });
  };

  /** The requests waiting for an answer now that match. */
  waiting(match: (request: RecordedRequest) => boolean = () => true): RecordedRequest[] {
    return this.held.filter((held) => match(held.request)).map((held) => held.request);
  }

  /** Answers every waiting request that matches; returns how many it answered. */
  release(match: (request: RecordedRequest) => boolean, answer: HeldAnswer): number {
    const chosen = this.held.filter((held) => match(held.request));
    for (const held of chosen) {
      this.held.splice(this.held.indexOf(held), 1);
      if (!held.response.destroyed) answer(held.request, held.response);
    }
    return chosen.length;
  }

  /** Drops every waiting request's connection (for clean-up). */
  abandon(): void {
    for (const held of this.held.splice(0)) held.response.destroy();
  }
}
