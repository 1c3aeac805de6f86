import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** What the Dockerfile's final stage runs, replayed into a folder of this machine. */
export interface ReplayedImage {
  /** The final stage's WORKDIR: only what its COPY --from=build lines brought. */
  readonly folder: string;
  /** Its ENV lines. */
  readonly env: Readonly<Record<string, string>>;
  /** The numeric ids of its USER. */
  readonly uid: number;
  readonly gid: number;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** The HEALTHCHECK's command (exec form). */
  readonly healthcheck: readonly string[];
  /** RUN steps not replayed: system packages this machine already has. */
  readonly skipped: readonly string[];
}

/** The image's users, by name: the node images' `node` user is uid and gid 1000. */
const IMAGE_USERS: Readonly<Record<string, number>> = { node: 1000 };

/**
 * Replays `Dockerfile` of `context` outside Docker, in `scratch`: the build stage's COPY and npm
 * RUN steps in `scratch/build`, then the final stage's COPY --from=build lines into `scratch/app`.
 * `buildArgs` are `--build-arg` values, seen by the RUN steps after their ARG line. An instruction
 * this replay does not know is an error, so the Dockerfile cannot drift from it.
 */
export function replayImageBuild(
  context: string,
  scratch: string,
  buildArgs: Readonly<Record<string, string>> = {},
): ReplayedImage {
  const [build, final, ...rest] = stagesOf(readFileSync(join(context, 'Dockerfile'), 'utf8'));
  if (!build || !final || rest.length > 0)
    throw new Error('Dockerfile: expected a build stage and a final stage');
  chmodSync(scratch, 0o755);
  const buildFolder = join(scratch, 'build');
  const folder = join(scratch, 'app');
  const skipped: string[] = [];
  const declared: Record<string, string> = {};
  for (const { keyword, args } of build) {
    if (keyword === 'WORKDIR' || keyword === 'FROM') continue;
    if (keyword === 'COPY') copyFromContext(context, buildFolder, args.split(/\s+/));
    else if (keyword === 'RUN') skipped.push(...run(buildFolder, args, declared));
    else if (keyword === 'ARG') {
      const [name, fallback] = args.split('=');
      const value = buildArgs[name] ?? fallback;
      if (value !== undefined) declared[name] = value;
    } else throw new Error(`Dockerfile build stage: ${keyword} is not replayed`);
  }
  const image = {
    env: {} as Record<string, string>,
    uid: 0,
    gid: 0,
    entrypoint: [],
    cmd: [],
    healthcheck: [],
  };
  mkdirSync(folder, { mode: 0o755 });
  for (const { keyword, args } of final) {
    if (['FROM', 'WORKDIR', 'EXPOSE'].includes(keyword)) continue;
    if (keyword === 'ENV') {
      for (const pair of args.split(/\s+/)) {
        const [name, ...value] = pair.split('=');
        image.env[name] = value.join('=');
      }
    } else if (keyword === 'COPY') {
      const match = /^--from=build\s+\/app\/(\S+)\s+\.\/(\S*)$/.exec(args);
      if (!match) throw new Error(`Dockerfile final stage: COPY ${args} is not replayed`);
      const [, source, destination] = match;
      cpSync(join(buildFolder, source), join(folder, destination || basename(source)), { recursive: true });
    } else if (keyword === 'USER') {
      const id = IMAGE_USERS[args];
      if (id === undefined) throw new Error(`Dockerfile: unknown user ${args}`);
      image.uid = image.gid = id;
    } else if (keyword === 'HEALTHCHECK') {
      image.healthcheck = JSON.parse(args.slice(args.indexOf('CMD') + 3));
    } else if (keyword === 'ENTRYPOINT' || keyword === 'CMD') {
      image[keyword === 'CMD' ? 'cmd' : 'entrypoint'] = JSON.parse(args);
    } else throw new Error(`Dockerfile final stage: ${keyword} is not replayed`);
  }
  return { folder, skipped, ...image };
}

function stagesOf(dockerfile: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  for (const line of lines) {
    const [keyword, ...args] = line.split(/\s+/);
    if (keyword === 'FROM') stages.push([]);
    stages.at(-1)!.push({ keyword, args: args.join(' ') });
  }
  return stages;
}

/** COPY from the build context; `.` honours .dockerignore (its entries name top-level paths). */
function copyFromContext(context: string, folder: string, args: string[]): void {
  const destination = join(folder, args.pop()!);
  mkdirSync(folder, { recursive: true, mode: 0o755 });
  const ignored = readFileSync(join(context, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim().replace(/\/$/, ''))
    .filter((line) => line !== '' && !line.startsWith('#'));
  for (const source of args) {
    if (source === '.') {
      cpSync(context, destination, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (path) => !ignored.some((entry) => path === join(context, entry)),
      });
    } else cpSync(join(context, source), join(destination, source));
  }
}

/** Runs the npm commands of a RUN line; returns the commands it left out (system packages). */
function run(folder: string, line: string, args: Readonly<Record<string, string>>): string[] {
  // As in the image's build: its build arguments, no NODE_ENV (jest sets one), whatever else this process has.
  const env = { ...process.env, ...args };
  delete env.NODE_ENV;
  const skipped: string[] = [];
  for (const command of line.split('&&').map((part) => part.trim())) {
    if (!command.startsWith('npm ')) {
      skipped.push(command);
      continue;
    }
    execFileSync('sh', ['-c', command], { cwd: folder, stdio: ['ignore', 'ignore', 'pipe'], env });
  }
  return skipped;
}
