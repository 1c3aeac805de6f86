import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { bufferedStdout } from './buffered-stdout';

/**
 * Lines of one size (the number is padded), so that 1001 of them leave a part batch waiting, as
 * these tests need, rather than ending on a batch boundary.
 */
const LINES = 1001;

/**
 * A process that writes LINES call lines to the gateway logger's stdout, says "logged" on stderr
 * and then ends as `ending` says. The logger's modules are transpiled, as they are, for it.
 */
const CHILD = `
const { createGatewayLogger } = require('./gateway-logger.js');
const logger = createGatewayLogger('log').child({ context: 'GrpcCall' });
const ending = process.argv[2];
// What the gateway does on SIGTERM: log, close, log, process.exit; here with nothing in between.
process.once('SIGTERM', () => {
  logger.info('SIGTERM: stopping');
  logger.info('Stopped');
  process.exit(0);
});
for (let line = 0; line < ${LINES}; line++) logger.info({ method: 'SendMail', code: 'OK', line: String(line).padStart(4, '0') }, 'grpc call');
if (ending === 'error then SIGKILL') logger.error({ line: '${LINES}' }, 'grpc call');
process.stderr.write('logged\\n');
// Right away, so that the flush interval cannot write what is waiting first.
if (ending === 'uncaught exception') throw new Error('uncaught');
if (ending === 'process.exit after an error') { logger.error('Start-up failed'); process.exit(1); }
if (ending === 'error then SIGKILL') process.kill(process.pid, 'SIGKILL');
setInterval(() => {}, 1000);
`;

interface Ended {
  readonly lines: Record<string, unknown>[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

describe(bufferedStdout.name, () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'buffered-stdout-'));
    for (const module of ['gateway-logger', 'buffered-stdout', 'redaction']) {
      const source = readFileSync(join(__dirname, `${module}.ts`), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: {
          module: ts.ModuleKind.CommonJS,
          target: ts.ScriptTarget.ES2022,
          esModuleInterop: true,
        },
      });
      writeFileSync(join(dir, `${module}.js`), outputText);
    }
    writeFileSync(join(dir, 'child.js'), CHILD);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the child; `whenLogged` acts on it once it has logged, and on its stdout so far. */
  function run(
    ending: string,
    whenLogged: (child: { kill(signal: NodeJS.Signals): void }, stdout: () => string) => void = () => {},
  ): Promise<Ended> {
    const child = spawn(process.execPath, ['child.js', ending], {
      cwd: dir,
      env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (chunk.toString().includes('logged')) whenLogged(child, () => stdout);
    });
    return new Promise((resolve) =>
      child.on('close', (code, signal) => {
        const lines = stdout
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        if (lines.length === 0) process.stderr.write(stderr);
        resolve({ lines, code, signal });
      }),
    );
  }

  const callNumbers = (lines: Record<string, unknown>[]) =>
    lines.filter((line) => typeof line.line === 'string').map((line) => Number(line.line));
  const everyLineInOrder = Array.from({ length: LINES }, (_, line) => line);

  it('writes every line, in order, when the process exits on SIGTERM', async () => {
    const ended = await run('SIGTERM', (child) => child.kill('SIGTERM'));
    expect(ended.code).toBe(0);
    expect(callNumbers(ended.lines)).toEqual(everyLineInOrder);
    expect(ended.lines.slice(-2).map((line) => line.msg)).toEqual(['SIGTERM: stopping', 'Stopped']);
  });

  it('writes every line when an uncaught exception ends the process', async () => {
    const ended = await run('uncaught exception');
    expect(ended.code).toBe(1);
    expect(callNumbers(ended.lines)).toEqual(everyLineInOrder);
  });

  it('writes every line and the error when process.exit follows an error', async () => {
    const ended = await run('process.exit after an error');
    expect(ended.code).toBe(1);
    expect(callNumbers(ended.lines)).toEqual(everyLineInOrder);
    expect(ended.lines.at(-1)).toMatchObject({ level: 'error', msg: 'Start-up failed' });
  });

  it('writes an error line at once, with the lines before it, so a SIGKILL right after loses neither', async () => {
    const ended = await run('error then SIGKILL');
    expect(ended.signal).toBe('SIGKILL');
    expect(callNumbers(ended.lines)).toEqual([...everyLineInOrder, LINES]);
  });

  it('writes a waiting line on its own within the flush interval, without an exit', async () => {
    // Whatever is left of the last batch waits for the interval; the child is killed only once
    // the last line arrives.
    const lastLine = `"line":"${LINES - 1}"`;
    let poll: NodeJS.Timeout | undefined;
    const ended = await run('stays', (child, stdout) => {
      poll = setInterval(() => {
        if (stdout().includes(lastLine)) child.kill('SIGKILL');
      }, 10);
    });
    clearInterval(poll);
    expect(ended.signal).toBe('SIGKILL');
    expect(callNumbers(ended.lines)).toEqual(everyLineInOrder);
  });
});
