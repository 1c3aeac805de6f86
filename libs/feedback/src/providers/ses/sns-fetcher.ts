/**
 * Fetches an SNS URL (a signing certificate, a subscription confirmation) and resolves to the
 * body of a 200 answer; rejects otherwise. Callers check the URL against the SNS host rule first.
 */
export interface SnsFetcher {
  get(url: string): Promise<string>;
}
