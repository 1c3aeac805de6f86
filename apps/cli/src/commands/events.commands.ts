import { EventFilter, FeedEvent, MailGatewayClient, MessageEventType } from '@mailgateway/client';
import { Command, Option } from 'commander';
import { withClient } from '../cli-program';
import { CursorFile } from '../cursor-file';
import { collectEventType, MAX_PAGE_SIZE, pageSize } from '../options';
import { printEvent, printEventJson } from '../output/events';

const DEFAULT_PAGE_SIZE = 100;

interface EventsOptions {
  follow?: boolean;
  all?: boolean;
  cursorFile?: string;
  type: MessageEventType[];
  messageId?: string;
  pageSize: number;
  json?: boolean;
}

/** Where reading starts and where each new cursor goes: the cursor file, or nowhere. */
interface Position {
  readonly cursor: string;
  save(cursor: string): void;
}

/** Pages of the feed: one, or with --all every page until the reader has caught up. */
async function readPages(
  client: MailGatewayClient,
  options: EventsOptions,
  filter: EventFilter,
  position: Position,
  print: (event: FeedEvent) => void,
): Promise<void> {
  let cursor = position.cursor;
  for (;;) {
    const page = await client.listEvents({ cursor, pageSize: options.pageSize, filter });
    page.events.forEach(print);
    cursor = page.nextCursor;
    position.save(cursor);
    if (!options.all || page.events.length < options.pageSize) return;
  }
}

/** The live feed until SIGINT or SIGTERM; the cursor is saved after each item is printed. */
async function follow(
  client: MailGatewayClient,
  filter: EventFilter,
  position: Position,
  print: (event: FeedEvent) => void,
): Promise<void> {
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    // Printing and saving happen in one turn of the event loop: a signal lands between items, so
    // a stopped run has saved the cursor of the last event it printed.
    for await (const item of client.followEvents({
      cursor: position.cursor,
      filter,
      signal: stopping.signal,
    })) {
      if (item.kind === 'event') print(item.event);
      position.save(item.cursor);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** `events`: the calling source's event feed, a page at a time or followed live. */
export function addEventCommands(program: Command): void {
  program
    .command('events')
    .description(
      "print the event feed of the key's source (needs mail.read): one page, or live with --follow",
    )
    .option(
      '--follow',
      'follow new events live until interrupted (SIGINT or SIGTERM), reconnecting as needed',
    )
    .addOption(new Option('--all', 'every page until caught up, not just one').conflicts('follow'))
    .option(
      '--cursor-file <path>',
      'start from the cursor in this file (if it exists) and store the latest cursor there',
    )
    .option(
      '--type <type>',
      'only events of this type, e.g. DELIVERED (repeat for more)',
      collectEventType,
      [],
    )
    .option('--message-id <id>', "only this message's events")
    .option(`--page-size <n>`, `events per page, 1 to ${MAX_PAGE_SIZE}`, pageSize, DEFAULT_PAGE_SIZE)
    .option('--json', 'one JSON object per event and line')
    .action((options: EventsOptions) => {
      const cursorFile = options.cursorFile === undefined ? undefined : new CursorFile(options.cursorFile);
      const position: Position = {
        cursor: cursorFile?.load() ?? '',
        save: (cursor) => cursorFile?.save(cursor),
      };
      const filter: EventFilter = { types: options.type, messageId: options.messageId ?? '' };
      const print = options.json ? printEventJson : printEvent;
      return withClient(program, (client) =>
        options.follow
          ? follow(client, filter, position, print)
          : readPages(client, options, filter, position, print),
      );
    });
}
