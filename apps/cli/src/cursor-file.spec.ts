import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CursorFile, CursorFileError } from './cursor-file';

describe(CursorFile.name, () => {
  let folder: string;

  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), 'mailgateway-cursor-'))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('starts from the oldest event when the file does not exist yet', () => {
    expect(new CursorFile(join(folder, 'cursor')).load()).toBe('');
  });

  it('gives back the last cursor saved, and leaves no temporary file beside it', () => {
    const path = join(folder, 'cursor');
    const sut = new CursorFile(path);

    sut.save('first');
    sut.save('second');

    expect(new CursorFile(path).load()).toBe('second');
    expect(readFileSync(path, 'utf8')).toBe('second\n');
    expect(readdirSync(folder)).toEqual(['cursor']);
  });

  it('refuses a path in a folder that does not exist, naming the flag', () => {
    const sut = new CursorFile(join(folder, 'missing', 'cursor'));

    expect(() => sut.load()).toThrow(CursorFileError);
    expect(() => sut.load()).toThrow(
      `--cursor-file: cannot use ${join(folder, 'missing', 'cursor')} (ENOENT)`,
    );
  });
});
